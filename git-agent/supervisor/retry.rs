//! Automatic retries after a rate or usage limit: the run that hit the limit ends
//! `rate-limited`, and the supervisor resumes the agent's own conversation (a follow-up run
//! of kind `retry`) when the limit lifts.
//!
//! When: the reset time the CLI reported, else exponential backoff from `agent.retry.base`
//! (default 30s, doubling each attempt, at most an hour) with up to a fifth more of jitter, so
//! sessions limited together do not all come back at the same moment. At most
//! `agent.retry.max` (default 5) retries in a row; then the session ends `failed`, saying so.
//! While it waits the session keeps its slot, its profile's queued sessions wait too (see
//! `schedule.rs`), `git agent pause` holds the retry, and `git agent stop` ends the wait.
//!
//! Owns the retry's plan, its record (`Session::retry`) and the wait. The run itself is
//! prepared by `followups.rs` and run by the supervisor's loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;

use super::followups::{followup_run, prepare_next};
use crate::session::{Retry, RunKind, Session, State};
use crate::state::{Event, LockGuard, StateDir};

/// Retries in a row before giving up, unless `agent.retry.max` says otherwise.
const DEFAULT_MAX: u64 = 5;
/// The first backoff, unless `agent.retry.base` says otherwise.
const DEFAULT_BASE: Duration = Duration::from_secs(30);
/// The longest backoff (a reset time the CLI reported may be later).
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// What the agent is told when its conversation is resumed.
pub const CONTINUE: &str =
    "You were interrupted by a rate limit. Continue the task where you left off.";

/// The next retry of `s`, whose last run hit a limit that said `message`; `Err` with the
/// reason the session ends `failed` when no retry is left.
pub(super) fn plan(
    state: &StateDir,
    s: &Session,
    message: &str,
) -> Result<std::result::Result<Retry, String>> {
    let common_dir = state.root().parent().unwrap_or(state.root());
    let config = crate::git::repo::Repo::open_common(common_dir)?.config();
    let max = config.integer("agent.retry.max")?.unwrap_or(DEFAULT_MAX);
    let base = config.duration("agent.retry.base")?.unwrap_or(DEFAULT_BASE);
    let attempt = s.retry.as_ref().map_or(0, |r| r.attempt) + 1;
    if u64::from(attempt) > max {
        let tried = if max == 0 {
            "agent.retry.max is 0".to_owned()
        } else {
            format!("gave up after {max} automatic retries")
        };
        return Ok(Err(format!("rate-limited ({tried}): {message}")));
    }
    let now = crate::time::now();
    let reported = s
        .run()
        .and_then(|r| r.outcome.rate_limit.as_ref())
        .and_then(|r| r.retry_at)
        .filter(|at| *at > now);
    let wait = match reported {
        Some(at) => crate::time::between(now, at) + jitter(Duration::from_secs(5)),
        None => {
            let backoff = base
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(MAX_BACKOFF);
            backoff + jitter(backoff / 5)
        }
    };
    let at = now
        .checked_add(jiff::SignedDuration::try_from(wait).unwrap_or(jiff::SignedDuration::ZERO))
        .unwrap_or(now);
    Ok(Ok(Retry {
        at,
        attempt,
        message: message.to_owned(),
    }))
}

/// Up to `most`, different in every process and moment.
fn jitter(most: Duration) -> Duration {
    let nanos =
        crate::time::now().as_nanosecond().unsigned_abs() as u64 ^ u64::from(std::process::id());
    let most_ms = u64::try_from(most.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(nanos.wrapping_mul(0x9E37_79B9_7F4A_7C15) % most_ms)
}

/// Records that `s` waits to retry (under the state lock).
pub(super) fn record(
    state: &StateDir,
    lock: &LockGuard,
    s: &mut Session,
    retry: Retry,
) -> Result<()> {
    let detail = format!(
        "retry {} at {}: {}",
        retry.attempt,
        crate::time::format_timestamp(retry.at),
        retry.message
    );
    s.state = State::RateLimited;
    s.retry = Some(retry);
    state.append_event(&Event::state(&s.name, State::RateLimited, Some(detail)))?;
    state.write(lock, s)
}

/// Waits until the retry time (held while the repository is paused), then prepares the
/// retry run in the record and returns the session ready for it. `None` if the session was
/// stopped meanwhile (its end is recorded).
pub(super) fn wait(
    state: &StateDir,
    name: &str,
    signalled: &AtomicBool,
) -> Result<Option<Session>> {
    loop {
        let s = state.load(name)?;
        let at = s.retry.as_ref().map_or_else(crate::time::now, |r| r.at);
        if signalled.load(Ordering::SeqCst) || s.stop_requested.is_some() {
            let reason = match &s.stop_requested {
                Some(request) => format!("{} while it waited to retry", request.describe()),
                None => "stopped while it waited to retry after a rate limit".to_owned(),
            };
            let lock = state.lock()?;
            let mut s = state.load(name)?;
            s.retry = None;
            s.reason = Some(reason.clone());
            s.ended_at = Some(crate::time::now());
            super::finish::close(state, &lock, &mut s, State::Stopped, Some(reason))?;
            return Ok(None);
        }
        if crate::time::now() >= at && !state.paused_path().exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let lock = state.lock()?;
    let mut s = state.load(name)?;
    let run = followup_run(state, &s, CONTINUE, RunKind::Retry)?;
    let n = run.n;
    prepare_next(&mut s, run);
    // It kept its slot while it waited.
    s.state = State::Running;
    state.write(&lock, &s)?;
    state.append_event(&Event {
        detail: Some(format!("run {n}")),
        ..Event::new(name, "retry")
    })?;
    Ok(Some(s))
}
