//! The detached supervisor: one per session, started by `git agent new` as
//! `git-agent __supervise <common-dir> <name>`.
//!
//! It puts itself in a session of its own (so closing the terminal does not kill it), starts
//! the agent through a [`Runner`], records pid and start time, enforces `--timeout`, turns
//! SIGTERM/SIGINT/SIGHUP (which `git agent stop` sends it) into a graceful stop of the
//! agent's whole process group, and after the agent exits: stops whatever the agent left
//! running, commits leftover changes, releases the worktree lock and records the end.
//!
//! If the supervisor itself is killed, nobody records an end: readers then derive `lost`
//! from its pid and start time (see `Session::live_state`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use nix::sys::signal::Signal;

use crate::commit;
use crate::procs::ProcessRef;
use crate::runner::{LaunchSpec, LocalRunner, Runner};
use crate::session::{CommitOutcome, Exit, Session, State};
use crate::state::{Event, StateDir};

/// How long leftover processes of an exited agent get between SIGTERM and SIGKILL.
const LEFTOVER_GRACE: Duration = Duration::from_secs(2);
/// How often the supervisor checks for a timeout or a stop request.
const TICK: Duration = Duration::from_millis(50);

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
    if let Err(err) = &result {
        // Record the failure rather than leave the session looking alive or lost.
        let reason = format!("supervisor error: {err:#}");
        let _ = state.update(name, |s| {
            if s.state.is_active() {
                s.state = State::Failed;
                s.reason = Some(reason.clone());
                s.ended_at = Some(crate::time::now());
            }
            Ok(())
        });
        let _ = state.append_event(&Event::state(name, State::Failed, Some(reason)));
    }
    result
}

/// The environment every agent gets on top of its (scrubbed) inherited one.
pub fn agent_env(state: &StateDir, s: &Session) -> Vec<(String, String)> {
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let mut env = vec![
        ("GIT_AGENT_NAME".to_owned(), s.name.clone()),
        ("GIT_AGENT_WORKTREE".to_owned(), path(&s.worktree)),
        ("GIT_AGENT_REPO".to_owned(), path(&s.repo)),
        ("GIT_AGENT_BRANCH".to_owned(), s.branch.clone()),
        ("GIT_AGENT_BASE".to_owned(), s.base.commit.clone()),
        (
            "GIT_AGENT_BASE_REF".to_owned(),
            s.base.ref_name.clone().unwrap_or_default(),
        ),
        ("GIT_AGENT_PROMPT".to_owned(), s.prompt.clone()),
        (
            "GIT_AGENT_PROMPT_FILE".to_owned(),
            path(&state.prompt_path(&s.name)),
        ),
        (
            "GIT_AGENT_STATUS_FILE".to_owned(),
            path(&state.status_path(&s.name)),
        ),
    ];
    if let Some(g) = &s.group {
        env.push(("GIT_AGENT_GROUP".to_owned(), g.id.clone()));
        env.push(("GIT_AGENT_VARIANT".to_owned(), g.index.to_string()));
    }
    env.extend(s.agent.env.iter().cloned());
    env
}

fn launch_spec(state: &StateDir, s: &Session) -> LaunchSpec {
    LaunchSpec {
        program: s.agent.program.clone(),
        args: s.agent.args.clone(),
        cwd: s.worktree.clone(),
        env: agent_env(state, s),
        stdin: (s.agent.prompt_via == "stdin").then(|| state.prompt_path(&s.name)),
        log: state.log_path(&s.name),
    }
}

/// Why the agent is being stopped.
struct Stopping {
    reason: String,
    kill_at: Instant,
    killed: bool,
}

fn supervise(state: &StateDir, name: &str, signalled: &AtomicBool) -> Result<()> {
    let me = ProcessRef::current();
    let session = state.update(name, |s| {
        s.processes.supervisor = Some(me.clone());
        Ok(s.clone())
    })?;
    if session.stop_requested.is_some() || signalled.load(Ordering::SeqCst) {
        return finish(
            state,
            name,
            State::Stopped,
            Some("stopped before the agent started".into()),
            None,
        );
    }

    let runner = LocalRunner;
    let launched = match runner.launch(&launch_spec(state, &session)) {
        Ok(l) => l,
        Err(err) => {
            return finish(
                state,
                name,
                State::Failed,
                Some(format!("could not start the agent: {err:#}")),
                None,
            );
        }
    };
    let agent = launched.process.clone();
    let (tx, rx) = mpsc::channel();
    let wait = launched.wait;
    std::thread::spawn(move || {
        let _ = tx.send(wait());
    });
    let session = state.update(name, |s| {
        s.state = State::Running;
        s.started_at = Some(crate::time::now());
        s.processes.agent = Some(agent.clone());
        Ok(s.clone())
    })?;
    state.append_event(&Event::state(
        name,
        State::Running,
        Some(format!("pid {}", agent.pid)),
    ))?;

    let timeout_at = session
        .timeout_secs
        .map(|t| Instant::now() + Duration::from_secs(t));
    let mut stopping: Option<Stopping> = None;
    let exit = loop {
        match rx.recv_timeout(TICK) {
            Ok(result) => break result,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err(anyhow::anyhow!("lost track of the agent process"));
            }
        }
        match &mut stopping {
            None => {
                let reason = if signalled.load(Ordering::SeqCst) {
                    let current = state.load(name)?;
                    Some(match current.stop_requested {
                        Some(_) => "stopped by 'git agent stop'".to_owned(),
                        None => "the supervisor was asked to stop (signal)".to_owned(),
                    })
                } else if timeout_at.is_some_and(|t| Instant::now() >= t) {
                    let limit = Duration::from_secs(session.timeout_secs.unwrap_or_default());
                    Some(format!(
                        "timed out after {}",
                        crate::time::format_duration(limit)
                    ))
                } else {
                    None
                };
                if let Some(reason) = reason {
                    let grace = state
                        .load(name)?
                        .stop_requested
                        .map_or(session.stop_grace_secs, |r| r.grace_secs);
                    runner.signal(&agent, Signal::SIGTERM);
                    stopping = Some(Stopping {
                        reason,
                        kill_at: Instant::now() + Duration::from_secs(grace),
                        killed: false,
                    });
                }
            }
            Some(stop) if !stop.killed && Instant::now() >= stop.kill_at => {
                runner.signal(&agent, Signal::SIGKILL);
                stop.killed = true;
            }
            Some(_) => {}
        }
    };

    // The agent is gone; whatever it left running in its group goes too (we own that group).
    runner.terminate(&agent, LEFTOVER_GRACE);

    let (final_state, reason, exit) = match (stopping, exit) {
        (Some(stop), Ok(exit)) => (State::Stopped, Some(stop.reason), Some(exit)),
        (Some(stop), Err(_)) => (State::Stopped, Some(stop.reason), None),
        (None, Ok(exit)) if exit.code == Some(0) => (State::Done, None, Some(exit)),
        (None, Ok(exit)) => (State::Failed, Some(exit.describe()), Some(exit)),
        (None, Err(err)) => (State::Failed, Some(format!("{err:#}")), None),
    };
    finish(state, name, final_state, reason, exit)
}

/// What the agent did, for the commit message: "finished", "failed (exit 1)"…
fn how(state: State, reason: Option<&str>) -> String {
    match (state, reason) {
        (State::Done, _) => "finished".into(),
        (State::Stopped, Some(r)) => format!("was stopped ({r})"),
        (State::Stopped, None) => "was stopped".into(),
        (_, Some(r)) => format!("failed ({r})"),
        (_, None) => "failed".into(),
    }
}

/// Records the end: commits leftovers, releases our worktree lock, writes the final state.
/// Also used by `git agent stop` when the supervisor is gone.
pub fn finish(
    state: &StateDir,
    name: &str,
    final_state: State,
    reason: Option<String>,
    exit: Option<Exit>,
) -> Result<()> {
    let session = state.load(name)?;
    let commit = if !session.auto_commit {
        CommitOutcome::Disabled
    } else if session.started_at.is_none() {
        CommitOutcome::Clean
    } else {
        commit::commit_leftovers(&session, &how(final_state, reason.as_deref()))
    };
    if session.worktree.is_dir() {
        // Our later reads (`list`, `--no-optional-locks`) never write the index, so refresh
        // its stat data once now, while nobody works in the worktree; otherwise every `list`
        // re-reads racily-clean files. Best effort: it only fails if someone holds the lock.
        let _ = crate::process::Cmd::git_in(&session.worktree)
            .args(["update-index", "-q", "--refresh"])
            .output();
    }
    let unlocked = session.worktree_locked
        && session.worktree.is_dir()
        && crate::worktree::unlock(
            state.root().parent().unwrap_or(state.root()),
            name,
            &session.worktree,
        )
        .unwrap_or(false);
    if let CommitOutcome::Committed { sha } = &commit {
        state.append_event(&Event {
            detail: Some(sha.clone()),
            ..Event::new(name, "committed")
        })?;
    }
    state.update(name, |s| {
        s.state = final_state;
        s.reason.clone_from(&reason);
        s.exit = exit;
        s.ended_at = Some(crate::time::now());
        s.commit = Some(commit.clone());
        if unlocked || !s.worktree.is_dir() {
            s.worktree_locked = false;
        }
        Ok(())
    })?;
    state.append_event(&Event::state(name, final_state, reason))?;
    Ok(())
}
