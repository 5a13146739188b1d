//! Slots and the queue: how many agents run at once, and who starts when one ends.
//!
//! A session holds a *slot* while its live state is `running`, `waiting` or `rate-limited`
//! (its setup hook takes none). A session may start while:
//! - fewer sessions hold slots than `agent.maxParallel` (git config, read when the queue
//!   moves, so a change takes effect at once) and than its own cap (`new --max-parallel`);
//! - fewer sessions of its profile hold slots than the profile's `maxParallel`;
//! - no session of its profile is `rate-limited` (no stampede into the same limit);
//! - for a profile that starts serially, no other of its sessions is still starting;
//! - the sessions holding slots have spent less than `agent.budget.total`;
//! - the repository is not paused (`git agent pause`).
//!
//! No daemon (DESIGN §3): the queue moves when something happens, under the state lock.
//! - After its setup, a session's supervisor asks for a slot ([`acquire`]): granted, or the
//!   session becomes `queued` and the supervisor exits (nothing runs for a queued session).
//! - Whoever frees a slot or may find one free (a supervisor ending, `stop`, `rm`, `new`, a
//!   command that lists sessions) calls [`advance`]: it grants slots oldest-queued first and
//!   starts each granted session's supervisor.
//!
//! A grant is written to the record (state `running`, the new supervisor's pid and start
//! time) before the lock is released, so two commands advancing at once never start a
//! session twice nor exceed a cap; a supervisor killed while holding a slot makes its session
//! `lost`, which frees the slot for the next command to give away.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::procs::ProcessRef;
use crate::session::{Session, State};
use crate::state::{Event, LockGuard, StateDir};

/// How long a serially-started profile's session counts as starting if it never reports its
/// own session id.
pub(super) const SERIAL_START: Duration = Duration::from_secs(5);

/// The answer to a supervisor asking for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Granted,
    /// Queued: this many sessions are ahead of it.
    Queued {
        ahead: usize,
    },
    /// Another supervisor was given the session's slot: this one must leave it alone.
    Elsewhere,
}

/// The limits that apply to the whole repository, read when the queue moves.
#[derive(Debug, Clone, Default)]
pub struct RepoLimits {
    /// `agent.maxParallel`.
    pub max_parallel: Option<u32>,
    /// `agent.budget.total` (USD).
    pub budget_total: Option<f64>,
    /// `git agent pause` is in force.
    pub paused: bool,
}

impl RepoLimits {
    /// From git config of the repository whose state directory is `state`. A bad value is
    /// an error naming the key (nothing starts on a limit we cannot read).
    pub fn read(state: &StateDir) -> Result<Self> {
        let common_dir = state.root().parent().unwrap_or(state.root());
        let config = crate::git::repo::Repo::open_common(common_dir)?.config();
        Ok(Self {
            max_parallel: config.cap("agent.maxParallel")?,
            budget_total: config.budget("agent.budget.total")?,
            paused: state.paused_path().exists(),
        })
    }
}

/// True while `s` holds a slot.
pub fn holds_slot(s: &Session) -> bool {
    matches!(
        s.live_state(),
        State::Running | State::Waiting | State::RateLimited
    )
}

/// Why `candidate` may not start now, given every session and the repository's limits;
/// `None` if it may.
pub fn blocked_by(candidate: &Session, all: &[Session], limits: &RepoLimits) -> Option<String> {
    if limits.paused {
        return Some("the repository is paused ('git agent resume-all' releases it)".into());
    }
    let others = || all.iter().filter(|s| s.name != candidate.name);
    let holders: Vec<&Session> = others().filter(|s| holds_slot(s)).collect();
    let caps = [limits.max_parallel, candidate.limits.max_parallel];
    if let Some(cap) = caps.into_iter().flatten().min()
        && holders.len() >= cap as usize
    {
        return Some(format!("{} of {cap} slots are taken", holders.len()));
    }
    let profile = candidate.agent.profile.as_str();
    let same_profile = |s: &Session| s.agent.profile == profile;
    if let Some(cap) = candidate.limits.profile_max_parallel {
        let running = holders.iter().filter(|s| same_profile(s)).count();
        if running >= cap as usize {
            return Some(format!("{running} of {cap} {profile} slots are taken"));
        }
    }
    if let Some(limited) = others()
        .filter(|s| same_profile(s))
        .find(|s| s.live_state() == State::RateLimited)
    {
        return Some(format!("{profile} is rate-limited ({})", limited.name));
    }
    if candidate.limits.start_serially
        && let Some(starting) = holders
            .iter()
            .find(|s| same_profile(s) && still_starting(s))
    {
        return Some(format!("{} is still starting", starting.name));
    }
    if let Some(total) = limits.budget_total {
        let spent: f64 = holders.iter().filter_map(|s| s.usage().cost_usd).sum();
        if spent >= total {
            return Some(format!(
                "running sessions have spent ${spent:.2} of agent.budget.total ${total:.2}"
            ));
        }
    }
    None
}

/// A session of a serially-started profile whose current run has not yet told its own
/// session id: granted but not launched yet, or launched less than [`SERIAL_START`] ago.
fn still_starting(s: &Session) -> bool {
    let Some(run) = s.run() else { return false };
    if run.outcome.session_id.is_some() {
        return false;
    }
    // Not from its creation: one that waited in the queue longer than that would let the
    // next one start with it when both are granted at once.
    let Some(since) = run.started_at else {
        return true;
    };
    crate::time::between(since, crate::time::now()) < SERIAL_START
}

/// Asked by the supervisor of `name` once its setup is done: a slot now, or the queue.
/// A session granted its slot by [`advance`] (its state is already `running`) keeps it; a
/// new one joins the queue and gets a slot only if none queued before it can take it.
pub fn acquire(state: &StateDir, name: &str) -> Result<Slot> {
    let limits = RepoLimits::read(state)?;
    let common_dir = state.root().parent().unwrap_or(state.root()).to_owned();
    let lock = state.lock()?;
    let mut me = state.load(name)?;
    if me.state == State::Running {
        // Granted by `advance` to the supervisor it started, which is us, unless the command
        // that started us was killed before it recorded the grant and another command gave
        // the slot to a supervisor of its own since: two would run the agent.
        let ours = me
            .processes
            .supervisor
            .as_ref()
            .is_some_and(|p| p.pid == std::process::id());
        return Ok(if ours { Slot::Granted } else { Slot::Elsewhere });
    }
    // In the queue (in memory) first: it gets a slot only in its turn.
    me.state = State::Queued;
    me.queued_at.get_or_insert_with(crate::time::now);
    advance_locked(state, &lock, &common_dir, &limits, Some(&me))?;
    if state.load(name)?.state == State::Running {
        return Ok(Slot::Granted);
    }
    let mut all = state.load_readable(&lock)?;
    all.retain(|s| s.name != name);
    all.push(me.clone());
    let queue = queue(&all);
    let ahead = queue
        .iter()
        .position(|s| s.name == name)
        .unwrap_or(queue.len());
    let why = blocked_by(&me, &all, &limits).unwrap_or_else(|| "others are ahead".into());
    // The event first: whoever sees the record queued finds why in the events.
    state.append_event(&Event::state(
        name,
        State::Queued,
        Some(format!("{ahead} ahead; {why}")),
    ))?;
    state.write(&lock, &me)?;
    Ok(Slot::Queued { ahead })
}

/// The queued sessions, first to start first.
pub fn queue<'a>(all: impl IntoIterator<Item = &'a Session>) -> Vec<&'a Session> {
    let mut queued: Vec<&Session> = all
        .into_iter()
        .filter(|s| s.live_state() == State::Queued)
        .collect();
    queued.sort_by(|a, b| {
        (a.queued_at, a.created_at, &a.name).cmp(&(b.queued_at, b.created_at, &b.name))
    });
    queued
}

/// Gives free slots to queued sessions, oldest first, and starts their supervisors. Returns
/// the names started. Safe to call from anywhere at any time: it only acts on what the
/// records say under the lock.
pub fn advance(state: &StateDir) -> Result<Vec<String>> {
    // What an agent runs (its `git agent list`) never starts another session's agent: that
    // would run inside this agent's sandbox and carry its run token.
    if std::env::var_os(crate::procs::TOKEN_VAR).is_some() || !has_queue(state) {
        return Ok(Vec::new());
    }
    let common_dir = state.root().parent().unwrap_or(state.root()).to_owned();
    let limits = RepoLimits::read(state)?;
    let lock = state.lock()?;
    advance_locked(state, &lock, &common_dir, &limits, None)
}

/// [`advance`] under the lock. `me` is the session whose supervisor is asking, queued in
/// memory only: it is granted its slot in its turn (and written then), not started again.
fn advance_locked(
    state: &StateDir,
    lock: &LockGuard,
    common_dir: &Path,
    limits: &RepoLimits,
    me: Option<&Session>,
) -> Result<Vec<String>> {
    let mut started = Vec::new();
    loop {
        let mut all = state.load_readable(lock)?;
        if let Some(me) = me {
            all.retain(|s| s.name != me.name);
            if state.load(&me.name)?.state != State::Running {
                all.push(me.clone());
            }
        }
        let next = queue(&all)
            .into_iter()
            .find(|s| blocked_by(s, &all, limits).is_none())
            .map(|s| (s.name.clone(), s.worktree.clone()));
        let Some((name, worktree)) = next else { break };
        if me.is_some_and(|me| me.name == name) {
            grant(state, lock, &name, None)?;
        } else {
            start_granted(state, lock, common_dir, &name, &worktree)?;
            started.push(name);
        }
    }
    Ok(started)
}

/// `git agent start NAME`: the queued session starts now, whatever the limits say.
pub fn start_now(state: &StateDir, name: &str) -> Result<bool> {
    let common_dir = state.root().parent().unwrap_or(state.root()).to_owned();
    let lock = state.lock()?;
    let s = state.load(name)?;
    if s.live_state() != State::Queued {
        return Ok(false);
    }
    start_granted(state, &lock, &common_dir, name, &s.worktree)?;
    Ok(true)
}

/// Takes a queued session out of the queue for good (`stop`, `rm`): it ends `stopped` with
/// `reason`, and its worktree lock is released. `None` if it was not queued any more (someone
/// gave it a slot meanwhile: stop it as a running one).
pub fn dequeue(state: &StateDir, name: &str, reason: &str) -> Result<Option<Session>> {
    let common_dir = state.root().parent().unwrap_or(state.root()).to_owned();
    let lock = state.lock()?;
    let mut s = state.load(name)?;
    if s.live_state() != State::Queued {
        return Ok(None);
    }
    s.state = State::Stopped;
    s.queued_at = None;
    s.reason = Some(reason.to_owned());
    s.ended_at = Some(crate::time::now());
    if s.worktree_locked
        && (crate::git::worktree::unlock(&common_dir, name, &s.worktree).unwrap_or(false)
            || !s.worktree.is_dir())
    {
        s.worktree_locked = false;
    }
    state.append_event(&Event::state(name, State::Stopped, Some(reason.to_owned())))?;
    state.write(&lock, &s)?;
    Ok(Some(s))
}

/// Cheap check before taking the lock: any record says `queued`.
fn has_queue(state: &StateDir) -> bool {
    state
        .load_all()
        .is_ok_and(|l| l.sessions.iter().any(|s| s.live_state() == State::Queued))
}

/// Records the grant and starts the session's supervisor, whose pid is recorded before the
/// lock is released (the process advancing may exit at once: the session must not look lost).
fn start_granted(
    state: &StateDir,
    lock: &LockGuard,
    common_dir: &Path,
    name: &str,
    worktree: &Path,
) -> Result<()> {
    let child = match super::spawn(common_dir, name, worktree) {
        Ok(child) => {
            crate::faults::point("advance:spawned");
            child
        }
        Err(err) => {
            let mut s = state.load(name)?;
            s.state = State::Failed;
            s.reason = Some(format!("could not start the supervisor: {err:#}"));
            s.ended_at = Some(crate::time::now());
            state.write(lock, &s)?;
            state.append_event(&Event::state(name, State::Failed, s.reason.clone()))?;
            return Ok(());
        }
    };
    grant(state, lock, name, Some(ProcessRef::of_child(child.id())))
}

/// Writes the grant: state `running` (a slot held from now on) and, when someone else
/// started it, the new supervisor.
fn grant(
    state: &StateDir,
    lock: &LockGuard,
    name: &str,
    supervisor: Option<ProcessRef>,
) -> Result<()> {
    let mut s = state.load(name)?;
    s.queued_at = None;
    s.state = State::Running;
    let waited = supervisor.is_some();
    if let Some(p) = supervisor {
        s.processes.supervisor = Some(p);
    }
    state.write(lock, &s)?;
    if waited {
        state.append_event(&Event::new(name, "dequeued"))?;
    }
    Ok(())
}
