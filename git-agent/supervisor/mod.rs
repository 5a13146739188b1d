//! The detached supervisor: one per session, started by `git agent new` (and `send`) as
//! `git-agent __supervise <common-dir> <name>`.
//!
//! It puts itself in a session of its own (so closing the terminal does not kill it) and runs
//! the session's last run through a [`Runner`](crate::runner::Runner):
//! - records pid and start time, enforces `--timeout`, and turns SIGTERM/SIGINT/SIGHUP (which
//!   `git agent stop` sends it) into a graceful stop of the agent's whole process group;
//! - reads what the agent prints: every line goes to the session log unchanged, and stdout is
//!   parsed in the profile's format into the run's outcome (session id, turns, result, cost);
//! - watches `GIT_AGENT_STATUS_FILE` for `waiting`/`working`/`done` reports;
//! - after the agent exits: stops whatever it left running in its group, commits leftover
//!   changes, and records the end, or starts the next run if a follow-up was queued
//!   (`git agent send --queue`);
//! - tells the user (`crate::notify`) of each end, rate limit and `waiting` report it
//!   records, after recording it and outside the state lock.
//!
//! If the supervisor itself is killed, nobody records an end: readers then derive `lost`
//! from its pid and start time (see `Session::live_state`).
//!
//! The folder, by concern (each file's doc says what it owns and what it must not touch):
//! - this file: the supervisor's process (`run`, `spawn`, `wait_started`) and its loop
//!   (setup, then run after run until no follow-up is queued);
//! - `env.rs`: the environment of the agent and of setup/run commands;
//! - `followups.rs`: the next run of a session and the queue of follow-ups;
//! - `setup.rs`: submodules and the setup hook before the first run;
//! - `run.rs`: one run of the agent, and the sandbox of what runs in the worktree;
//! - `watch.rs`: following a process to its end (log, stop, timeout) and the status file;
//! - `ownership.rs`: a plan task's live ownership (the `overlap` of a path another running
//!   task owns, or outside its own `touches`), looked at while the agent runs;
//! - `finish.rs`: recording a run's end (commit, queue, final state).

mod env;
mod finish;
mod followups;
mod ownership;
mod retry;
mod run;
pub mod schedule;
mod setup;
mod watch;

use std::fs::OpenOptions;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

pub use env::{agent_env, command_env};
pub use finish::finish_lost;
pub use followups::{enqueue, followup_run, prepare_next};
pub use run::{Sandboxed, sandbox_for, sandboxed_command};

use finish::{Next, finish};
use run::run_once;
use setup::setup;

use crate::agents::output::Outcome;
use crate::error::Failure;
use crate::process::Cmd;
use crate::procs::ProcessRef;
use crate::session::{Exit, Session, State};
use crate::state::{Event as StateEvent, StateDir};

/// How long `new`/`send` wait for the supervisor to report that the agent runs.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the supervisor for session `name` until the agent has ended and the end is recorded.
pub fn run(common_dir: &Path, name: &str) -> Result<()> {
    // Already a group leader (not expected) makes setsid fail; we are detached enough then.
    let _ = nix::unistd::setsid();
    let signalled = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&signalled))
            .context("could not install signal handlers")?;
    }
    let state = StateDir::at(common_dir);
    let result = supervise(&state, name, &signalled);
    // Whatever happened, this session's slot may be free now: the queue moves on.
    let _ = schedule::advance(&state);
    if let Err(err) = &result {
        // Record the failure rather than leave the session looking alive or lost.
        let reason = format!("supervisor error: {err:#}");
        let failed = state.update(name, |s| {
            let active = s.state.is_active();
            if active {
                s.state = State::Failed;
                s.reason = Some(reason.clone());
                s.ended_at = Some(crate::time::now());
            }
            Ok(active)
        });
        let _ = state.append_event(&StateEvent::state(
            name,
            State::Failed,
            Some(reason.clone()),
        ));
        if let Ok(true) = failed {
            crate::notify::session_entered(&state, name, State::Failed, Some(&reason));
        }
    }
    result
}

/// Starts the supervisor of `name` detached, its own output going to the session's
/// `supervisor.log`.
pub fn spawn(common_dir: &Path, name: &str, worktree: &Path) -> Result<Child> {
    let state = StateDir::at(common_dir);
    std::fs::create_dir_all(state.session_dir(name))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.supervisor_log_path(name))?;
    let exe = crate::process::git_agent_exe()?;
    let mut cmd = Cmd::new(exe).arg("__supervise").arg(common_dir).arg(name);
    for var in crate::process::REPO_ENV {
        cmd = cmd.env_remove(var);
    }
    // Started from anywhere (a command an agent ran, say), a supervisor carries no run's tag:
    // what it starts is tagged with its own session's token only.
    cmd = cmd.env_remove(crate::procs::TOKEN_VAR);
    let dir = if worktree.is_dir() {
        worktree
    } else {
        common_dir
    };
    cmd.current_dir(dir).spawn(
        Stdio::null(),
        Stdio::from(log.try_clone()?),
        Stdio::from(log),
        false,
    )
}

/// Waits until the supervisor reports that the agent runs (or could not start).
pub fn wait_started(state: &StateDir, name: &str, mut child: Child) -> Result<Session> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut rechecked = false;
    loop {
        let session = state.load(name)?;
        // A slot granted is not yet a started agent: `running` counts once the run started.
        let launching = session.state == State::Running
            && session.run().is_some_and(|r| r.started_at.is_none());
        if session.state != State::Starting && !launching {
            let started = session.run().and_then(|r| r.started_at).is_some();
            if session.state == State::Failed && !started {
                return Err(Failure::fatal(format!(
                    "session '{}': {}",
                    session.name,
                    session
                        .reason
                        .clone()
                        .unwrap_or_else(|| "the agent did not start".into())
                ))
                .hint(format!(
                    "the worktree is kept at {}",
                    session.worktree.display()
                ))
                .into());
            }
            return Ok(session);
        }
        if let Some(status) = child.try_wait()? {
            // A supervisor may record its state and exit between the read above and this
            // check (a queued session's does): read the record once more before calling it
            // a failure.
            if !rechecked && state.load(name)?.state != State::Starting {
                rechecked = true;
                continue;
            }
            let log = std::fs::read_to_string(state.supervisor_log_path(name)).unwrap_or_default();
            return Err(Failure::fatal(format!(
                "the supervisor of '{name}' exited before the agent started ({})",
                crate::process::describe_status(status)
            ))
            .hint(log.lines().last().unwrap_or("no diagnostics").to_owned())
            .into());
        }
        if Instant::now() >= deadline {
            return Err(Failure::fatal(format!(
                "the agent of '{name}' did not start within {}s",
                START_TIMEOUT.as_secs()
            ))
            .hint(format!("see 'git agent show {name}'"))
            .into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What happened to a run.
struct RunEnd {
    state: State,
    reason: Option<String>,
    exit: Option<Exit>,
    outcome: Outcome,
    /// The runner could not bring the agent's work back here (it is kept aside): what the
    /// worktree holds is not the agent's, so it is not committed as its leftovers.
    not_brought_back: bool,
}

impl RunEnd {
    /// An end without an exit (the agent never ran, or the setup failed).
    fn ended(state: State, reason: &str) -> Self {
        Self {
            state,
            reason: Some(reason.to_owned()),
            exit: None,
            outcome: Outcome::default(),
            not_brought_back: false,
        }
    }
}

fn supervise(state: &StateDir, name: &str, signalled: &AtomicBool) -> Result<()> {
    crate::faults::point("supervise:start");
    crate::faults::pause_point("supervise:start");
    let me = ProcessRef::current();
    let mut stray = false;
    let session = state.update(name, |s| {
        // We were started by a command killed before it recorded us, and the slot was given
        // away again since: another live supervisor owns the session, or one already started
        // its run (or the session ended) while we were on our way. Running on would start the
        // agent twice. Every command that starts us leaves the session starting, running
        // (granted) or queued (its grant unrecorded), its run not yet started.
        let other_live = s.state.is_active()
            && s.processes
                .supervisor
                .as_ref()
                .is_some_and(|p| p.pid != me.pid && p.is_alive());
        let awaits_us = matches!(s.state, State::Starting | State::Running | State::Queued)
            && s.run().is_none_or(|r| r.started_at.is_none());
        stray = other_live || !awaits_us;
        if !stray {
            s.processes.supervisor = Some(me.clone());
        }
        Ok(s.clone())
    })?;
    if stray {
        return Ok(());
    }
    if session
        .setup
        .as_ref()
        .is_some_and(|s| s.started_at.is_none())
        && let Some(end) = setup(state, &session, signalled)?
    {
        let next = finish(state, name, end)?;
        announce(state, name, &next);
        return Ok(());
    }
    if schedule::acquire(state, name)? != schedule::Slot::Granted {
        // Queued: nothing runs for it until someone gives it a slot (and a new supervisor).
        return Ok(());
    }
    let mut session = state.load(name)?;
    loop {
        let end = run_once(state, &session, signalled)?;
        let next = finish(state, name, end)?;
        announce(state, name, &next);
        session = match next {
            Next::Run(next) => *next,
            Next::Retry => match retry::wait(state, name, signalled)? {
                Some(next) => next,
                None => {
                    announce(state, name, &Next::End);
                    return Ok(());
                }
            },
            Next::End => return Ok(()),
        };
    }
}

/// Tells the user what `finish` recorded: the session's end, or a rate limit it waits out
/// (each entry into `rate-limited` is one). Called once per recorded end, after the state
/// lock is released, so each transition notifies once and a slow notification holds nothing.
fn announce(state: &StateDir, name: &str, next: &Next) {
    if matches!(next, Next::Run(_)) {
        return;
    }
    if let Ok(s) = state.load(name) {
        let reason = match (&s.retry, next) {
            (Some(retry), Next::Retry) => Some(retry.message.clone()),
            _ => s.reason.clone(),
        };
        crate::notify::session_entered(state, name, s.state, reason.as_deref());
    }
}
