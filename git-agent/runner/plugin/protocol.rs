//! The runner plugin protocol, version 1: JSON lines over the plugin's stdin (ours to it) and
//! stdout (its to us). The whole protocol is described for plugin authors in git-agent(1),
//! RUNNER PLUGINS (`crate::cli::manual`); this module is its types.
//!
//! Invariants: every message is one JSON object on one line with a `type`; a side ignores
//! fields it does not know (so a newer peer may add some), and the host ignores message types
//! it does not know. A change that an older peer would misread is a new version.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The version of the protocol this build speaks.
pub const VERSION: u32 = 1;

/// What the host sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ToPlugin {
    /// First: the version the host speaks.
    Hello { version: u32 },
    /// Second: the run to start.
    Start(Box<Start>),
    /// Stop the agent: `TERM` (let it finish, leftovers are committed) or `KILL` (now).
    Signal { signal: &'static str },
    /// After `exited`: hand back the branch as a bundle at the start's `result` path.
    Collect,
}

/// The run to start.
#[derive(Debug, Serialize)]
pub struct Start {
    /// The session's name (unique in the repository).
    pub session: String,
    /// The branch the agent works on, `agent/NAME`; the result bundle must hold
    /// `refs/heads/<branch>`, descending from `tip`.
    pub branch: String,
    /// The commit the session started from.
    pub base: String,
    /// The branch's tip as sent (it may hold the work of earlier runs).
    pub tip: String,
    /// A git bundle (a file on this machine) with `refs/heads/<branch>` at `tip`.
    pub bundle: PathBuf,
    /// The agent's command line; `argv[0]` as resolved on this machine.
    pub argv: Vec<String>,
    /// The agent's whole environment as far as we are concerned: the session's
    /// `GIT_AGENT_*` variables, the profile's own, and the host variables named by
    /// `agent.runner.env`. Never the host's whole environment.
    pub env: BTreeMap<String, String>,
    /// A file to feed to the agent's stdin; `null`: stdin closed.
    pub stdin: Option<PathBuf>,
    /// Where the agent would run on this machine (the session's worktree): a hint for
    /// naming, never a place a plugin should work in.
    pub workdir: PathBuf,
    pub limits: Limits,
    /// Where the plugin writes the result bundle on `collect`.
    pub result: PathBuf,
}

/// Limits the plugin should apply where it can (the host enforces the timeout itself too).
#[derive(Debug, Default, Serialize)]
pub struct Limits {
    pub timeout_secs: Option<u64>,
    /// As in `agent.runner.cpus` (`2`, `0.5`).
    pub cpus: Option<String>,
    /// As in `agent.runner.memory` (`4g`).
    pub memory: Option<String>,
}

/// What the plugin sends.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum FromPlugin {
    /// First: the version the plugin speaks.
    Hello { version: u32 },
    /// The agent runs; `handle` is the plugin's name for the run (a Job, a sandbox id).
    Started { handle: String },
    /// A line the agent printed (without its newline).
    Output { stream: Stream, line: String },
    /// The agent ended (leftovers already committed): its exit code, or the signal that
    /// killed it.
    Exited {
        #[serde(default)]
        code: Option<i32>,
        #[serde(default)]
        signal: Option<i32>,
    },
    /// The answer to `collect`: the bundle written.
    Result { bundle: PathBuf },
    /// The run cannot go on, or `collect` failed; the plugin then waits for its stdin to close.
    Error { message: String },
    /// A type this build does not know (a newer plugin's): ignored.
    #[serde(other)]
    Unknown,
}

/// Which of the agent's streams a line came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One message as the line that carries it (with its newline).
pub fn line(message: &ToPlugin) -> String {
    let mut text = serde_json::to_string(message).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_and_written_as_documented() {
        assert_eq!(
            line(&ToPlugin::Signal { signal: "TERM" }),
            "{\"type\":\"signal\",\"signal\":\"TERM\"}\n"
        );
        assert_eq!(line(&ToPlugin::Collect), "{\"type\":\"collect\"}\n");
        let read = |s: &str| serde_json::from_str::<FromPlugin>(s).unwrap();
        assert_eq!(
            read(r#"{"type":"output","stream":"stderr","line":"x","extra":1}"#),
            FromPlugin::Output {
                stream: Stream::Stderr,
                line: "x".into()
            }
        );
        assert_eq!(
            read(r#"{"type":"exited","signal":9}"#),
            FromPlugin::Exited {
                code: None,
                signal: Some(9)
            }
        );
        assert_eq!(read(r#"{"type":"progress","pct":3}"#), FromPlugin::Unknown);
    }
}
