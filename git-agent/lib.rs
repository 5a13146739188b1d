//! `git agent`: run several AI coding agents at once, each in its own git worktree and
//! branch, and bring their work back without losing any of it.
//!
//! The library holds everything the `git-agent*` binaries share. It never prints: commands
//! take writers ([`commands::Ctx`]) and the binaries own the terminal. Below `commands` and
//! `cli`, [`ops`] and the other modules return what happened for the commands to render, and
//! never import `commands` or `cli` (README, "Architecture").

#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod agents;
pub mod cache;
pub mod changes;
pub mod cli;
pub mod commands;
pub mod commit;
pub mod error;
/// The agent output parsers' old path, kept so `crate::events::…` still works.
pub use agents::output as events;
pub mod faults;
pub mod git;
pub mod include;
pub mod merging;
pub mod names;
pub mod ops;
pub mod ports;
pub mod process;
pub mod procs;
pub mod project;
pub mod remove;
pub mod repo;
pub mod rounds;
pub mod runner;
pub mod sandbox;
pub mod session;
pub mod state;
pub mod status;
pub mod supervisor;
pub mod take;
pub mod time;
pub mod ui;
pub mod verify;
pub mod worktree;
