//! The git layer: the one place that runs git and knows git's output formats.
//!
//! Owns the one way to build a git command ([`command`], [`in_dir`], [`in_repo`]: running
//! `git` anywhere else is a lint error, see `clippy.toml`), the typed handles on a repository
//! ([`repo::Repo`]) and on a worktree ([`WorktreeDir`]: HEAD, git directory, operation in
//! progress, status), the parsers of git's machine-readable output (`status --porcelain=v2
//! -z`, `worktree list --porcelain -z`, one each) and the typed values they produce, so the
//! rest of the library reads entries and fields instead of splitting strings.
//!
//! It reads session records (what a session changed, `changes.rs`) and takes the store's
//! worktree lock around git's own worktree commands (git races with itself), but never
//! writes a record, never runs an agent and never touches the terminal. In the one-way flow
//! (README, "Architecture") it sits above the model (`session`) and the store (`state`) and
//! below everything else: nothing here imports the agents' machinery, `ops`, `commands` or
//! `cli`, and nothing here prints. Parsers are pure functions of git's output.

pub mod bundle;
pub mod changes;
pub mod command;
pub mod hooks;
pub mod link;
pub mod merging;
pub mod refs;
pub mod repo;
pub mod status;
pub mod worktree;
pub mod worktree_dir;
pub mod worktrees;

pub use command::{command, in_dir, in_repo};
pub use status::StatusEntry;
pub use worktree_dir::{Head, StatusOptions, WorktreeDir};
pub use worktrees::Worktree;
