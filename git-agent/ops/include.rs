//! Bringing local, ignored files (`.env`, credentials, caches) into a new worktree.
//!
//! `.worktreeinclude` (gitignore syntax, at the repository root) lists what to copy; it is
//! read from the base commit, else from the main worktree. Only files that are **ignored**
//! in the main worktree and match are copied (a tracked `.env.example` never is, nor an
//! untracked file that is not ignored), nested ones included, keeping file modes, with
//! copy-on-write (reflink) where the filesystem allows it. A directory is copied only when a
//! pattern names it (`node_modules/`). `.worktreelink` (same syntax) lists ignored paths to
//! symlink to the main worktree's copy instead. Without a `.worktreeinclude` nothing is
//! copied.
//!
//! Invariants (secrets never leak into a branch):
//! - A path is brought in only if it is ignored **in the new worktree** too, by the rules of
//!   the base commit it is checked out at (`git check-ignore` run there, before anything is
//!   created): a `.env` ignored only by an uncommitted `.gitignore` edit of the main
//!   checkout, or by rules newer than an older `--base`, stays out, and the caller warns.
//! - What was brought in is recorded in the session (`included`, `linked`) and never
//!   committed, counted or landed by git-agent ([`crate::session::Session::left_out`]): a
//!   symlink is not ignored by a `node_modules/` rule, and an agent may edit `.gitignore`.
//! - The links are taken out again just before the worktree is removed ([`unlink`]).
//! - Nothing is created beneath a path git will not look through (a tracked symlink): such a
//!   path cannot be checked, so it is not brought in.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::process::Cmd;
use crate::project::file_at_commit;

/// The include manifest's name.
pub const INCLUDE_FILE: &str = ".worktreeinclude";
/// The link manifest's name.
pub const LINK_FILE: &str = ".worktreelink";

/// What to bring over, relative to the worktree root. Directories end in `/`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub copy: Vec<String>,
    pub link: Vec<String>,
    /// Listed and ignored in the main worktree, but not ignored in the new one: left out.
    pub not_copied: Vec<String>,
    pub not_linked: Vec<String>,
    /// No `.worktreeinclude` was found at all.
    pub no_manifest: bool,
}

/// What [`apply`] brought into the worktree.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Brought {
    pub copied: Vec<String>,
    pub linked: Vec<String>,
}

/// Reads a manifest from the base commit, else from the main worktree.
fn manifest(
    repo: &gix::Repository,
    base: &str,
    source: &Path,
    name: &str,
) -> Result<Option<String>> {
    if let Some(text) = file_at_commit(repo, base, name)? {
        return Ok(Some(text));
    }
    match std::fs::read_to_string(source.join(name)) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("could not read {}", source.join(name).display())),
    }
}

/// The ignored paths in `source` that match the patterns: `git ls-files` with the patterns as
/// an exclude file picks the candidates (untracked only, directories collapsed), and
/// `git check-ignore` keeps those the repository itself ignores.
fn select(source: &Path, patterns: &str) -> Result<Vec<String>> {
    let mut file = tempfile::NamedTempFile::new()?;
    std::io::Write::write_all(&mut file, patterns.as_bytes())?;
    let listed = Cmd::git_in(source)
        .args(["ls-files", "-z", "--others", "--ignored", "--directory"])
        .arg(format!("--exclude-from={}", file.path().display()))
        .run()?;
    if listed.is_empty() {
        return Ok(Vec::new());
    }
    let out = Cmd::git_in(source)
        .args(["check-ignore", "-z", "--stdin"])
        .output_with_input(listed.as_bytes())?;
    // check-ignore exits 1 when nothing is ignored: that is an answer, not a failure.
    if !out.status.success() && out.status.code() != Some(1) {
        anyhow::bail!(
            "git check-ignore failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut paths: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// Splits `paths` into those ignored in the worktree `dir` and those that are not. A path
/// git cannot check (beneath a symlink) counts as not ignored.
fn split_ignored(dir: &Path, paths: Vec<String>) -> Result<(Vec<String>, Vec<String>)> {
    if paths.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut input = paths.join("\0");
    input.push('\0');
    let out = Cmd::git_in(dir)
        .args(["check-ignore", "-z", "--stdin"])
        .output_with_input(input.as_bytes())?;
    let ignored: Vec<String> = match out.status.code() {
        // 1: nothing is ignored, an answer.
        Some(0 | 1) => String::from_utf8_lossy(&out.stdout)
            .split('\0')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
        // One path git refuses (beyond a symlink) fails the whole batch: ask one at a time.
        _ => paths
            .iter()
            .filter(|p| {
                Cmd::git_in(dir)
                    .args(["check-ignore", "-q", "--"])
                    .arg(p.as_str())
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .cloned()
            .collect(),
    };
    Ok(paths.into_iter().partition(|p| ignored.contains(p)))
}

/// Works out what to copy and link from `source` (the main worktree) into `dest`, the new
/// worktree freshly checked out at `base`.
pub fn plan(repo: &gix::Repository, base: &str, source: &Path, dest: &Path) -> Result<Plan> {
    let include = manifest(repo, base, source, INCLUDE_FILE)?;
    let link = manifest(repo, base, source, LINK_FILE)?;
    let mut plan = Plan {
        no_manifest: include.is_none(),
        ..Plan::default()
    };
    if let Some(patterns) = link {
        (plan.link, plan.not_linked) = split_ignored(dest, select(source, &patterns)?)?;
    }
    if let Some(patterns) = include {
        let linked = |p: &str| {
            plan.link
                .iter()
                .chain(&plan.not_linked)
                .any(|l| p == l || (l.ends_with('/') && p.starts_with(l.as_str())))
        };
        let wanted = select(source, &patterns)?
            .into_iter()
            .filter(|p| !linked(p))
            .collect();
        (plan.copy, plan.not_copied) = split_ignored(dest, wanted)?;
    }
    Ok(plan)
}

/// Copies and links the planned paths from `source` into `dest`. Never overwrites what is
/// already there. Returns the paths brought over.
pub fn apply(plan: &Plan, source: &Path, dest: &Path) -> Result<Brought> {
    let mut done = Brought::default();
    for rel in &plan.copy {
        let target = dest.join(rel.trim_end_matches('/'));
        if target.symlink_metadata().is_ok() {
            continue;
        }
        copy_tree(&source.join(rel.trim_end_matches('/')), &target)
            .with_context(|| format!("could not copy {rel} into the new worktree"))?;
        done.copied.push(rel.clone());
    }
    for rel in &plan.link {
        let target = dest.join(rel.trim_end_matches('/'));
        if target.symlink_metadata().is_ok() {
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::os::unix::fs::symlink(source.join(rel.trim_end_matches('/')), &target)
            .with_context(|| format!("could not link {rel} into the new worktree"))?;
        done.linked.push(rel.clone());
    }
    Ok(done)
}

/// Takes out the symlinks `.worktreelink` made in a session's worktree (only paths that are
/// still symlinks), just before the worktree is removed: a symlink is not ignored by a
/// `node_modules/` rule, so git would refuse the removal for an "untracked" file, and
/// removing a link loses nothing (what it points to stays where it is).
pub fn unlink(session: &crate::session::Session) -> Result<()> {
    for rel in &session.linked {
        let path = session.worktree.join(rel.trim_end_matches('/'));
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            std::fs::remove_file(&path)
                .with_context(|| format!("could not remove the link {}", path.display()))?;
        }
    }
    Ok(())
}

/// Copies a file, symlink or directory tree, keeping modes; files are reflinked where the
/// filesystem can.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(from)
        .with_context(|| format!("could not read {}", from.display()))?;
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from)?;
        std::os::unix::fs::symlink(target, to)?;
    } else if meta.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        std::fs::set_permissions(to, meta.permissions())?;
    } else if meta.is_file() {
        reflink_copy::reflink_or_copy(from, to)?;
        // A reflink creates the file with default permissions: a secret stays 0600.
        std::fs::set_permissions(to, meta.permissions())?;
    }
    // Sockets, fifos and devices are not files to copy.
    Ok(())
}

/// True if `path` (relative) exists in `source` and is ignored there: an `.env` left behind
/// for want of a `.worktreeinclude` deserves a hint.
pub fn ignored_env_file(source: &Path) -> Option<PathBuf> {
    [".env", ".env.local"]
        .iter()
        .map(|n| source.join(n))
        .find(|p| {
            p.is_file()
                && Cmd::git_in(source)
                    .args(["check-ignore", "-q", "--"])
                    .arg(p.file_name().unwrap_or_default())
                    .output()
                    .is_ok_and(|o| o.status.success())
        })
}
