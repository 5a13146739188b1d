//! The diff stat beside the selected session's log: what its branch changed since its base,
//! file by file with its lines (read in-process, [`changes::committed_files`]), and what is
//! still uncommitted in its worktree (its status letters).
//!
//! Invariants: the worktree is looked at only after [`crate::git::link::guard`] says its git
//! link is ours, and only through `git --no-optional-locks status` (never `index.lock`, so
//! never in the agent's way); the stat is read again when the selection changes and when the
//! records are reloaded ([`super::model::RELOAD`] at the latest), never on a draw.

use crate::git::changes::{self, FileStat};
use crate::git::repo::Repo;
use crate::session::Session;

/// The diff stat of one session.
pub struct DiffStat {
    pub name: String,
    /// On its branch since its base.
    pub files: Vec<FileStat>,
    /// Uncommitted in its worktree: status letters (`??`, ` M`…) and path.
    pub uncommitted: Vec<(String, String)>,
    /// Its worktree is gone (nothing uncommitted can be shown).
    pub worktree_missing: bool,
    /// Why it could not be read, if it could not.
    pub error: Option<String>,
}

impl DiffStat {
    pub fn read(repo: &Repo, session: &Session) -> Self {
        let mut stat = Self {
            name: session.name.clone(),
            files: Vec::new(),
            uncommitted: Vec::new(),
            worktree_missing: !session.worktree.is_dir(),
            error: None,
        };
        match changes::committed_files(repo, session) {
            Ok(files) => stat.files = files,
            Err(err) => stat.error = Some(crate::error::Report::from_error(&err).message),
        }
        if !stat.worktree_missing {
            let status = crate::git::link::guard(session)
                .and_then(|()| changes::status(&session.worktree, &session.left_out()));
            match status {
                Ok(entries) => {
                    stat.uncommitted = entries
                        .iter()
                        .filter(|e| !e.is_ignored())
                        .map(|e| (e.xy().to_owned(), e.path().to_owned()))
                        .collect();
                }
                Err(err) => {
                    stat.error
                        .get_or_insert_with(|| crate::error::Report::from_error(&err).message);
                }
            }
        }
        stat
    }

    /// `3 files +40 -2, 1 uncommitted` (as `list`'s CHANGES words it).
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.files.is_empty() {
            let (plus, minus) = self.totals();
            let noun = if self.files.len() == 1 {
                "file"
            } else {
                "files"
            };
            parts.push(format!("{} {noun} +{plus} -{minus}", self.files.len()));
        }
        if !self.uncommitted.is_empty() {
            parts.push(format!("{} uncommitted", self.uncommitted.len()));
        }
        if self.worktree_missing {
            parts.push("worktree missing".into());
        }
        if parts.is_empty() {
            "no changes".into()
        } else {
            parts.join(", ")
        }
    }

    fn totals(&self) -> (u64, u64) {
        self.files
            .iter()
            .filter_map(|f| f.lines)
            .fold((0, 0), |(p, m), (i, d)| (p + i, m + d))
    }

    /// The pane's lines: each committed file with its counts, then the uncommitted ones with
    /// their status letters.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(err) = &self.error {
            lines.push(format!("error: {err}"));
        }
        for f in &self.files {
            let counts = f
                .lines
                .map_or_else(|| "bin".to_owned(), |(i, d)| format!("+{i} -{d}"));
            lines.push(format!("{counts:>9} {}", f.path));
        }
        if !self.uncommitted.is_empty() {
            lines.push("uncommitted:".into());
            lines.extend(
                self.uncommitted
                    .iter()
                    .map(|(xy, path)| format!("{xy:>9} {path}")),
            );
        }
        lines
    }
}
