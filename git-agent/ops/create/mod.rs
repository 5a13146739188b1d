//! Creating sessions (`git agent new`), in the steps the command runs: **plan** (names,
//! branches and paths free of collisions, [`plan`]), **create** (reserve the records and
//! ports under the state lock, [`reserve`]; then the worktree, its ignored local files and
//! taken-over changes, [`start::create`]) and **start** (the detached supervisor,
//! [`start::start`]).
//!
//! Invariant 4 (a failed creation leaves nothing behind) lives here: a reservation that is
//! not created is [`discard`]ed with its ports; a worktree that cannot be created takes its
//! record (and the branch git may have created) with it; one that fails later is recorded
//! `failed` and kept, with nothing lost.
//!
//! Owns the records of the sessions it creates and their worktrees, nothing else. Never
//! prints or prompts: what the user should hear is returned or passed to a closure
//! ([`Notice`]); nothing here imports `commands` or `cli`.

pub mod plan;
pub mod start;
pub mod take_up;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

pub use self::plan::{Naming, Plan};
use crate::agents::{self, Profile, output};
use crate::error::Failure;
use crate::git::repo::{Config, Repo};
use crate::procs::ProcessRef;
use crate::project::{ProjectCommand, ProjectFile};
use crate::session::{
    Base, Group, Limits, Processes, Run, RunKind, SCHEMA_VERSION, Session, Setup, State,
};
use crate::state::StateDir;
use crate::state::ports;

/// Default time between SIGTERM and SIGKILL when stopping an agent.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// Something the user should hear while sessions are created (the caller renders it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Warning(String),
    Hint(String),
}

/// How new worktrees are prepared, from git config (the user's) or the project file (the
/// repository's, approved by the user).
pub struct Settings {
    /// The setup command and where it comes from (`config` or `project`).
    pub setup: Option<(String, &'static str)>,
    pub ports: u16,
    pub submodules: bool,
    pub skip_lfs: bool,
    /// `max_parallel` in the project file: a cap for the sessions created with it.
    pub max_parallel: Option<u32>,
}

impl Settings {
    pub fn resolve(
        config: &Config,
        project: Option<&ProjectFile>,
        base_has_submodules: bool,
        no_setup: bool,
    ) -> Result<Self> {
        let setup = if no_setup {
            None
        } else if let Some(cmd) = config
            .string("agent.setup")
            .filter(|c| !c.trim().is_empty())
        {
            Some((cmd, "config"))
        } else {
            project
                .and_then(|p| p.setup.clone())
                .filter(|c| !c.trim().is_empty())
                .map(|c| (c, "project"))
        };
        let ports = match config.integer("agent.ports")? {
            Some(n) => u16::try_from(n)
                .map_err(|_| Failure::fatal(format!("agent.ports = {n} is too many")))?,
            None => project.and_then(|p| p.ports).unwrap_or(0),
        };
        let submodules = match config.boolean("agent.submodules")? {
            Some(b) => b,
            None => project
                .and_then(|p| p.submodules)
                .unwrap_or(base_has_submodules),
        } && base_has_submodules;
        let lfs = config
            .string("agent.lfs")
            .or_else(|| project.and_then(|p| p.lfs.clone()));
        let skip_lfs = match lfs.as_deref() {
            None | Some("smudge") => false,
            Some("skip") => true,
            Some(other) => {
                return Err(Failure::fatal(format!("bad value '{other}' for agent.lfs"))
                    .hint("use skip or smudge")
                    .into());
            }
        };
        let max_parallel = project.and_then(|p| p.max_parallel);
        if max_parallel == Some(0) {
            return Err(Failure::fatal(format!(
                "max_parallel = 0 in {}: it must be at least 1",
                crate::project::FILE
            ))
            .hint("0 would never start anything; remove it for no limit")
            .into());
        }
        Ok(Self {
            setup,
            ports,
            submodules,
            skip_lfs,
            max_parallel,
        })
    }
}

impl Settings {
    /// The commands the repository defines (its setup hook, its profiles) that run only once
    /// the user approved their exact text.
    pub fn to_trust(&self, profiles: &[(Profile, PathBuf, u32)]) -> Vec<ProjectCommand> {
        let mut to_trust: Vec<ProjectCommand> = Vec::new();
        if let Some((cmd, "project")) = &self.setup {
            to_trust.push(ProjectCommand::new("setup", cmd.clone()));
        }
        for (profile, _, _) in profiles {
            if let Some(text) = &profile.project_text {
                to_trust.push(ProjectCommand::new(
                    format!("profile {}", profile.name),
                    text.clone(),
                ));
            }
        }
        to_trust
    }
}

/// How the agents run: time limits, committing, sandbox.
#[derive(Debug, Clone)]
pub struct Running {
    pub timeout: Option<Duration>,
    pub grace: Duration,
    pub auto_commit: bool,
    pub sandbox: crate::sandbox::Request,
    /// `--max-parallel` and `--budget` (the profile's own caps are added per session).
    pub limits: Limits,
    /// The prices of models' tokens (`agent.price.*`), to refuse a budget that could not be
    /// held; the supervisor reads them again when a run starts.
    pub prices: crate::agents::pricing::Prices,
    /// Where the agents run (`--runner`, `agent.runner`); `None` here, as a local process
    /// group.
    pub runner: Option<crate::session::RunnerRecord>,
}

impl Running {
    /// From the flags (`--timeout`, `--no-auto-commit`) and git config. A required sandbox that
    /// no profile in `profiles` can have here is refused.
    pub fn resolve(
        config: &Config,
        timeout: Option<&str>,
        no_auto_commit: bool,
        profiles: &[(Profile, PathBuf, u32)],
    ) -> Result<Self> {
        let timeout = match timeout {
            Some(t) => Some(crate::time::parse_duration(t)?),
            // `agent.maxRunTime` is the same limit under the name the capacity settings use.
            None => match config.duration("agent.timeout")? {
                Some(t) => Some(t),
                None => config.duration("agent.maxRunTime")?,
            },
        };
        if timeout.is_some_and(|t| t.is_zero()) {
            return Err(Failure::usage("--timeout must be longer than zero").into());
        }
        let grace = config
            .duration("agent.stopGrace")?
            .unwrap_or(DEFAULT_STOP_GRACE);
        let auto_commit = !no_auto_commit && config.boolean("agent.autoCommit")?.unwrap_or(true);
        let sandbox = crate::sandbox::Request {
            setting: crate::sandbox::Setting::from_config(config)?,
            allow_write: crate::sandbox::allow_write_from_config(config)?,
            in_force: None,
        };
        // A required sandbox that cannot be had is refused before anything is created.
        if sandbox.setting == crate::sandbox::Setting::On
            && let crate::sandbox::Support::Unavailable { reason } = crate::sandbox::support()
            && let Some((profile, _, _)) = profiles.iter().find(|(profile, program, _)| {
                crate::agents::own_sandbox(&profile.spec(program.clone())).is_none()
            })
        {
            return Err(Failure::fatal(format!(
                "agent.sandbox is 'on' but '{}' cannot be sandboxed here: {reason}",
                profile.name
            ))
            .hint(
                "set agent.sandbox=auto to run agents unsandboxed where the kernel cannot sandbox",
            )
            .into());
        }
        let limits = Limits {
            budget_usd: config.budget("agent.budget")?,
            ..Limits::default()
        };
        // The repository's limits are read again whenever the queue moves; a bad value is
        // refused now, before anything is created.
        config.cap("agent.maxParallel")?;
        config.budget("agent.budget.total")?;
        let prices = crate::agents::pricing::Prices::from_config(config)?;
        Ok(Self {
            timeout,
            grace,
            auto_commit,
            sandbox,
            limits,
            prices,
            runner: None,
        })
    }
}

impl Running {
    /// With the runner `new` chose ([`crate::runner::choose`]).
    #[must_use]
    pub fn run_by(mut self, runner: Option<crate::session::RunnerRecord>) -> Self {
        self.runner = runner;
        self
    }

    /// With `new --max-parallel` and `--budget` (a flag wins over `agent.budget`). A budget
    /// is refused up front for an agent that reports neither cost nor tokens, and for one
    /// that reports only tokens on a model whose price is not known: it could not be held.
    /// Where the model is only known once the agent runs, the supervisor stops the run at its
    /// first token report if it has no price (`supervisor/run.rs`).
    pub fn limited(
        mut self,
        max_parallel: Option<u32>,
        budget: Option<f64>,
        profiles: &[(Profile, PathBuf, u32)],
    ) -> Result<Self> {
        self.limits.max_parallel = max_parallel;
        if budget.is_some() {
            self.limits.budget_usd = budget;
        }
        let Some(usd) = self.limits.budget_usd else {
            return Ok(self);
        };
        let from = if budget.is_some() {
            "--budget"
        } else {
            "agent.budget"
        };
        for (profile, _, _) in profiles {
            let cannot = |why: String| {
                Failure::fatal(format!(
                    "{from} {} cannot be held for '{}': {why}",
                    output::format_cost(usd),
                    profile.name,
                ))
            };
            if !output::reports_spend(profile.format) {
                return Err(cannot(format!(
                    "it reports neither cost nor tokens (output format '{}')",
                    profile.format.as_str()
                ))
                .hint(
                    "budgets work with claude, codex, gemini, opencode and aider; run this one \
                     without a budget",
                )
                .into());
            }
            if output::reports_cost(profile.format) {
                continue;
            }
            let model = crate::agents::pricing::model_before_run(
                profile.format,
                &profile.args,
                &profile.env,
            );
            if let Some(model) = model
                && self.prices.of(&model).is_none()
            {
                return Err(cannot(format!(
                    "it reports tokens, and its model '{model}' has no known price"
                ))
                .hint(format!(
                    "price it in US dollars per million tokens: git config \
                     agent.price.{model}.input 1.25; git config agent.price.{model}.output 10"
                ))
                .into());
            }
        }
        Ok(self)
    }
}

/// What every session of one `new` shares: the task, the base, and how it runs.
pub struct Request {
    pub prompt: String,
    pub base: Base,
    /// `--branch` names an existing branch: check it out, never create it.
    pub attach: bool,
    pub settings: Settings,
    pub running: Running,
    /// The `git agent new` process creating the sessions.
    pub creator: ProcessRef,
    /// The repository, as recorded (its main worktree, or its common directory).
    pub repo_path: PathBuf,
    /// `--in NAME`: the session git-agent made the shared worktree for (NAME, or the one NAME
    /// shares), and whether git-agent made its branch.
    pub shares: Option<(String, bool)>,
    /// `fork` and `new --continue`: the conversation every session's agent takes up.
    pub take_up: Option<take_up::TakeUp>,
    /// `fork`: the group the session joins (the forked session's), instead of its own.
    pub group: Option<Group>,
    /// `fork`: the forked session's tip, where the branch starts instead of at the base.
    pub start_commit: Option<String>,
}

impl Request {
    /// The `starting` record of a planned session.
    fn record(&self, state: &StateDir, plan: &Plan) -> Session {
        let (prompt, base, settings) = (&self.prompt, &self.base, &self.settings);
        let Running {
            timeout,
            grace,
            auto_commit,
            ref sandbox,
            ref limits,
            prices: _,
            ref runner,
        } = self.running;
        let (attach, me, repo_path) = (self.attach, &self.creator, &self.repo_path);
        let mut spec = plan.profile.spec(plan.program.clone());
        if self.shares.is_some() {
            // Bound into both templates so every later run of it keeps them too.
            agents::separate_histories(&mut spec, &plan.name);
        }
        let bindings = agents::Bindings {
            prompt,
            prompt_file: &state.prompt_path(&plan.name),
            session_id: None,
        };
        let run = Run::new(
            1,
            RunKind::New,
            prompt.clone(),
            agents::bind(&spec, &spec.args, &bindings),
            false,
        );
        let setup = (settings.setup.is_some() || settings.submodules).then(|| Setup {
            command: settings.setup.as_ref().map(|(c, _)| c.clone()),
            source: settings.setup.as_ref().map(|(_, s)| (*s).to_owned()),
            submodules: settings.submodules,
            started_at: None,
            ended_at: None,
            exit: None,
            log_offset: 0,
        });
        Session {
            version: SCHEMA_VERSION,
            name: plan.name.clone(),
            group: self.group.clone().or_else(|| plan.group.clone()),
            prompt: prompt.clone(),
            agent: spec,
            base: base.clone(),
            start_commit: self.start_commit.clone(),
            branch: plan.branch.clone(),
            branch_created: !attach,
            worktree: plan.worktree.clone(),
            shares: self.shares.as_ref().map(|(owner, _)| owner.clone()),
            shares_branch_created: self.shares.as_ref().is_some_and(|(_, ours)| *ours),
            repo: repo_path.clone(),
            state: State::Starting,
            reason: None,
            created_at: crate::time::now(),
            started_at: None,
            ended_at: None,
            timeout_secs: timeout.map(|t| t.as_secs().max(1)),
            stop_grace_secs: grace.as_secs(),
            sandbox: sandbox.clone(),
            processes: Processes {
                creator: Some(me.clone()),
                ..Processes::default()
            },
            exit: None,
            stop_requested: None,
            auto_commit,
            commit: None,
            worktree_id: None,
            // A shared worktree is locked by its owner's runs, under the owner's name.
            worktree_locked: self.shares.is_none(),
            runs: vec![run],
            agent_session_id: None,
            status: None,
            setup,
            ports: Vec::new(),
            included: Vec::new(),
            linked: Vec::new(),
            took_changes: None,
            conversation: self.take_up.as_ref().map(|t| t.from.clone()),
            review_runs: Vec::new(),
            verify: None,
            synced: None,
            sync_pending: None,
            merged: None,
            pull_request: None,
            removed: None,
            changes: None,
            run_token: Some(Session::new_run_token(&plan.name)),
            limits: Limits {
                // The smaller of `--max-parallel` and the project file's.
                max_parallel: [limits.max_parallel, settings.max_parallel]
                    .into_iter()
                    .flatten()
                    .min(),
                profile_max_parallel: plan.profile.max_parallel,
                start_serially: plan.profile.start_serially,
                ..limits.clone()
            },
            queued_at: None,
            retry: None,
            runner: runner.clone(),
        }
    }
}

/// Plans the sessions and reserves them: names and ports, and a `starting` record for each,
/// all under the state lock.
pub fn reserve(
    repo: &Repo,
    state: &StateDir,
    naming: &Naming<'_>,
    profiles: &[(Profile, PathBuf, u32)],
    request: &Request,
) -> Result<Vec<Plan>> {
    let lock = state.lock()?;
    let plans = plan::plan_sessions(repo, state, naming, request.attach, profiles)?;
    for plan in &plans {
        // The record must exist before ports are reserved for it (reservations of sessions
        // without a record are released).
        let mut record = request.record(state, plan);
        state.write(&lock, &record)?;
        if request.settings.ports > 0 {
            record.ports = ports::reserve(
                state,
                &lock,
                &plan.name,
                request.settings.ports,
                &plan.worktree.to_string_lossy(),
            )?;
            state.write(&lock, &record)?;
        }
    }
    Ok(plans)
}

/// Re-reads the records of started sessions before they are shown: one started first may
/// have ended (and its supervisor exited) while later ones were being created, and judging
/// its liveness from the record read when it started would call it lost. A record that
/// looks lost is read once more: its supervisor may have recorded the end just after the
/// first read.
pub fn refresh(state: &StateDir, started: &mut [Session]) {
    for s in started.iter_mut() {
        for _ in 0..2 {
            if let Ok(fresh) = state.load(&s.name) {
                *s = fresh;
            }
            if s.live_state() != State::Lost {
                break;
            }
        }
    }
}

/// The record of a session that was reserved but not created: it and its ports go.
pub fn discard(state: &StateDir, name: &str) -> Result<()> {
    let lock = state.lock()?;
    ports::release(state, &lock, name)?;
    state.discard(&lock, name)
}
