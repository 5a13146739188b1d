//! The git layer: the one place that knows git's output formats.
//!
//! Owns the parsers of git's machine-readable output (`status --porcelain=v2 -z`,
//! `worktree list --porcelain -z`) and the typed values they produce, so the rest of the
//! library reads entries and fields instead of splitting strings.
//!
//! Must not touch: sessions, the state directory, the terminal. Below everything but the
//! process wrapper in the one-way flow (binaries → cli → commands → ops → model/store, git
//! layer → process wrapper): nothing here imports `commands`, `cli` or `ops`, and nothing here
//! prints. Parsers are pure functions of git's output; callers run git (through
//! [`crate::process::Cmd`]) and hand them what it printed.

pub mod changes;
pub mod hooks;
pub mod link;
pub mod merging;
pub mod repo;
pub mod status;
pub mod worktree;
pub mod worktrees;

pub use status::StatusEntry;
pub use worktrees::Worktree;
