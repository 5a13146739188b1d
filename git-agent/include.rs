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
    /// No `.worktreeinclude` was found at all.
    pub no_manifest: bool,
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

/// Works out what to copy and link from `source` (the main worktree) for a new worktree
/// at `base`.
pub fn plan(repo: &gix::Repository, base: &str, source: &Path) -> Result<Plan> {
    let include = manifest(repo, base, source, INCLUDE_FILE)?;
    let link = manifest(repo, base, source, LINK_FILE)?;
    let mut plan = Plan {
        no_manifest: include.is_none(),
        ..Plan::default()
    };
    if let Some(patterns) = link {
        plan.link = select(source, &patterns)?;
    }
    if let Some(patterns) = include {
        let linked = |p: &str| {
            plan.link
                .iter()
                .any(|l| p == l || (l.ends_with('/') && p.starts_with(l.as_str())))
        };
        plan.copy = select(source, &patterns)?
            .into_iter()
            .filter(|p| !linked(p))
            .collect();
    }
    Ok(plan)
}

/// Copies and links the planned paths from `source` into `dest`. Never overwrites what is
/// already there. Returns the paths brought over.
pub fn apply(plan: &Plan, source: &Path, dest: &Path) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for rel in &plan.copy {
        let target = dest.join(rel.trim_end_matches('/'));
        if target.symlink_metadata().is_ok() {
            continue;
        }
        copy_tree(&source.join(rel.trim_end_matches('/')), &target)
            .with_context(|| format!("could not copy {rel} into the new worktree"))?;
        done.push(rel.clone());
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
        done.push(rel.clone());
    }
    Ok(done)
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
