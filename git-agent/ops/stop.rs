//! Stopping a session's agent (`git agent stop`, and every command that must stop one first:
//! `rm`, `resume`, `doctor --fix`).
//!
//! The supervisor does the stopping (it owns the agent and records the end): we mark the
//! record and signal the supervisor. If the supervisor is gone, we stop what is left of the
//! agent's process group ourselves and record the end in its place.

use std::time::{Duration, Instant};

use anyhow::Result;
use nix::sys::signal::Signal;

use crate::error::Failure;
use crate::session::{Session, State, StopRequest};
use crate::state::{Event, StateDir};
use crate::supervisor;

/// Extra time, beyond the grace period, for the supervisor to record the end.
const SETTLE: Duration = Duration::from_secs(30);

/// Stops one session, as `git agent stop`; `None` if it had already ended.
pub fn stop_session(
    state: &StateDir,
    session: &Session,
    grace: Option<Duration>,
) -> Result<Option<Session>> {
    stop_session_for(state, session, grace, None)
}

/// [`stop_session`], for another command: `reason` becomes the run's end reason (never
/// "stopped by 'git agent stop'" for a stop nobody asked for with that command).
pub fn stop_session_for(
    state: &StateDir,
    session: &Session,
    grace: Option<Duration>,
    reason: Option<&str>,
) -> Result<Option<Session>> {
    let name = session.name.as_str();
    let lost = |s: &Session| stop_lost(state, s, grace, reason);
    // A run that ended just after the caller read its record looks lost: read it again.
    let settled;
    let session = if session.live_state() == State::Lost {
        settled = state.load_settled(name)?;
        &settled
    } else {
        session
    };
    match session.live_state() {
        State::Lost => return lost(session).map(Some),
        State::Queued => {
            let why = reason.unwrap_or("stopped by 'git agent stop' while queued");
            if let Some(stopped) = supervisor::schedule::dequeue(state, name, why)? {
                return Ok(Some(stopped));
            }
            // Given a slot meanwhile: it is starting, stop it as such.
        }
        s if s.is_terminal() => return Ok(None),
        _ => {}
    }
    let grace_secs = grace.map_or(session.stop_grace_secs, |g| g.as_secs());
    let current = state.update(name, |s| {
        s.stop_requested = Some(StopRequest {
            at: crate::time::now(),
            grace_secs,
            reason: reason.map(str::to_owned),
        });
        Ok(s.clone())
    })?;
    state.append_event(&Event::new(name, "stop-requested"))?;
    // Signal the supervisor (it escalates to SIGKILL after the grace period). Without one
    // yet, the session is still being created: the supervisor sees the request when it starts.
    if let Some(sup) = &current.processes.supervisor {
        sup.signal(Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(grace_secs) + SETTLE;
    loop {
        let now = state.load_settled(name)?;
        match now.live_state() {
            State::Lost => return lost(&now).map(Some),
            s if s.is_terminal() => return Ok(Some(now)),
            // Asked to stop while it was starting, it joined the queue meanwhile and its
            // supervisor exited: nothing will stop it but us (it would wait for a slot first).
            State::Queued => {
                let why = reason.unwrap_or("stopped by 'git agent stop' while queued");
                if let Some(stopped) = supervisor::schedule::dequeue(state, name, why)? {
                    return Ok(Some(stopped));
                }
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(Failure::fatal("the agent did not stop in time")
                .hint(format!(
                    "see 'git agent show {name}'; run 'git agent stop {name}' again to retry"
                ))
                .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A lost session whose runner can follow its agent again (an SSH runner's remote session),
/// for `resume` and `doctor --fix`: its end is recorded here without stopping its agent
/// there, and the next resumed run reconnects. False, with nothing done, if it is not lost
/// (any more) or its runner cannot: stop it instead ([`stop_session_for`]).
pub fn let_go_lost(state: &StateDir, session: &Session, reason: &str) -> Result<bool> {
    let name = session.name.as_str();
    let session = state.load_settled(name)?;
    if session.live_state() != State::Lost {
        return Ok(false);
    }
    let runner = crate::runner::for_session(state, &session);
    if !runner.let_go(session.processes.agent.as_ref())? {
        return Ok(false);
    }
    supervisor::finish_lost(state, name, reason)?;
    let _ = supervisor::schedule::advance(state);
    Ok(true)
}

/// The supervisor is gone: stop what is left of the agent and record the end ourselves.
fn stop_lost(
    state: &StateDir,
    session: &Session,
    grace: Option<Duration>,
    reason: Option<&str>,
) -> Result<Session> {
    let name = session.name.as_str();
    let grace = grace.unwrap_or(Duration::from_secs(session.stop_grace_secs));
    let runner = crate::runner::for_session(state, session);
    if let Some(agent) = &session.processes.agent {
        runner.terminate(agent, grace);
    }
    // What the runner left (a container) goes with the agent.
    runner.clean_up()?;
    let why = match reason {
        Some(r) => format!("{r}, after its supervisor was lost"),
        None => "stopped by 'git agent stop' after its supervisor was lost".to_owned(),
    };
    supervisor::finish_lost(state, name, &why)?;
    // Its slot is free now.
    let _ = supervisor::schedule::advance(state);
    state.load(name)
}
