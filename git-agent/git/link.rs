//! Whether a session's worktree is still linked to the repository the way git made it, found
//! from the repository's side (files the agent cannot write) and never from the worktree's
//! own `.git` file. Everything here only reads files (and the repository's own config): it
//! never runs git in a worktree, never writes, never prints.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::Failure;

/// The admin folder (`<common>/worktrees/<id>`) of `worktree`, found from the common dir's
/// side (each admin folder's `gitdir` names its worktree), never from the worktree's own
/// `.git` file, which the agent can rewrite. `None` unless exactly one matches. Works when the
/// checkout is gone, too (the `gitdir` file still names where it was): the one way the suite
/// finds a worktree's admin folder.
pub fn admin_dir(common_dir: &Path, worktree: &Path) -> Option<PathBuf> {
    let want = canonical(&worktree.join(".git"));
    let mut found = std::fs::read_dir(common_dir.join("worktrees"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|admin| {
            std::fs::read_to_string(admin.join("gitdir"))
                .is_ok_and(|g| canonical(Path::new(g.trim())) == want)
        });
    let first = found.next()?;
    found.next().is_none().then(|| canonical(&first))
}

/// Checks that `worktree` is still linked to the repository the way git made it: its `.git`
/// is a file naming its admin folder (found from the common dir's side), and that folder's
/// `commondir` leads back to `common_dir`. An agent can rewrite both (they are in places it
/// may write); a forged link would make our git commands in its worktree read a repository,
/// config and hooks of its making, outside its sandbox. `Err` says what is wrong.
pub fn check_link(common_dir: &Path, worktree: &Path) -> std::result::Result<(), String> {
    let dot_git = worktree.join(".git");
    let meta = std::fs::symlink_metadata(&dot_git)
        .map_err(|e| format!("{} cannot be read: {e}", dot_git.display()))?;
    if !meta.is_file() {
        return Err(format!(
            "{} is no longer git's link file",
            dot_git.display()
        ));
    }
    let Some(admin) = admin_dir(common_dir, worktree) else {
        return Err(format!(
            "no admin folder under {} belongs to {}",
            common_dir.join("worktrees").display(),
            worktree.display()
        ));
    };
    let text = std::fs::read_to_string(&dot_git).unwrap_or_default();
    let named = text.trim_end().strip_prefix("gitdir: ").map(|p| {
        let p = Path::new(p);
        canonical(&if p.is_absolute() {
            p.to_owned()
        } else {
            worktree.join(p)
        })
    });
    if named.as_ref() != Some(&admin) {
        return Err(format!(
            "{} no longer points at {}",
            dot_git.display(),
            admin.display()
        ));
    }
    let common = std::fs::read_to_string(admin.join("commondir")).unwrap_or_default();
    let common = Path::new(common.trim_end());
    let common = canonical(&if common.is_absolute() {
        common.to_owned()
    } else {
        admin.join(common)
    });
    if common != canonical(common_dir) {
        return Err(format!(
            "{} no longer leads to {}",
            admin.join("commondir").display(),
            common_dir.display()
        ));
    }
    // Git writes through a symlink here (a reflog is appended to, `logs/HEAD` created):
    // one the agent left would have our git write outside its sandbox.
    if let Some(link) = symlink_beneath(&admin) {
        return Err(format!("{} is a symlink", link.display()));
    }
    // With `extensions.worktreeConfig` (which `git sparse-checkout` turns on), git reads the
    // admin folder's `config.worktree`: a file the agent can write, naming commands git runs.
    let per_worktree = admin.join("config.worktree");
    if per_worktree.exists() && worktree_config_on(common_dir) {
        return Err(format!(
            "{} exists, and this repository reads it (extensions.worktreeConfig): its agent could have written it",
            per_worktree.display()
        ));
    }
    Ok(())
}

/// Checks that no symlink is among the refs and reflogs of `branch`'s folder (and its
/// neighbours there: an agent may write that whole folder): git appends a reflog line through
/// a symlink, so moving the branch would write wherever the agent pointed it.
pub fn check_branch_files(common_dir: &Path, branch: &str) -> std::result::Result<(), String> {
    let Some(folder) = Path::new(branch)
        .parent()
        .filter(|f| !f.as_os_str().is_empty())
    else {
        return Ok(());
    };
    for base in ["refs/heads", "logs/refs/heads"] {
        let mut path = common_dir.join(base);
        for part in folder.components() {
            path.push(part);
            if path.is_symlink() {
                return Err(format!("{} is a symlink", path.display()));
            }
        }
        if let Some(link) = symlink_beneath(&path) {
            return Err(format!("{} is a symlink", link.display()));
        }
    }
    Ok(())
}

/// The first symlink found in `dir` or beneath it (none followed).
fn symlink_beneath(dir: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() {
            return Some(entry.path());
        }
        if kind.is_dir()
            && let Some(found) = symlink_beneath(&entry.path())
        {
            return Some(found);
        }
    }
    None
}

/// Refuses to go on with a session whose worktree's git link was rewritten ([`check_link`]):
/// every command that runs git in a session's worktree after its agent ran asks this first,
/// so that no git of ours reads a repository, config, filters or hooks the agent made. The
/// repository is found from the session's main worktree, which the agent cannot write.
pub fn guard(s: &crate::session::Session) -> Result<()> {
    if !s.worktree.is_dir() {
        return Ok(());
    }
    let Some(common) = common_dir_of_main(&s.repo) else {
        return Ok(());
    };
    check_link(&common, &s.worktree)
        .and_then(|()| check_branch_files(&common, &s.branch))
        .map_err(|why| {
        Failure::fatal(format!(
            "the worktree of '{}' is no longer linked to this repository the way git made it: {why}",
            s.name
        ))
        .hint("its agent may have rewritten it; git-agent runs nothing there until it is repaired")
        .hint(match why.strip_suffix(" is a symlink") {
            // git would write through it; `worktree repair` leaves it where it is.
            Some(link) => format!(
                "a symlink git would write through: see where it points ('ls -l {link}'), then remove it ('rm {link}')"
            ),
            None => format!(
                "look at {0} yourself; 'git worktree repair {0}' puts git's link back (a config.worktree you remove by hand)",
                s.worktree.display()
            ),
        })
        .into()
    })
}

/// The common dir of the repository whose main worktree (or bare git dir) is `main`, read
/// from files only.
pub fn common_dir_of_main(main: &Path) -> Option<PathBuf> {
    let dot = main.join(".git");
    let git_dir = if dot.is_dir() {
        dot
    } else if dot.is_file() {
        let text = std::fs::read_to_string(&dot).ok()?;
        let p = Path::new(text.trim_end().strip_prefix("gitdir: ")?);
        if p.is_absolute() {
            p.to_owned()
        } else {
            main.join(p)
        }
    } else if main.join("HEAD").is_file() && main.join("objects").is_dir() {
        main.to_owned()
    } else {
        return None;
    };
    let common = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(c) if Path::new(c.trim_end()).is_absolute() => PathBuf::from(c.trim_end()),
        Ok(c) => git_dir.join(c.trim_end()),
        Err(_) => git_dir,
    };
    Some(canonical(&common))
}

/// True if the repository's own config turns on `extensions.worktreeConfig`.
fn worktree_config_on(common_dir: &Path) -> bool {
    crate::git::command()
        .arg("config")
        .arg("--file")
        .arg(common_dir.join("config"))
        .args(["--type=bool", "--get", "extensions.worktreeConfig"])
        .run()
        .is_ok_and(|v| v.trim() == "true")
}

/// `path` with symlinks resolved, or as given if it cannot be (it may not exist yet).
pub fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}
