//! The session's life cycle: the [`State`] enum, as stored in the record and as shown.
//!
//! Owns the states, their names (the kebab-case serde spelling is part of the JSON schema)
//! and their order in `list`. Must not look at processes or files: deriving the state to
//! show is [`super::Session::live_state`]'s job.

use serde::{Deserialize, Serialize};

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Record reserved; worktree and supervisor being set up.
    Starting,
    /// The setup hook runs in the new worktree.
    Setup,
    /// Created and set up, waiting for a free slot (`agent.maxParallel`, `--max-parallel`);
    /// no process runs for it.
    Queued,
    /// The agent runs.
    Running,
    /// The agent asked for input.
    Waiting,
    /// The agent hit a rate or usage limit; its supervisor resumes the agent's conversation
    /// at the retry time.
    RateLimited,
    /// The agent exited 0.
    Done,
    /// The agent exited non-zero, was killed by a signal, or could not start.
    Failed,
    /// The setup hook failed; the agent was never started.
    SetupFailed,
    /// Stopped by `git agent stop`, a signal to the supervisor, or `--timeout`.
    Stopped,
    /// Stopped because its spend reached the session's budget.
    OverBudget,
    /// The supervisor vanished without recording an end (derived, see
    /// [`Session::live_state`](super::Session::live_state)).
    Lost,
    /// Its work landed on its target with `git agent merge` (derived from the record's
    /// `merged`, see [`Session::live_state`](super::Session::live_state)).
    Merged,
}

impl State {
    /// The agent is (supposed to be) running or about to.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Self::Starting
                | Self::Setup
                | Self::Queued
                | Self::Running
                | Self::Waiting
                | Self::RateLimited
        )
    }

    /// The session has ended, one way or another.
    pub fn is_terminal(self) -> bool {
        !self.is_active()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Setup => "setup",
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::RateLimited => "rate-limited",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::SetupFailed => "setup-failed",
            Self::Stopped => "stopped",
            Self::OverBudget => "over-budget",
            Self::Lost => "lost",
            Self::Merged => "merged",
        }
    }

    /// Sort key for `list`: what needs the user comes first.
    pub fn attention_rank(self) -> u8 {
        match self {
            Self::Waiting => 0,
            Self::SetupFailed | Self::Failed | Self::OverBudget => 1,
            Self::Lost => 2,
            Self::Stopped => 3,
            Self::Done => 4,
            Self::Running | Self::Setup | Self::RateLimited => 5,
            Self::Starting | Self::Queued => 6,
            Self::Merged => 7,
        }
    }

    /// The session waits for the user: it asks (`waiting`) or it ended badly (failed,
    /// setup-failed, over-budget, lost): the states [`State::attention_rank`] puts first.
    pub fn needs_user(self) -> bool {
        self.attention_rank() < Self::Stopped.attention_rank()
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
