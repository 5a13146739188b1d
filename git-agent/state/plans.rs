//! Running plans (`git agent plan run`): one record per plan, `plans/<name>.json`, and a folder
//! `plans/<name>/` with the plan's own files:
//!
//! ```text
//! plans/<name>.json          the plan as it was run (its tasks frozen) and how far it got
//! plans/<name>/drive.lock    held (flock) by whoever advances the plan: one at a time
//! plans/<name>/again         "advance once more": left by an advance that found the lock held
//! plans/<name>/log           what advancing did (the commands it ran and what they said)
//! ```
//!
//! Owns the record's schema and its atomic read-modify-write under the state lock, and the
//! drive lock. Must not run git or agents, nor decide what comes next (that is
//! `crate::ops::plan::drive`).
//!
//! Invariants: a record is written only under the state lock (like session records); a task's
//! `sessions` are written before the sessions are created, so an ending session always finds
//! the plan it belongs to ([`StateDir::plan_of`]).

use std::fs;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{LockGuard, StateDir, write_atomically};
use crate::error::Failure;
use crate::session::Base;

/// Version of the plan record schema.
pub const PLAN_VERSION: u32 = 1;

/// Where a plan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanState {
    /// Tasks run and land.
    Running,
    /// Every task landed; `validate` runs.
    Validating,
    /// Every task landed and `validate` passed (or there is none): ready to land.
    Validated,
    /// `validate` failed.
    Failed,
    /// A task is blocked or failed, and nothing else can run: it needs the user.
    Blocked,
    /// `git agent plan stop`: nothing new starts until `plan resume`.
    Stopped,
    /// The integration branch landed on the base.
    Landed,
}

impl PlanState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Validating => "validating",
            Self::Validated => "validated",
            Self::Failed => "failed",
            Self::Blocked => "blocked",
            Self::Stopped => "stopped",
            Self::Landed => "landed",
        }
    }

    /// Advancing has something left to do.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Running | Self::Validating)
    }
}

impl std::fmt::Display for PlanState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskState {
    /// Its dependencies have not all landed, or a task owning the same paths runs.
    Waiting,
    /// Its sessions run (or wait in the queue).
    Running,
    /// Its agent resolves a conflict with the integration branch (`sync --ask-agent`).
    Syncing,
    /// On the integration branch.
    Landed,
    /// It ended but could not land (a conflict left after the agent's round, a failed
    /// verify): it needs the user.
    Blocked,
    /// Its agent failed (or was stopped, ran out of budget) and no retry is left.
    Failed,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Running => "running",
            Self::Syncing => "syncing",
            Self::Landed => "landed",
            Self::Blocked => "blocked",
            Self::Failed => "failed",
        }
    }

    /// Its sessions may be running.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Running | Self::Syncing)
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One task of a running plan: what the plan file said, and how far it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: String,
    /// The line of its `id` in the plan file.
    pub line: usize,
    /// The prompt as written (`{{ deps }}` not yet filled in).
    pub prompt: String,
    #[serde(default)]
    pub agents: Vec<String>,
    pub variants: u32,
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default)]
    pub touches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    #[serde(default)]
    pub retries: u32,
    pub state: TaskState,
    /// Why it is blocked or failed, or what it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its sessions (one per variant), named before they are created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<String>,
    /// The session that landed (or is being landed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<String>,
    /// Variants whose verify failed with no retry left: the next variant that ended `done`
    /// is landed instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<String>,
    /// Runs started for it: 1 + the retries used.
    #[serde(default)]
    pub attempts: u32,
    /// `sync --ask-agent` rounds used (at most one).
    #[serde(default)]
    pub sync_rounds: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// The commit that landed it on the integration branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landed_at: Option<Timestamp>,
    /// The cost its sessions reported, in US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Seconds its sessions ran (the longest variant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_secs: Option<f64>,
    /// The final summary its agent reported (what `{{ deps }}` gives its dependents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Paths its agent edited that another running task owns, or outside its `touches`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overlaps: Vec<Overlap>,
}

/// A path a task's agent edited that was not its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overlap {
    pub path: String,
    /// The running task that owns it; `None`: outside the task's own `touches`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub at: Timestamp,
}

/// The plan's `validate` run: a session on the integration branch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    pub session: String,
    pub started_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
    /// The last lines of its output, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The fixer session started on failure (`fix = true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixer: Option<String>,
    /// The commit that landed the fixer's work on the integration branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// Validate runs so far (a second one after the fixer landed).
    #[serde(default)]
    pub runs: u32,
}

/// Where the integration branch landed (`plan land`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanLanded {
    pub into: String,
    pub commit: String,
    pub at: Timestamp,
}

/// One running plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRecord {
    pub version: u32,
    pub name: String,
    /// The plan file it was run from.
    pub file: PathBuf,
    /// The base it started from.
    pub base: Base,
    /// The integration branch (`plan/<name>`).
    pub branch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate: Option<String>,
    /// `manual` or `auto`.
    pub land: String,
    #[serde(default)]
    pub fix: bool,
    pub state: PlanState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// The main worktree (where its `git agent` commands run).
    pub repo: PathBuf,
    pub tasks: Vec<TaskRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landed: Option<PlanLanded>,
}

impl PlanRecord {
    pub fn task(&self, id: &str) -> Option<&TaskRecord> {
        self.tasks.iter().find(|t| t.id == id)
    }

    pub fn task_mut(&mut self, id: &str) -> Option<&mut TaskRecord> {
        self.tasks.iter_mut().find(|t| t.id == id)
    }

    /// The task a session belongs to.
    pub fn task_of(&self, session: &str) -> Option<&TaskRecord> {
        self.tasks
            .iter()
            .find(|t| t.sessions.iter().any(|s| s == session))
    }

    /// Every session the plan made (its tasks', validate's and the fixer's).
    pub fn sessions(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .tasks
            .iter()
            .flat_map(|t| t.sessions.iter().cloned())
            .collect();
        if let Some(v) = &self.validation {
            all.push(v.session.clone());
            all.extend(v.fixer.iter().cloned());
        }
        all
    }
}

impl StateDir {
    pub fn plans_dir(&self) -> PathBuf {
        self.root.join("plans")
    }

    pub fn plan_path(&self, name: &str) -> PathBuf {
        self.plans_dir().join(format!("{name}.json"))
    }

    /// The plan's own folder (its log and locks).
    pub fn plan_dir(&self, name: &str) -> PathBuf {
        self.plans_dir().join(name)
    }

    pub fn plan_exists(&self, name: &str) -> bool {
        crate::names::check(name).is_ok() && self.plan_path(name).exists()
    }

    /// The names of the plans on record, sorted.
    pub fn plan_names(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.plans_dir()) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let stem = name.strip_suffix(".json")?.to_owned();
                crate::names::check(&stem).is_ok().then_some(stem)
            })
            .collect();
        names.sort();
        names
    }

    pub fn load_plan(&self, name: &str) -> Result<PlanRecord> {
        crate::names::validate(name)?;
        let path = self.plan_path(name);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Failure::fatal(format!("no plan named '{name}'"))
                    .hint("see the plans with: git agent plan status")
                    .into());
            }
            Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
        };
        let plan: PlanRecord = serde_json::from_str(&text).map_err(|e| {
            Failure::fatal(format!(
                "the record of plan '{name}' is damaged ({}): {e}",
                path.display()
            ))
            .hint("move that file away to forget the plan; its sessions are kept")
        })?;
        if plan.version > PLAN_VERSION {
            return Err(Failure::fatal(format!(
                "plan '{name}' was written by a newer git-agent (schema {})",
                plan.version
            ))
            .hint("upgrade git-agent to work with this plan")
            .into());
        }
        Ok(plan)
    }

    /// Every readable plan record.
    pub fn load_plans(&self) -> Vec<PlanRecord> {
        self.plan_names()
            .iter()
            .filter_map(|n| self.load_plan(n).ok())
            .collect()
    }

    /// The plan (and the task, if it is one of a task's) that session `name` belongs to.
    pub fn plan_of(&self, session: &str) -> Option<(PlanRecord, Option<String>)> {
        self.load_plans().into_iter().find_map(|p| {
            let task = p.task_of(session).map(|t| t.id.clone());
            (task.is_some() || p.sessions().iter().any(|s| s == session)).then_some((p, task))
        })
    }

    /// Writes a plan record atomically. Requires the state lock.
    pub fn write_plan(&self, _lock: &LockGuard, plan: &PlanRecord) -> Result<()> {
        crate::names::validate(&plan.name)?;
        fs::create_dir_all(self.plan_dir(&plan.name))?;
        write_atomically(&self.plans_dir(), &self.plan_path(&plan.name), plan)
    }

    /// Read-modify-write of one plan record under the state lock.
    pub fn update_plan<R>(
        &self,
        name: &str,
        f: impl FnOnce(&mut PlanRecord) -> Result<R>,
    ) -> Result<R> {
        let lock = self.lock()?;
        let mut plan = self.load_plan(name)?;
        let result = f(&mut plan)?;
        self.write_plan(&lock, &plan)?;
        Ok(result)
    }

    /// Moves a plan's record and folder out of the way (`plan rm`): into the archive, never
    /// deleted.
    pub fn retire_plan(&self, _lock: &LockGuard, name: &str) -> Result<PathBuf> {
        crate::names::validate(name)?;
        let stamp = crate::time::now().as_second();
        let to = super::archive::unused(&self.archive_dir(), &format!("plan-{name}-{stamp}"), "");
        fs::create_dir_all(&to)?;
        fs::rename(self.plan_path(name), to.join("plan.json"))
            .with_context(|| format!("could not move the record of plan '{name}'"))?;
        let dir = self.plan_dir(name);
        if dir.exists() {
            fs::rename(&dir, to.join("files"))
                .with_context(|| format!("could not move {}", dir.display()))?;
        }
        Ok(to)
    }

    /// Takes the plan's drive lock if nobody holds it; `None` if somebody does.
    pub fn try_drive_lock(&self, name: &str) -> Result<Option<LockGuard>> {
        crate::names::validate(name)?;
        fs::create_dir_all(self.plan_dir(name))?;
        self.try_lock_file(&format!("plans/{name}/drive.lock"))
    }

    /// Waits for the lock [`Self::try_drive_lock`] tries: held by a command that changes what
    /// the plan's passes decide on, so none runs meanwhile. A pass may run a task's verify,
    /// hence the long wait.
    pub fn drive_lock(&self, name: &str) -> Result<LockGuard> {
        crate::names::validate(name)?;
        fs::create_dir_all(self.plan_dir(name))?;
        self.lock_file(
            &format!("plans/{name}/drive.lock"),
            std::time::Duration::from_secs(900),
        )
    }

    /// Appends a line to the plan's log (best effort: the log is for people).
    pub fn plan_log(&self, name: &str, line: &str) {
        use std::io::Write as _;
        let path = self.plan_dir(name).join("log");
        if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "{} {line}", crate::time::now());
        }
    }
}
