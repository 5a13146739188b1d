//! Doctor's checks of worktrees no record explains: directories in git-agent's folder that
//! git does not know, prunable entries there, and entries of `<common>/worktrees/` a killed
//! `git worktree add` left half made.
//!
//! Owns only entries and directories of ours (in our folder, marked, or named after a
//! session); never a repository-wide `git worktree prune`, never another tool's worktree.
//! Never prints.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::locks::git_busy_in;
use super::{Finding, LEFT_BEHIND, Options, Registered, age, attempt, same};
use crate::git::repo::Repo;
use crate::session::Session;
use crate::state::StateDir;

/// A directory of ours that git does not know as a worktree.
pub(super) fn unknown_dir(repo: &Repo, name: &str, dir: &Path, opts: &Options) -> Result<Finding> {
    let mut f = Finding::new(
        "unknown-worktree",
        Some(name),
        format!("{name}: git no longer knows its worktree {}", dir.display()),
    );
    let gitdir = std::fs::read_to_string(dir.join(".git"))
        .ok()
        .and_then(|t| t.strip_prefix("gitdir:").map(|p| PathBuf::from(p.trim())));
    if gitdir.as_ref().is_some_and(|g| g.is_dir()) {
        f.fix = Some(format!("git worktree repair {}", dir.display()));
        if opts.fix {
            crate::git::repo::serialized(
                repo.common_dir(),
                repo.git().args(["worktree", "repair"]).arg(dir),
            )?;
            f.fixed = true;
        }
    } else {
        f.what.push_str(
            "; its files are untouched, but git cannot take it back: copy what you need out of it",
        );
    }
    Ok(f)
}

/// Directories in our worktree folder, and prunable entries there, that no record claims.
pub(super) fn check_unknown_worktrees(
    repo: &Repo,
    sessions: &[Session],
    worktrees: &[Registered],
    opts: &Options,
    findings: &mut Vec<Finding>,
) -> Result<()> {
    let Ok(root) = repo.worktrees_root(&repo.config()) else {
        return Ok(());
    };
    let claimed = |p: &Path| sessions.iter().any(|s| same(&s.worktree, p));
    if let Ok(entries) = std::fs::read_dir(&root) {
        for entry in entries.flatten() {
            let dir = entry.path();
            if !dir.join(".git").is_file() || claimed(&dir) {
                continue;
            }
            if worktrees.iter().any(|w| same(&w.path, &dir)) {
                let mut f = Finding::new(
                    "unknown-worktree",
                    None,
                    format!(
                        "{} is a worktree in git-agent's folder without a session record",
                        dir.display()
                    ),
                );
                f.info = true;
                findings.push(f);
            } else {
                let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
                let mut f = unknown_dir(repo, name.as_deref().unwrap_or("?"), &dir, opts)?;
                f.session = None;
                findings.push(f);
            }
        }
    }
    for w in worktrees {
        if w.prunable && w.path.starts_with(&root) && !claimed(&w.path) {
            let mut f = Finding::new(
                "prunable",
                None,
                format!("git still lists {}, which is gone", w.path.display()),
            );
            f.fix = Some(format!(
                "git worktree remove {} (that entry only)",
                w.path.display()
            ));
            if opts.fix {
                crate::git::worktree::remove(repo.common_dir(), &w.path)?;
                f.fixed = true;
            }
            findings.push(f);
        }
    }
    Ok(())
}

/// Entries of `<common>/worktrees/` that a killed `git worktree add` left half made (no
/// `commondir`, `gitdir` or `HEAD`): git dies on them ("failed to read …/commondir"). One of
/// ours (named after a session, marked, or pointing into our worktrees folder) is removed by
/// `--fix`, that entry only (never `git worktree prune`), with the checkout folder git had
/// just made for it if that holds nothing but its `.git` file. True if one is left.
pub(super) fn check_half_made_entries(
    repo: &Repo,
    state: &StateDir,
    opts: &Options,
    findings: &mut Vec<Finding>,
) -> Result<bool> {
    let Ok(entries) = std::fs::read_dir(repo.common_dir().join("worktrees")) else {
        return Ok(false);
    };
    let half: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|a| a.is_dir())
        .filter(|a| {
            ["commondir", "gitdir", "HEAD"]
                .iter()
                .any(|f| !a.join(f).is_file())
        })
        .collect();
    if half.is_empty() {
        return Ok(false);
    }
    let mut names: Vec<String> = state
        .load_all()?
        .sessions
        .into_iter()
        .map(|s| s.name)
        .collect();
    names.extend(state.load_archive()?.into_iter().map(|s| s.name));
    let root = repo.worktrees_root(&repo.config()).ok();
    let mut left = false;
    for admin in half {
        let id = admin
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let checkout = std::fs::read_to_string(admin.join("gitdir"))
            .ok()
            .and_then(|g| Path::new(g.trim()).parent().map(Path::to_owned));
        // git names the entry after the checkout's folder, adding a number if taken.
        let ours = crate::git::worktree::marked_for(&admin).is_some()
            || names.iter().any(|n| {
                *n == id
                    || id
                        .strip_prefix(n.as_str())
                        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            })
            || checkout
                .as_ref()
                .zip(root.as_ref())
                .is_some_and(|(c, r)| c.starts_with(r));
        let mut f = Finding::new(
            "half-made-worktree",
            None,
            format!(
                "{} is a worktree entry a killed 'git worktree add' left half made (git fails on it)",
                admin.display()
            ),
        );
        if !ours {
            f.what.push_str(&format!(
                "; git-agent did not make it: if no 'git worktree add' is running, remove that folder yourself (rm -r {})",
                admin.display()
            ));
            left = true;
            findings.push(f);
            continue;
        }
        f.fix = Some(format!("remove {} (that entry only)", admin.display()));
        let busy = age(&admin) < LEFT_BEHIND || git_busy_in(&[repo.common_dir().to_owned()]);
        if busy {
            f.what
                .push_str("; a git may still be making it: try again in a moment");
            left = true;
        } else if opts.fix {
            attempt(&mut f, || {
                // Serialized with our own `git worktree add`s.
                let _serialized = state.worktree_lock()?;
                std::fs::remove_dir_all(&admin)?;
                if let Some(c) = &checkout {
                    let only_dot_git = std::fs::read_dir(c)
                        .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
                        .is_ok_and(|n| n.len() == 1 && n[0] == ".git");
                    let points_here = std::fs::read_to_string(c.join(".git")).is_ok_and(|t| {
                        t.trim()
                            .strip_prefix("gitdir:")
                            .is_some_and(|g| same(Path::new(g.trim()), &admin))
                    });
                    if only_dot_git && points_here {
                        std::fs::remove_file(c.join(".git"))?;
                        std::fs::remove_dir(c)?;
                    }
                }
                Ok(())
            });
            left |= !f.fixed;
        } else {
            left = true;
        }
        findings.push(f);
    }
    Ok(left)
}
