//! One run of the agent and how it ended: [`Run`], [`RunKind`], [`Exit`], [`StopRequest`],
//! [`CommitOutcome`].
//!
//! Plain record data with serde shapes that are part of the JSON schema (change them only
//! additively, as `#[serde(default)]` fields). Must not read or write files or run processes.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::Outcome;
use super::{State, short_id};

/// Why a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunKind {
    /// The task given to `git agent new`.
    New,
    /// A follow-up given with `git agent send`.
    Send,
    /// `git agent resume`: carrying on after an interruption.
    Resume,
    /// Carrying on, automatically, after the agent hit a rate or usage limit.
    Retry,
}

/// One run of the agent in the session's worktree. `new` starts run 1; every `send` adds one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// 1-based.
    pub n: u32,
    pub kind: RunKind,
    /// What this run was asked (for a follow-up that cannot resume: task plus message).
    pub prompt: String,
    /// The exact arguments after the program.
    pub args: Vec<String>,
    /// The agent's own conversation was resumed (rather than started afresh).
    #[serde(default)]
    pub resumed: bool,
    /// Where this run's output starts in the session log.
    #[serde(default)]
    pub log_offset: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// How the run ended (`done`, `failed`, `stopped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<Exit>,
    /// What the agent reported: its session id, result, turns, tokens and cost.
    #[serde(default)]
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitOutcome>,
}

impl Run {
    /// A run about to start.
    pub fn new(n: u32, kind: RunKind, prompt: String, args: Vec<String>, resumed: bool) -> Self {
        Self {
            n,
            kind,
            prompt,
            args,
            resumed,
            log_offset: 0,
            started_at: None,
            ended_at: None,
            state: None,
            reason: None,
            exit: None,
            outcome: Outcome::default(),
            commit: None,
        }
    }
}

/// How the agent process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
}

impl Exit {
    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(sig)) => format!("killed by {}", crate::process::signal_name(sig)),
            (None, None) => "unknown exit".into(),
        }
    }

    /// For the EXIT column: `0`, `1`, `SIGKILL`.
    pub fn short(&self) -> String {
        match (self.code, self.signal) {
            (Some(code), _) => code.to_string(),
            (None, Some(sig)) => crate::process::signal_name(sig),
            (None, None) => "?".into(),
        }
    }
}

/// A stop asked for by `git agent stop`, or by a command that stops the agent on its way
/// (a removal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopRequest {
    pub at: Timestamp,
    /// Seconds between SIGTERM and SIGKILL.
    pub grace_secs: u64,
    /// Why, as the run's end reason, when it was not `git agent stop` that asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl StopRequest {
    /// The end reason of a run stopped by this request.
    pub fn describe(&self) -> String {
        self.reason
            .clone()
            .unwrap_or_else(|| "stopped by 'git agent stop'".to_owned())
    }
}

/// What happened to changes the agent left uncommitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum CommitOutcome {
    /// Leftover changes were committed as `sha`.
    Committed { sha: String },
    /// Nothing was left uncommitted.
    Clean,
    /// `agent.autoCommit=false`: changes stay in the worktree.
    Disabled,
    /// Left alone on purpose (e.g. a rebase in progress); changes stay in the worktree.
    Skipped { reason: String },
    /// Committing failed (e.g. a hook refused); changes stay in the worktree, staged.
    Failed { error: String },
}

impl CommitOutcome {
    pub fn describe(&self) -> String {
        match self {
            Self::Committed { sha } => format!("leftover changes committed as {}", short_id(sha)),
            Self::Clean => "nothing left uncommitted".into(),
            Self::Disabled => "not committed (agent.autoCommit=false)".into(),
            Self::Skipped { reason } => format!("not committed: {reason}"),
            Self::Failed { error } => {
                format!("commit failed, changes left in the worktree: {error}")
            }
        }
    }
}
