//! `git agent new --take-changes`: moving a checkout's uncommitted work into new worktrees.
//!
//! The move is transactional and never uses `git stash` (stashes are shared by every
//! worktree):
//! 1. [`snapshot`] the source: the staged and unstaged changes as binary patches, the
//!    untracked (not ignored) files with their content hashes, and a backup commit from
//!    `git stash create` (which writes an object and touches no ref);
//! 2. [`apply`] it in each new worktree (created at the same HEAD commit) and
//!    [`verify`] that the worktree now holds exactly the same changes;
//! 3. only then [`clean_source`]: if the source still matches the snapshot (the same HEAD
//!    on the same branch, the same changes), its tracked changes are reset and each moved
//!    untracked file is removed if its bytes still match.
//!
//! Any failure before step 3 leaves the source untouched. The reset never moves a ref: a
//! commit made while `new` ran (HEAD moved) makes step 3 leave the source alone, and the
//! reset itself only rewrites the index and files to the snapshot's tree (`read-tree
//! --reset -u`), so even a commit racing it cannot be taken off its branch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use sha2::Digest as _;

use crate::error::Failure;
use crate::process::Cmd;

/// A checkout's uncommitted changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub source: PathBuf,
    pub head: String,
    /// The branch HEAD was on (`refs/heads/…`); `None` when detached.
    branch: Option<String>,
    staged: Vec<u8>,
    unstaged: Vec<u8>,
    /// Untracked files (relative path -> SHA-256 of content).
    untracked: BTreeMap<String, String>,
    /// Tracked paths with staged or unstaged changes (`git diff --name-only -z`), sorted.
    changed: Vec<String>,
    /// Backup commit of index and tracked changes (`git stash create`).
    pub backup: Option<String>,
}

impl Snapshot {
    /// Nothing to move.
    pub fn is_empty(&self) -> bool {
        self.staged.is_empty() && self.unstaged.is_empty() && self.untracked.is_empty()
    }

    /// Every path that moves.
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = (self.changed.iter())
            .chain(self.untracked.keys())
            .cloned()
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }
}

fn git(dir: &Path) -> Cmd {
    // Patches must not depend on the user's diff settings.
    Cmd::git_in(dir).args([
        "-c",
        "diff.noprefix=false",
        "-c",
        "diff.mnemonicPrefix=false",
        "-c",
        "core.quotePath=false",
    ])
}

fn diff(dir: &Path, cached: bool) -> Result<Vec<u8>> {
    let mut cmd = git(dir).args([
        "diff",
        "--binary",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--full-index",
    ]);
    if cached {
        cmd = cmd.arg("--cached");
    }
    let out = cmd.output()?;
    if !out.status.success() {
        anyhow::bail!(
            "git diff failed in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// The paths [`diff`] would name (for a rename, the new one), read with `-z` rather than out
/// of the patch's `diff --git a/… b/…` headers, which are ambiguous for a path holding " b/"
/// and quoted for one holding a newline.
fn diff_names(dir: &Path, cached: bool) -> Result<Vec<String>> {
    let mut cmd = git(dir).args([
        "diff",
        "--name-only",
        "-z",
        "--no-ext-diff",
        "--no-textconv",
    ]);
    if cached {
        cmd = cmd.arg("--cached");
    }
    Ok(cmd
        .run()?
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect())
}

fn hash_file(path: &Path) -> Result<String> {
    let meta = std::fs::symlink_metadata(path)?;
    let bytes = if meta.file_type().is_symlink() {
        std::fs::read_link(path)?
            .into_os_string()
            .into_encoded_bytes()
    } else {
        std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?
    };
    let mut h = sha2::Sha256::new();
    h.update(&bytes);
    // The executable bit is part of the content a commit records.
    use std::os::unix::fs::PermissionsExt as _;
    h.update([u8::from(meta.permissions().mode() & 0o111 != 0)]);
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn untracked(dir: &Path) -> Result<BTreeMap<String, String>> {
    let out = git(dir)
        .args(["ls-files", "-z", "--others", "--exclude-standard"])
        .run()?;
    out.split('\0')
        .filter(|p| !p.is_empty())
        .map(|p| Ok((p.to_owned(), hash_file(&dir.join(p))?)))
        .collect()
}

/// The commit HEAD points at, and the branch it is on (`None` when detached).
fn head_of(dir: &Path) -> Result<(String, Option<String>)> {
    let head = git(dir)
        .args(["rev-parse", "--verify", "HEAD"])
        .run()?
        .trim()
        .to_owned();
    // Exit 1 (no output) when HEAD is detached.
    let out = git(dir).args(["symbolic-ref", "-q", "HEAD"]).output()?;
    let branch = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok((head, (!branch.is_empty()).then_some(branch)))
}

/// Records the uncommitted changes of `source`.
pub fn snapshot(source: &Path) -> Result<Snapshot> {
    let status = git(source)
        .args(["--no-optional-locks", "status", "--porcelain=v2", "-z"])
        .run()?;
    if crate::git::status::parse(&status)
        .iter()
        .any(crate::git::StatusEntry::is_unmerged)
    {
        return Err(
            Failure::fatal("the current checkout has unmerged paths; nothing was moved")
                .hint("resolve the conflicts first, then run git agent new --take-changes again")
                .into(),
        );
    }
    let (head, branch) = head_of(source)?;
    let staged = diff(source, true)?;
    let unstaged = diff(source, false)?;
    let untracked = untracked(source)?;
    let mut changed = diff_names(source, true)?;
    changed.extend(diff_names(source, false)?);
    changed.sort();
    changed.dedup();
    let backup = if staged.is_empty() && unstaged.is_empty() {
        None
    } else {
        // Writes a commit object only; refs/stash, shared by all worktrees, is not touched.
        Some(
            git(source)
                .args(["stash", "create"])
                .run()?
                .trim()
                .to_owned(),
        )
        .filter(|s| !s.is_empty())
    };
    Ok(Snapshot {
        source: source.to_owned(),
        head,
        branch,
        staged,
        unstaged,
        untracked,
        changed,
        backup,
    })
}

/// Puts the snapshot's changes into `dest`, a fresh worktree at the snapshot's HEAD.
pub fn apply(snapshot: &Snapshot, dest: &Path) -> Result<()> {
    let dest_head = git(dest).args(["rev-parse", "HEAD"]).run()?;
    if dest_head.trim() != snapshot.head {
        anyhow::bail!("the new worktree is not at the source's HEAD");
    }
    if !snapshot.staged.is_empty() {
        git(dest)
            .args(["apply", "--index", "--binary", "--whitespace=nowarn", "-"])
            .run_with_input(&snapshot.staged)
            .context("could not apply the staged changes in the new worktree")?;
    }
    if !snapshot.unstaged.is_empty() {
        git(dest)
            .args(["apply", "--binary", "--whitespace=nowarn", "-"])
            .run_with_input(&snapshot.unstaged)
            .context("could not apply the unstaged changes in the new worktree")?;
    }
    for rel in snapshot.untracked.keys() {
        let target = dest.join(rel);
        if target.symlink_metadata().is_ok() {
            anyhow::bail!("{rel} already exists in the new worktree");
        }
        crate::ops::include::copy_tree(&snapshot.source.join(rel), &target)
            .with_context(|| format!("could not copy {rel} into the new worktree"))?;
    }
    Ok(())
}

/// Checks that `dir` holds exactly the snapshot's changes.
pub fn verify(snapshot: &Snapshot, dir: &Path) -> Result<()> {
    let differs = |what: &str| -> anyhow::Error {
        Failure::fatal(format!(
            "{} does not hold the same {what} as the snapshot",
            dir.display()
        ))
        .into()
    };
    if diff(dir, true)? != snapshot.staged {
        return Err(differs("staged changes"));
    }
    if diff(dir, false)? != snapshot.unstaged {
        return Err(differs("unstaged changes"));
    }
    if untracked(dir)? != snapshot.untracked {
        return Err(differs("untracked files"));
    }
    Ok(())
}

/// What [`clean_source`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleaned {
    /// The moved changes are gone from the source.
    Yes,
    /// The source's changes differ from the snapshot: left as it is.
    Changed,
    /// HEAD moved (a commit, a checkout) since the snapshot: left as it is. `now` is where
    /// HEAD is, with its branch.
    HeadMoved { now: String, branch: Option<String> },
}

/// Removes the moved changes from the source, if it still matches the snapshot: the same
/// HEAD commit on the same branch, and the same changes. Otherwise touches nothing.
pub fn clean_source(snapshot: &Snapshot) -> Result<Cleaned> {
    let source = &snapshot.source;
    let (now, branch) = head_of(source)?;
    if now != snapshot.head || branch != snapshot.branch {
        return Ok(Cleaned::HeadMoved { now, branch });
    }
    if verify(snapshot, source).is_err() {
        return Ok(Cleaned::Changed);
    }
    if !snapshot.staged.is_empty() || !snapshot.unstaged.is_empty() {
        // Only tracked paths are reset, to the tree of the HEAD just read; the state was
        // verified identical to the snapshot a moment ago, and the backup commit holds it
        // too. Unlike `reset --hard`, this never moves a ref: a commit made in between stays
        // on its branch (its changes would then show as uncommitted reversals, not be lost).
        git(source)
            .args(["read-tree", "--reset", "-u", &snapshot.head])
            .run()?;
    }
    for (rel, hash) in &snapshot.untracked {
        let path = source.join(rel);
        if hash_file(&path).ok().as_deref() == Some(hash.as_str()) {
            if path.symlink_metadata()?.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::remove_file(&path)?;
            }
            remove_empty_parents(source, &path);
        }
    }
    Ok(Cleaned::Yes)
}

/// Removes directories left empty by moving files out, up to (not including) `root`.
fn remove_empty_parents(root: &Path, path: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == root || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// git in `dir`, away from the user's and the system's config.
    fn git_at(dir: &Path, args: &[&str]) {
        Cmd::git_in(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(["-c", "user.name=t", "-c", "user.email=t@localhost"])
            .args(args)
            .run()
            .unwrap();
    }

    #[test]
    fn paths_holding_b_slash_or_a_newline_are_named_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git_at(dir, &["init", "-q"]);
        for (name, text) in [
            ("x b/y.txt", "1\n"),
            ("dir b/f.txt", "1\n"),
            ("new\nline", "1\n"),
        ] {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        git_at(dir, &["add", "-A"]);
        git_at(dir, &["commit", "-q", "-m", "files"]);
        std::fs::write(dir.join("x b/y.txt"), "staged\n").unwrap();
        git_at(dir, &["add", "x b/y.txt"]);
        std::fs::write(dir.join("dir b/f.txt"), "unstaged\n").unwrap();
        std::fs::write(dir.join("new\nline"), "unstaged\n").unwrap();
        std::fs::write(dir.join("a b c.txt"), "untracked\n").unwrap();

        let snap = snapshot(dir).unwrap();
        assert_eq!(
            snap.paths(),
            ["a b c.txt", "dir b/f.txt", "new\nline", "x b/y.txt"]
        );
    }
}
