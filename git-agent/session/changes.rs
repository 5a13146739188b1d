//! What a session changed, as measured (a snapshot stored at the end of each run, or measured
//! again by `list --full`). Plain record data; measuring it is `crate::git::changes`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What a session changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// Files changed by the branch since the base commit.
    pub files: u64,
    pub insertions: u64,
    pub deletions: u64,
    /// Entries `git status` reports in the worktree (modified, staged, untracked…);
    /// `None` when the worktree is missing.
    pub uncommitted: Option<u64>,
    /// The worktree directory no longer exists.
    pub worktree_missing: bool,
    /// The branch no longer exists.
    pub branch_missing: bool,
    /// The commit the branch points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tip: Option<String>,
    /// When this was measured (a snapshot stored at the end of a run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
    /// The branch moved since this snapshot was taken (set by `list`, never stored).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    /// Commits the branch has that its target lacks, and the other way round (`list --full`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ahead_behind: Option<(u64, u64)>,
}
