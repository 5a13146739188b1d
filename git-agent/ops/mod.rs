//! Domain operations: what the commands (and the suite's other binaries) ask the library to
//! do. Each takes what it works on (the repository, the state directory, a session) and
//! returns a typed result for the caller to render:
//! - `create/`: `new` as plan → create → start; `include.rs` (ignored files brought into a
//!   new worktree) and `take.rs` (`--take-changes`) prepare its worktrees;
//! - `stop.rs`, `send.rs` (follow-ups and review rounds), `remove.rs` (`rm`, `clean`, and
//!   `merge` once the work landed), `verify.rs` (the project's tests in a worktree);
//! - `doctor/`: one file per group of checks; `plugins.rs`: `git-agent-*` plugins;
//! - `plan/`: plan files (a task graph): format, validation, waves;
//! - `ask.rs`: an agent asked a question in its read-only mode (`plan draft`, `review --ai`);
//!   `ai_review/` (`review --ai`) and `result.rs` (a session's result as one tree, its diffs).
//!
//! Below the commands in the one-way flow (binaries → cli → commands → ops → model/store, git
//! layer → process wrapper): nothing here prints or prompts (text a caller may print is
//! returned, and a decision that needs the user is a closure passed in), and nothing here
//! imports `commands` or `cli` (`tests/it/architecture.rs` fails on it).

pub mod ai_judge;
pub mod ai_review;
pub mod ask;
pub mod create;
pub mod doctor;
pub mod foreground;
pub mod fork;
pub mod include;
pub mod plan;
pub mod plugins;
pub mod remove;
pub mod result;
pub mod send;
pub mod stop;
pub mod take;
pub mod verify;
