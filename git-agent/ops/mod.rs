//! Domain operations: what the commands (and the suite's other binaries) ask the library to
//! do — stop a session, deliver a follow-up, find a plugin. Each takes what it works on (the
//! repository, the state directory, a session) and returns a typed result for the caller to
//! render.
//!
//! Below the commands in the one-way flow (binaries → cli → commands → ops → model/store, git
//! layer → process wrapper): nothing here prints or prompts (text a caller may print is
//! returned, and a decision that needs the user is a closure passed in), and nothing here
//! imports `commands` or `cli` (`tests/it/architecture.rs` fails on it).

pub mod create;
pub mod doctor;
pub mod foreground;
pub mod plugins;
pub mod send;
pub mod stop;
