//! `git agent`: run several AI coding agents at once, each in its own git worktree and
//! branch, and bring their work back without losing any of it.
//!
//! The library holds everything the `git-agent*` binaries share. It never prints: commands
//! take writers ([`commands::Ctx`]) and the binaries own the terminal. Below `commands` and
//! `cli`, [`ops`] and the other modules return what happened for the commands to render, and
//! never import `commands` or `cli` (README, "Architecture").

#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod agents;
pub mod cli;
pub mod commands;
pub mod commit;
pub mod error;
pub mod faults;
pub mod git;
pub mod globs;
pub mod names;
pub mod notify;
pub mod ops;
pub mod process;
pub mod procs;
pub mod project;
pub mod runner;
pub mod sandbox;
pub mod session;
pub mod state;
pub mod supervisor;
pub mod time;
pub mod ui;
