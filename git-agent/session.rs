//! The session record: one JSON file per agent session, `sessions/<name>.json`.
//!
//! Schema rules: every record carries `version`; fields added later are optional
//! (`#[serde(default)]`) so older records keep loading; a record with a newer `version` than
//! [`SCHEMA_VERSION`] is never rewritten by this build.

use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::events::{Format, Outcome, Usage};
use crate::procs::ProcessRef;

/// The record schema this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Record reserved; worktree and supervisor being set up.
    Starting,
    /// The setup hook runs in the new worktree.
    Setup,
    /// The agent runs.
    Running,
    /// The agent asked for input.
    Waiting,
    /// The agent exited 0.
    Done,
    /// The agent exited non-zero, was killed by a signal, or could not start.
    Failed,
    /// The setup hook failed; the agent was never started.
    SetupFailed,
    /// Stopped by `git agent stop`, a signal to the supervisor, or `--timeout`.
    Stopped,
    /// The supervisor vanished without recording an end (derived, see [`Session::live_state`]).
    Lost,
    /// Its work landed on its target with `git agent merge` (derived from the record's
    /// `merged`, see [`Session::live_state`]).
    Merged,
}

impl State {
    /// The agent is (supposed to be) running or about to.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Self::Starting | Self::Setup | Self::Running | Self::Waiting
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
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::SetupFailed => "setup-failed",
            Self::Stopped => "stopped",
            Self::Lost => "lost",
            Self::Merged => "merged",
        }
    }

    /// Sort key for `list`: what needs the user comes first.
    pub fn attention_rank(self) -> u8 {
        match self {
            Self::Waiting => 0,
            Self::SetupFailed | Self::Failed => 1,
            Self::Lost => 2,
            Self::Stopped => 3,
            Self::Done => 4,
            Self::Running | Self::Setup => 5,
            Self::Starting => 6,
            Self::Merged => 7,
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    pub branch: String,
    /// True if we created the branch (false when attached to an existing one).
    pub branch_created: bool,
    pub worktree: PathBuf,
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
    pub sandbox: crate::sandbox::Request,
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
    pub changes: Option<crate::changes::Changes>,
    /// Tags the processes this session's agent (and its setup hook) started, so that only
    /// those are ever reaped (see [`crate::procs::TOKEN_VAR`]); the same for every run.
    /// Records from before it existed have none: nothing of theirs is reaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_token: Option<String>,
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

    /// Tokens and cost over all runs.
    pub fn usage(&self) -> Usage {
        self.runs
            .iter()
            .fold(Usage::default(), |acc, r| acc.plus(&r.outcome.usage))
    }

    /// What is never the agent's work, as gitignore-style patterns for
    /// [`crate::commit::leaves_pathspecs`]: the files its agent leaves behind (`leaves` of its
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
