//! `git worktree list --porcelain -z`: one parser, one worktree type.
//!
//! Owns the format (git-worktree(1), "Porcelain Format"): one record per worktree, each a
//! run of NUL-terminated `label[ value]` fields starting with `worktree <path>`, records
//! separated by an empty field. Labels: `HEAD <id>`, `branch <ref>`, `detached`, `bare`,
//! `locked[ <reason>]`, `prunable[ <reason>]`; unknown labels are skipped (newer gits may add
//! some). With `-z`, paths and reasons are neither quoted nor escaped.
//! Must not touch: running git (callers do, serialised by [`crate::git::repo::serialized`]),
//! sessions, the terminal.

use std::path::PathBuf;

/// A worktree git has registered (the main one included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Worktree {
    pub path: PathBuf,
    /// The commit checked out (`None` for a bare repository).
    pub head: Option<String>,
    /// The full ref checked out (`refs/heads/…`); `None` when detached or bare.
    pub branch: Option<String>,
    pub detached: bool,
    pub bare: bool,
    /// `Some` when locked: the reason, empty if none was given.
    pub locked: Option<String>,
    /// `Some` when `git worktree prune` would remove it: the reason, possibly empty.
    pub prunable: Option<String>,
}

impl Worktree {
    /// The local branch checked out, without `refs/heads/`.
    pub fn branch_name(&self) -> Option<&str> {
        self.branch.as_deref()?.strip_prefix("refs/heads/")
    }
}

/// Parses `git worktree list --porcelain -z` output, in git's order (the main worktree first).
pub fn parse(out: &str) -> Vec<Worktree> {
    let mut list = Vec::new();
    let mut cur: Option<Worktree> = None;
    for field in out.split('\0') {
        if let Some(p) = field.strip_prefix("worktree ") {
            list.extend(cur.take());
            cur = Some(Worktree {
                path: PathBuf::from(p),
                ..Worktree::default()
            });
            continue;
        }
        let Some(w) = cur.as_mut() else {
            continue;
        };
        let (label, value) = field.split_once(' ').unwrap_or((field, ""));
        match label {
            "HEAD" => w.head = Some(value.to_owned()),
            "branch" => w.branch = Some(value.to_owned()),
            "detached" => w.detached = true,
            "bare" => w.bare = true,
            "locked" => w.locked = Some(value.to_owned()),
            "prunable" => w.prunable = Some(value.to_owned()),
            _ => {}
        }
    }
    list.extend(cur);
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_record() {
        let out = "worktree /repo\0HEAD aaa\0branch refs/heads/main\0\0\
                   worktree /wt/with space\nand newline\0HEAD bbb\0detached\0locked\0\0\
                   worktree /wt/b\0HEAD ccc\0branch refs/heads/agent/b\0\
                   locked agent b is running\0prunable gitdir file points to non-existent location\0\0\
                   worktree /bare.git\0bare\0future-label x\0\0";
        let list = parse(out);
        assert_eq!(list.len(), 4);
        assert_eq!(
            list[0],
            Worktree {
                path: "/repo".into(),
                head: Some("aaa".into()),
                branch: Some("refs/heads/main".into()),
                ..Worktree::default()
            }
        );
        assert_eq!(list[0].branch_name(), Some("main"));
        assert_eq!(list[1].path, PathBuf::from("/wt/with space\nand newline"));
        assert!(list[1].detached);
        assert_eq!(list[1].branch_name(), None);
        assert_eq!(list[1].locked.as_deref(), Some(""));
        assert_eq!(list[1].prunable, None);
        assert_eq!(list[2].branch_name(), Some("agent/b"));
        assert_eq!(list[2].locked.as_deref(), Some("agent b is running"));
        assert_eq!(
            list[2].prunable.as_deref(),
            Some("gitdir file points to non-existent location")
        );
        assert!(list[3].bare);
        assert_eq!(list[3].head, None);
        assert_eq!(parse(""), []);
    }
}
