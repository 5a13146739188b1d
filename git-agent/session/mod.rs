//! The session record: one JSON file per agent session, `sessions/<name>.json`.
//!
//! Schema rules: every record carries `version`; fields added later are optional
//! (`#[serde(default)]`) so older records keep loading; a record with a newer `version` than
//! [`SCHEMA_VERSION`] is never rewritten by this build.
//!
//! This folder owns the record's shape and what can be derived from the record alone:
//! [`Session`] and its methods here, the life-cycle [`State`] in `state.rs`, one run and how
//! it ended in `run.rs`, the record's smaller parts in `parts.rs`. It must not read or write
//! the state directory (that is [`crate::state`]) nor run git; every type is re-exported
//! here, so `crate::session::X` is the one path to use.

use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

mod changes;
pub mod outcome;
mod parts;
mod run;
mod runner;
mod sandbox;
mod state;

pub use changes::Changes;
pub use outcome::{Format, Outcome, RateLimit, Usage};
pub use parts::{
    AgentSpec, AgentStatus, Base, ConversationFrom, Group, Limits, Merged, Processes, PullRequest,
    Removed, Retry, ReviewRun, Setup, SyncPending, Synced, TookChanges, Verify, parse_budget,
    parse_cap,
};
pub use run::{CommitOutcome, Exit, Run, RunKind, StopRequest};
pub use runner::{ContainerRecord, PluginRecord, RunnerRecord, SshRecord, Workspace};
pub use sandbox::{InForce, Request as SandboxRequest, Setting as SandboxSetting};
pub use state::State;

/// The record schema this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// One agent session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub version: u32,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
    pub prompt: String,
    pub agent: AgentSpec,
    pub base: Base,
    /// The commit the branch was made at, when it is not the base (`fork`: the forked
    /// session's tip). Doctor knows a session killed before its agent started by its branch
    /// still being there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_commit: Option<String>,
    pub branch: String,
    /// True if we created the branch (false when attached to an existing one).
    pub branch_created: bool,
    pub worktree: PathBuf,
    /// `new --in NAME`: the session whose worktree and branch this one shares (NAME's
    /// record owns them: this one created neither).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<String>,
    /// With `shares`: git-agent made that session's branch (its agent may commit on it, as
    /// the owner's may; see [`Session::branch_ours`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shares_branch_created: bool,
    /// The main worktree (the common git directory for a bare repository).
    pub repo: PathBuf,
    /// The stored state; see [`Session::live_state`] for the state to show.
    pub state: State,
    /// Why the session is in its state (`timed out after 30m`, a start error…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    pub stop_grace_secs: u64,
    /// The write sandbox asked for at `new`, and the one the last run had.
    #[serde(default)]
    pub sandbox: SandboxRequest,
    #[serde(default)]
    pub processes: Processes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<Exit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_requested: Option<StopRequest>,
    pub auto_commit: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitOutcome>,
    /// The id of the worktree git-agent created for the session (its admin directory,
    /// `<common>/worktrees/<id>`, which carries git-agent's mark); `None` in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree_id: Option<String>,
    /// We hold a `git worktree lock` on the worktree while the agent runs.
    #[serde(default)]
    pub worktree_locked: bool,
    /// Every run, oldest first; the top-level times, exit, reason and commit describe the last.
    #[serde(default)]
    pub runs: Vec<Run>,
    /// The agent's own session (conversation) id, for resuming it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_session_id: Option<String>,
    /// What the agent last reported about itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AgentStatus>,
    /// Submodules and the setup hook, run before the first run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<Setup>,
    /// Ports reserved for this session (`GIT_AGENT_PORT`, `GIT_AGENT_PORT_1`…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    /// Ignored files copied from the main worktree (`.worktreeinclude`), relative to the
    /// worktree; directories end in `/`. (Records written before `linked` existed list
    /// linked paths here too.) Never committed by git-agent: see [`Session::left_out`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included: Vec<String>,
    /// Ignored paths symlinked to the main worktree's copy (`.worktreelink`), relative to the
    /// worktree; never committed by git-agent either.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub linked: Vec<String>,
    /// Changes moved in from a checkout (`new --take-changes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub took_changes: Option<TookChanges>,
    /// Other agents' runs about its work (`review --ai`, `--ai-judge`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub review_runs: Vec<ReviewRun>,
    /// The conversation its agent took up (`fork`, `new --continue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationFrom>,
    /// The last verify run (`review --verify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verify>,
    /// The target's commit last brought into the branch by `git agent sync`: what the
    /// branch's own changes are measured from since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced: Option<Synced>,
    /// A `sync` of ours that stopped on a conflict: what `sync --continue`/`--abort` may
    /// finish (never a merge or rebase someone else, say the agent, set up in its worktree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_pending: Option<SyncPending>,
    /// Where the work landed (`git agent merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<Merged>,
    /// The pull request opened for it (`git agent merge --pr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequest>,
    /// When and why it was removed (in archived records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Removed>,
    /// What the branch and worktree held when the last run ended (what plain `list` shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
    /// Tags the processes this session's agent (and its setup hook) started, so that only
    /// those are ever reaped (see [`crate::procs::TOKEN_VAR`]); the same for every run.
    /// Records from before it existed have none: nothing of theirs is reaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_token: Option<String>,
    /// The limits it was created under.
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    pub limits: Limits,
    /// When it joined the queue (`queued`): the queue is served oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_at: Option<Timestamp>,
    /// The pending automatic resume after a rate or usage limit (`rate-limited`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// Where its agent runs, when not on this machine as a local process group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<RunnerRecord>,
}

impl Session {
    /// git-agent made the branch the session works on: for it, or for the session whose
    /// worktree it shares. What its sandbox may write refs for, and what `rm --delete-branch`
    /// may delete once no other session is on it.
    #[must_use]
    pub fn branch_ours(&self) -> bool {
        self.branch_created || self.shares_branch_created
    }
}

impl Session {
    /// A fresh, unguessable-enough token for [`Session::run_token`]: it only has to differ
    /// from every other session's, and never be set by anything but the supervisor.
    pub fn new_run_token(name: &str) -> String {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(std::process::id().to_le_bytes());
        h.update(crate::time::now().as_nanosecond().to_le_bytes());
        h.update(name.as_bytes());
        // The kernel's random source, where there is one.
        h.update(std::fs::read("/proc/sys/kernel/random/uuid").unwrap_or_default());
        h.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The state to show: an active state whose supervising process is gone is `lost`.
    /// While the record is only reserved, the `git agent new` that reserved it counts.
    pub fn live_state(&self) -> State {
        if !self.state.is_active() {
            // Merged, unless the agent ran again since.
            let merged_last = self.merged.as_ref().is_some_and(|m| {
                self.run()
                    .and_then(|r| r.started_at)
                    .is_none_or(|started| started <= m.at)
            });
            return if merged_last {
                State::Merged
            } else {
                self.state
            };
        }
        // Nothing runs for a queued session: whoever frees a slot starts it.
        if self.state == State::Queued {
            return State::Queued;
        }
        let keeper = self
            .processes
            .supervisor
            .as_ref()
            .or(self.processes.creator.as_ref());
        match keeper {
            Some(p) if p.is_alive() => self.state,
            _ => State::Lost,
        }
    }

    /// Time the agent ran (or has been running), if it started.
    pub fn run_time(&self, now: Timestamp) -> Option<std::time::Duration> {
        let start = self.started_at?;
        Some(crate::time::between(start, self.ended_at.unwrap_or(now)))
    }

    /// The last run.
    pub fn run(&self) -> Option<&Run> {
        self.runs.last()
    }

    /// The last run, to update it.
    pub fn run_mut(&mut self) -> Option<&mut Run> {
        self.runs.last_mut()
    }

    /// Tokens and cost of its own agent's runs: what it cost to make (variants compare on it).
    pub fn agent_usage(&self) -> Usage {
        self.runs
            .iter()
            .fold(Usage::default(), |acc, r| acc.plus(&r.outcome.usage))
    }

    /// Tokens and cost over all runs, its reviewers' included.
    pub fn usage(&self) -> Usage {
        self.runs
            .iter()
            .map(|r| &r.outcome.usage)
            .chain(self.review_runs.iter().map(|r| &r.outcome.usage))
            .fold(Usage::default(), |acc, u| acc.plus(u))
    }

    /// The commit its branch was made at: the base, or a fork's start.
    pub fn start_point(&self) -> &str {
        self.start_commit.as_deref().unwrap_or(&self.base.commit)
    }

    /// What is never the agent's work, as gitignore-style patterns for
    /// [`crate::git::changes::leaves_pathspecs`]: the files its agent leaves behind (`leaves` of its
    /// profile) and every path `.worktreeinclude`/`.worktreelink` brought in (anchored, glob
    /// characters escaped). git-agent never commits, counts or lands these: a copied `.env`
    /// stays out of the branch even if the agent un-ignores it, and a linked `node_modules`
    /// (a symlink, which a `node_modules/` rule does not ignore) never replaces the user's
    /// real directory.
    pub fn left_out(&self) -> Vec<String> {
        let brought = self.included.iter().chain(&self.linked).map(|path| {
            let mut pattern = String::from("/");
            for c in path.trim_end_matches('/').chars() {
                if matches!(c, '*' | '?' | '[' | '\\') {
                    pattern.push('\\');
                }
                pattern.push(c);
            }
            pattern
        });
        self.agent.leaves.iter().cloned().chain(brought).collect()
    }

    /// What the agent said it did (its final answer, else the last thing it said), shortened
    /// to 1500 characters: a commit message's body, a dependent task's `{{ deps }}`.
    pub fn summary(&self) -> Option<String> {
        let run = self.run()?;
        let text = run
            .outcome
            .result
            .as_deref()
            .or(run.outcome.last_text.as_deref())?
            .trim();
        if text.is_empty() {
            return None;
        }
        const MAX: usize = 1500;
        Some(if text.chars().count() > MAX {
            text.chars().take(MAX).collect::<String>() + "…"
        } else {
            text.to_owned()
        })
    }

    /// The agent as shown in tables: the profile, or the program's name for a command.
    pub fn short_agent(&self) -> String {
        if self.agent.source == "command" {
            self.agent.program.file_name().map_or_else(
                || self.agent.profile.clone(),
                |n| n.to_string_lossy().into_owned(),
            )
        } else {
            self.agent.profile.clone()
        }
    }
}

/// The first 7 characters of an object id.
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(7)]
}
