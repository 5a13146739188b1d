//! An agent's whole result as one tree, and diffs of it.
//!
//! The result is everything in the session's worktree: committed, staged, unstaged and
//! untracked-but-not-ignored files (not the files the agent leaves, like aider's `.aider*`).
//! It is written as a tree through a **temporary index** (a copy of the worktree's index plus
//! `git add -A`), so the worktree's own index is never touched. It is compared with the
//! merge-base of the session's recorded base branch *as it is now* and the worktree's HEAD, so
//! commits the base gained since do not show. Its reads of the worktree run with
//! `GIT_OPTIONAL_LOCKS=0` (git's switch that stops them refreshing an index as they go), so
//! reviewing never rewrites anything of the agent's, not even stat data.
//!
//! Used by `git agent review` (its diffs, comments and rounds) and `review --ai` (the result a
//! reviewer reads).

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::git::repo::Repo;
use crate::process::Cmd;
use crate::session::Session;

/// A session's result, ready to diff.
#[derive(Debug, Clone, Serialize)]
pub struct Result_ {
    /// The tree of everything in the worktree.
    pub tree: String,
    /// The worktree's HEAD commit (the branch tip when the worktree is gone).
    pub head: String,
    /// The base branch's commit now (the recorded commit if the ref is gone or there was none).
    pub base_now: String,
    /// What the result is compared with.
    pub merge_base: String,
    /// The worktree holds changes beyond its HEAD (staged, unstaged or untracked).
    pub uncommitted: bool,
    /// Something the reader should know (the worktree is gone, the base ref vanished…).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn rev(repo: &Repo, spec: &str) -> Option<String> {
    repo.git()
        .args(["rev-parse", "--verify", "--quiet", "--end-of-options", spec])
        .run()
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Computes a session's result tree and what to compare it with.
pub fn result(repo: &Repo, s: &Session) -> Result<Result_> {
    let mut notes = Vec::new();
    let (tree, head) = if s.worktree.is_dir() {
        worktree_tree(repo, s)?
    } else {
        let head = rev(repo, &format!("refs/heads/{}", s.branch)).with_context(|| {
            format!(
                "the worktree of '{}' is gone and so is its branch {}",
                s.name, s.branch
            )
        })?;
        notes.push(format!(
            "the worktree is gone: only what is committed on {} shows",
            s.branch
        ));
        (
            rev(repo, &format!("{head}^{{tree}}")).context("no tree")?,
            head,
        )
    };
    let base_now = match &s.base.ref_name {
        Some(r) => rev(repo, &format!("{r}^{{commit}}")).unwrap_or_else(|| {
            notes.push(format!(
                "{r} no longer exists: compared with the recorded base commit"
            ));
            s.base.commit.clone()
        }),
        None => s.base.commit.clone(),
    };
    let merge_base = repo
        .git()
        .args(["merge-base", &base_now, &head])
        .run()
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| s.base.commit.clone());
    let uncommitted = rev(repo, &format!("{head}^{{tree}}")).is_some_and(|t| t != tree);
    Ok(Result_ {
        tree,
        head,
        base_now,
        merge_base,
        uncommitted,
        notes,
    })
}

/// The tree of the worktree as it is, through a temporary copy of its index.
fn worktree_tree(repo: &Repo, s: &Session) -> Result<(String, String)> {
    crate::git::link::guard(s)?;
    let wt = &s.worktree;
    let index = crate::git::WorktreeDir::new(wt).git_dir()?.join("index");
    let tmp = tempfile::Builder::new()
        .prefix("review-index-")
        .tempfile_in(repo.state().root())
        .context("could not create a temporary index")?;
    if index.exists() {
        std::fs::copy(&index, tmp.path()).context("could not copy the worktree's index")?;
    } else {
        // An empty file is not an index; remove it so git starts a new one.
        std::fs::remove_file(tmp.path()).ok();
    }
    let with_index = |cmd: Cmd| {
        cmd.env("GIT_INDEX_FILE", tmp.path())
            .env("GIT_OPTIONAL_LOCKS", "0")
    };
    with_index(crate::git::in_dir(wt))
        .args(["add", "-A", "--"])
        .args(crate::git::changes::leaves_pathspecs(&s.left_out()))
        .run()
        .context("could not read the worktree's changes")?;
    let tree = with_index(crate::git::in_dir(wt))
        .arg("write-tree")
        .run()?
        .trim()
        .to_owned();
    let head = crate::git::WorktreeDir::new(wt).head_commit()?;
    Ok((tree, head))
}

/// One changed file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    /// `A`dded, `M`odified, `D`eleted, `R`enamed, `C`opied, `T`ype changed.
    pub status: String,
    pub insertions: u64,
    pub deletions: u64,
    pub binary: bool,
}

/// The files changed between two tree-ishes (renames detected as `git diff` would).
pub fn files(repo: &Repo, from: &str, to: &str, paths: &[String]) -> Result<Vec<FileChange>> {
    let diff = |args: &[&str]| {
        repo.git()
            .args(["diff", "--no-ext-diff", "--no-textconv", "-M", "-z"])
            .args(args)
            .args([from, to, "--"])
            .args(paths)
            .run()
    };
    let status = diff(&["--name-status"])?;
    let numstat = diff(&["--numstat"])?;
    let mut changes = Vec::new();
    let mut fields = status.split('\0').filter(|f| !f.is_empty());
    while let Some(code) = fields.next() {
        let letter = code.chars().next().unwrap_or('M').to_string();
        let (old_path, path) = if matches!(letter.as_str(), "R" | "C") {
            let old = fields.next().unwrap_or_default().to_owned();
            (Some(old), fields.next().unwrap_or_default().to_owned())
        } else {
            (None, fields.next().unwrap_or_default().to_owned())
        };
        changes.push(FileChange {
            path,
            old_path,
            status: letter,
            insertions: 0,
            deletions: 0,
            binary: false,
        });
    }
    // numstat -z: "ADD\tDEL\tPATH\0", or "ADD\tDEL\t\0OLD\0NEW\0" for renames.
    let mut fields = numstat.split('\0');
    while let Some(entry) = fields.next() {
        if entry.is_empty() {
            continue;
        }
        let mut parts = entry.splitn(3, '\t');
        let (add, del, path) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let path = if path.is_empty() {
            fields.next();
            fields.next().unwrap_or_default()
        } else {
            path
        };
        if let Some(c) = changes.iter_mut().find(|c| c.path == path) {
            c.binary = add == "-";
            c.insertions = add.parse().unwrap_or(0);
            c.deletions = del.parse().unwrap_or(0);
        }
    }
    Ok(changes)
}

/// `git diff FROM TO -- PATHS` as a patch to read back (no colours, external diff tools or
/// textconv), with `context` lines around changes (`-U`; else git's, as the user set it).
pub fn patch(
    repo: &Repo,
    from: &str,
    to: &str,
    context: Option<u32>,
    paths: &[String],
) -> Result<String> {
    repo.git()
        .args(["diff", "--no-color", "--no-ext-diff", "--no-textconv"])
        .args(context.map(|n| format!("-U{n}")))
        .args([from, to, "--"])
        .args(paths)
        .run()
}

/// The hunk of `path`'s diff that contains line `line` of the new version, if any.
pub fn hunk_at(repo: &Repo, from: &str, to: &str, path: &str, line: u32) -> Result<Option<String>> {
    let patch = patch(repo, from, to, Some(3), &[path.to_owned()])?;
    let mut current: Option<(u32, u32, Vec<&str>)> = None;
    let mut found = None;
    for l in patch.lines() {
        if l.starts_with("@@ ") {
            if let Some((start, len, lines)) = current.take()
                && line >= start
                && line < start + len.max(1)
            {
                found = Some(lines.join("\n"));
                break;
            }
            let (start, len) = new_range(l).unwrap_or((0, 0));
            current = Some((start, len, vec![l]));
        } else if let Some((_, _, lines)) = &mut current {
            lines.push(l);
        }
    }
    if found.is_none()
        && let Some((start, len, lines)) = current
        && line >= start
        && line < start + len.max(1)
    {
        found = Some(lines.join("\n"));
    }
    Ok(found)
}

/// `(start, length)` of the new side of a hunk header `@@ -a,b +c,d @@`.
pub fn new_range(header: &str) -> Option<(u32, u32)> {
    let plus = header.split_whitespace().find(|w| w.starts_with('+'))?;
    let mut parts = plus[1..].splitn(2, ',');
    let start = parts.next()?.parse().ok()?;
    let len = parts.next().map_or(Some(1), |l| l.parse().ok())?;
    Some((start, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunk_headers() {
        assert_eq!(new_range("@@ -40,6 +40,8 @@ fn login() {"), Some((40, 8)));
        assert_eq!(new_range("@@ -1 +1 @@"), Some((1, 1)));
        assert_eq!(new_range("@@ -0,0 +1,3 @@"), Some((1, 3)));
    }
}
