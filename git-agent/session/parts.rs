//! The record's smaller parts: the agent spec, the base, group membership, and what each
//! later command notes in it (setup, verify, sync, merge, pull request, removal, taken
//! changes, the agent's own status, the processes).
//!
//! Plain record data with serde shapes that are part of the JSON schema (change them only
//! additively, as `#[serde(default)]` fields). Must not read or write files or run processes.

use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::Format;
use super::{Exit, Session, short_id};
use crate::procs::ProcessRef;

/// Membership in a group of variants of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Shared by all variants (the base name, e.g. `fix-login` for `fix-login-1…3`).
    pub id: String,
    /// 1-based position in the group.
    pub index: u32,
    /// Number of variants created together.
    pub count: u32,
}

/// The agent of a session: which profile, the program, and how to build its command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSpec {
    /// Profile name (`claude`, a config profile) or `command` for `-- COMMAND…`.
    pub profile: String,
    /// Where the profile came from: `builtin`, `config` or `command`.
    pub source: String,
    /// The resolved program path, so later commands work whatever `PATH` says then.
    pub program: PathBuf,
    /// Argument templates of a first run (`{prompt}`, `{prompt_file}`).
    pub args: Vec<String>,
    /// Argument templates of a follow-up run that resumes the agent's own conversation
    /// (`{prompt}`, `{prompt_file}`, `{session_id}`); `None` if the agent cannot resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_args: Option<Vec<String>>,
    /// How the prompt reaches the agent: `arg`, `stdin` or `env`.
    pub prompt_via: String,
    /// Extra environment from the profile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
    /// The permission mode the agent runs in, as the agent calls it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_mode: Option<String>,
    /// The mode lets the agent do anything without asking (shown in `list`).
    #[serde(default)]
    pub bypass: bool,
    /// The mode cannot edit files (`new --read-only`, a built-in mode such as claude's
    /// `plan`): our sandbox then gives the agent no write access to the repository either.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// The format of what the agent prints.
    #[serde(default = "text_format")]
    pub format: Format,
    /// Files the agent leaves that are not work (gitignore-style globs): never auto-committed,
    /// never counted as changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leaves: Vec<String>,
    /// More places the agent may write under the sandbox, from the profile (see
    /// `agents::sandbox_writes` for the built-in ones, which are not recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sandbox_writes: Vec<String>,
}

fn text_format() -> Format {
    Format::Text
}

/// What runs in a new worktree before the agent starts: submodules, then the setup hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setup {
    /// The setup command (run with `sh -c`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Where the command came from: `config` (git config `agent.setup`) or `project`
    /// (`.git-agent.toml` at the base commit, approved by the user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Initialise submodules first.
    #[serde(default)]
    pub submodules: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<Exit>,
    /// Where its output starts in the session log.
    #[serde(default)]
    pub log_offset: u64,
}

/// The last run of the project's verify command in the worktree (`review --verify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verify {
    pub command: String,
    /// `config` (git config `agent.verify`) or `project` (`.git-agent.toml`).
    pub source: String,
    pub passed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<Exit>,
    pub duration_ms: u64,
    pub at: Timestamp,
    /// The last lines of its output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tail: Vec<String>,
    /// The commit the worktree was at (uncommitted changes included in what was verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
}

impl Verify {
    /// The result no longer describes the branch: it moved since (`tip`: where it points now),
    /// or the agent ran again after the verify.
    pub fn is_stale(&self, session: &Session, tip: Option<&str>) -> bool {
        let moved = matches!((self.head.as_deref(), tip), (Some(h), Some(t)) if h != t);
        let ran_since = session
            .runs
            .iter()
            .any(|r| r.started_at.is_some_and(|at| at > self.at));
        moved || ran_since
    }
}

/// `git agent sync`: the target brought into the branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Synced {
    /// The target branch.
    pub target: String,
    /// The target's commit that was brought in.
    pub commit: String,
    /// `merge` or `rebase`.
    pub how: String,
    pub at: Timestamp,
}

/// A conflicted sync of ours, as it was left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncPending {
    /// `merge` or `rebase`.
    pub how: String,
    /// The target commit being brought in.
    pub onto: String,
    /// The session branch's tip before the sync.
    pub orig_head: String,
}

/// `git agent merge`: where the work landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merged {
    /// The target branch.
    pub into: String,
    /// `squash`, `rebase`, `merge` or `ff-only`.
    pub strategy: String,
    /// The target's new tip.
    pub commit: String,
    /// The target's tip before.
    pub previous: String,
    /// The branch tip that was merged.
    pub branch_tip: String,
    pub at: Timestamp,
}

/// `git agent merge --pr`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub remote: String,
    /// The branch as pushed.
    pub branch: String,
    /// The target branch on the remote.
    pub base: String,
    /// The pull request's address, or the page to open one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// True if `gh` opened it (false: only pushed).
    pub opened: bool,
    pub at: Timestamp,
}

/// Why and when a session was removed; its branch tip then (kept unless deleted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    pub at: Timestamp,
    /// `merged`, `squash-merged`, `rm`, `discarded` (another variant won)…
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_tip: Option<String>,
    pub branch_deleted: bool,
}

/// A run of another agent about this session's work, outside its own runs (which are its
/// agent's): `review --ai` (findings on its result) or `review --ai-judge` (a ranking of the
/// variants of its group). Kept apart so that the last of `runs` is always its agent's own;
/// its spend counts toward the session's (budgets, `list`, `show`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewRun {
    /// `review` or `judge`.
    pub kind: String,
    /// The reviewer's profile and the permission mode it ran in.
    pub reviewer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    /// It answered something usable; otherwise why not.
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its cost and tokens, as its output reported them.
    #[serde(default)]
    pub outcome: super::Outcome,
    /// `review`: the findings it gave and the review round they went into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<u32>,
}

/// The conversation a session's agent took up instead of starting from nothing: another
/// session's (`git agent fork`) or one the user had with the CLI in a checkout (`git agent
/// new --continue`). The original is only ever read or copied, never altered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationFrom {
    /// `fork` or `continue`.
    pub how: String,
    /// The CLI whose conversation it is (`claude`, `codex`…).
    pub cli: String,
    /// The CLI's id of the original conversation (none for aider, which has no ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The directory the original belongs to.
    pub dir: PathBuf,
    /// Aider's history file, which is its conversation (it has no ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// The session forked (`git agent fork NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// Uncommitted changes moved into the worktree by `new --take-changes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TookChanges {
    /// The checkout they came from.
    pub from: PathBuf,
    /// A commit holding the source's index and tracked changes (`git stash create`; no
    /// stash ref is touched), to get them back if anything goes wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Paths moved.
    pub paths: Vec<String>,
    /// The source was cleaned after the worktree verifiably held the same content.
    pub cleaned: bool,
}

/// What the agent last said about itself (`git agent notify`, `GIT_AGENT_STATUS_FILE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// `waiting`, `working` or `done`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub since: Timestamp,
}

/// The base the branch was created from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base {
    /// Full ref name (`refs/heads/main`), or `None` when the base was a detached commit.
    #[serde(rename = "ref")]
    pub ref_name: Option<String>,
    /// The commit at creation time.
    pub commit: String,
}

impl Base {
    /// `main` for `refs/heads/main`, the short commit when detached.
    pub fn short_name(&self) -> String {
        match &self.ref_name {
            Some(r) => r
                .strip_prefix("refs/heads/")
                .or_else(|| r.strip_prefix("refs/remotes/"))
                .or_else(|| r.strip_prefix("refs/tags/"))
                .unwrap_or(r)
                .to_owned(),
            None => short_id(&self.commit).to_owned(),
        }
    }
}

/// The processes of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Processes {
    /// The `git agent new` that reserved the record (alive until the supervisor takes over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<ProcessRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor: Option<ProcessRef>,
    /// The agent; it leads its own process group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<ProcessRef>,
}

/// The limits a session was created under: `new --max-parallel`/`--budget` and its profile's.
/// Empty (and absent from the record) when none applies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// It starts only while fewer sessions than this hold a slot (`new --max-parallel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
    /// At most this many sessions of its profile hold a slot
    /// (`agent.profile.<p>.maxParallel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_max_parallel: Option<u32>,
    /// Its profile's sessions start one at a time (`agent.profile.<p>.startSerially`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub start_serially: bool,
    /// The run is stopped once the session has spent this much (USD, all runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A cap on parallel agents (`--max-parallel`, `agent.maxParallel`): a whole number of at
/// least 1. `Err` says what is wrong with `text`.
pub fn parse_cap(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(0) => Err("it must be at least 1 (0 would never start anything)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("it must be a whole number of at least 1".into()),
    }
}

/// A budget in US dollars (`--budget`, `agent.budget`): `2`, `0.50` or `$2.50`, more than
/// zero. `Err` says what is wrong with `text`.
pub fn parse_budget(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let number = t.strip_prefix('$').unwrap_or(t).trim();
    match number.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(_) => Err("it must be more than zero".into()),
        Err(_) => Err("it must be an amount in US dollars, e.g. 2 or 0.50".into()),
    }
}

/// The automatic resume of a session that hit a rate or usage limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retry {
    /// When the agent's conversation is resumed.
    pub at: Timestamp,
    /// 1 for the first retry.
    pub attempt: u32,
    /// What the agent said about the limit.
    pub message: String,
}
