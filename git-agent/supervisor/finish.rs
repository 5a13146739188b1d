//! The end of a run: leftover changes committed, the end recorded under the state lock, and
//! then either the next queued follow-up prepared or the session ended and our worktree lock
//! released. Also records the end of a session whose supervisor is gone (`git agent stop`).
//!
//! Owns the end of the record (run end, exit, commit, changes snapshot, final state). It
//! starts no process of the agent's: the supervisor's loop starts the prepared next run.

use anyhow::Result;

use super::RunEnd;
use super::followups::{dequeue, drop_queue, followup_run, prepare_next};
use crate::agents::output::{Format, Outcome};
use crate::commit;
use crate::session::{CommitOutcome, RunKind, Session, State};
use crate::state::{Event as StateEvent, StateDir};

/// What the agent did, for the commit message: "finished", "failed (exit 1)"…
fn how(state: State, reason: Option<&str>) -> String {
    match (state, reason) {
        (State::Done, _) => "finished".into(),
        (State::Stopped, Some(r)) => format!("was stopped ({r})"),
        (State::Stopped, None) => "was stopped".into(),
        (State::OverBudget, Some(r)) => format!("was stopped ({r})"),
        (State::RateLimited, Some(r)) => format!("hit a rate limit ({r})"),
        (_, Some(r)) => format!("failed ({r})"),
        (_, None) => "failed".into(),
    }
}

/// Records the end of the last run: commits leftovers, then, under the lock, either starts
/// the next queued follow-up (returning the session ready for it) or ends the session and
/// releases our worktree lock. Also used by `git agent stop` when the supervisor is gone.
pub(super) fn finish(state: &StateDir, name: &str, end: RunEnd) -> Result<Next> {
    let (commit, snapshot) = settle(state, name, &end)?;

    let lock = state.lock()?;
    let mut s = state.load(name)?;
    record_end(&mut s, &end, commit, snapshot);
    let (mut end_state, mut reason) = (end.state, end.reason.clone());
    if end_state == State::RateLimited {
        match super::retry::plan(state, &s, reason.as_deref().unwrap_or("rate-limited"))? {
            Ok(retry) => {
                super::retry::record(state, &lock, &mut s, retry)?;
                return Ok(Next::Retry);
            }
            Err(why) => (end_state, reason) = (State::Failed, Some(why)),
        }
    }
    s.retry = None;

    if let Some(message) = next_followup(state, name, end_state)? {
        let run = followup_run(state, &s, &message, RunKind::Send)?;
        let n = run.n;
        prepare_next(&mut s, run);
        // The supervisor carries on with the next run: the session keeps its slot.
        s.state = State::Running;
        state.write(&lock, &s)?;
        state.append_event(&StateEvent {
            detail: Some(format!("run {n}")),
            ..StateEvent::new(name, "follow-up")
        })?;
        return Ok(Next::Run(Box::new(s)));
    }
    s.reason = reason.clone();
    close(state, &lock, &mut s, end_state, reason)?;
    drop(lock);
    Ok(Next::End)
}

/// What the supervisor does after a run.
pub(super) enum Next {
    /// The next run, prepared in the record (a queued follow-up).
    Run(Box<Session>),
    /// The agent hit a rate limit: resume its conversation when the record's retry says.
    Retry,
    /// The session has ended.
    End,
}

/// Ends the session in `end_state` (under the state lock `lock`): the state event, the
/// record, and our worktree lock released.
pub(super) fn close(
    state: &StateDir,
    lock: &crate::state::LockGuard,
    s: &mut Session,
    end_state: State,
    reason: Option<String>,
) -> Result<()> {
    let name = s.name.clone();
    s.state = end_state;
    if s.worktree_locked {
        // Also when the checkout is gone: git keeps its entry, and our lock, until removed.
        let common_dir = state.root().parent().unwrap_or(state.root());
        if crate::git::worktree::unlock(common_dir, &name, &s.worktree).unwrap_or(false)
            || !s.worktree.is_dir()
        {
            s.worktree_locked = false;
        }
        hand_lock_over(state, lock, s, common_dir)?;
    }
    // The event first: whoever sees the record end (`wait`) finds the event there too.
    state.append_event(&StateEvent::state(&name, end_state, reason))?;
    state.write(lock, s)
}

/// Gemini's stray chat files of this session (left by a resume) go now, before a run of
/// another session in the same worktree makes gemini delete the conversation along with them
/// (`agents/gemini_strays.rs`). Only for a local run: elsewhere gemini's home is not ours.
fn remove_gemini_strays(session: &Session) {
    if session.agent.format != Format::Gemini || session.runner.is_some() {
        return;
    }
    if let (Some(id), Some(dir)) = (
        session.agent_session_id.as_deref(),
        crate::agents::gemini_dir(&session.agent),
    ) {
        crate::agents::remove_gemini_strays(&dir, &session.worktree, id);
    }
}

/// The worktree after a run, before the end is recorded: leftovers committed (as the
/// session's setting says), the index refreshed, and the snapshot of its changes that plain
/// `list` shows from now on.
fn settle(
    state: &StateDir,
    name: &str,
    end: &RunEnd,
) -> Result<(CommitOutcome, Option<crate::git::changes::Changes>)> {
    let session = state.load(name)?;
    let started = session.run().and_then(|r| r.started_at).is_some();
    if started {
        remove_gemini_strays(&session);
    }
    let commit = if !session.auto_commit {
        CommitOutcome::Disabled
    } else if !started {
        CommitOutcome::Clean
    } else if let Some(other) = state.running_alongside(&session).map(|o| o.name) {
        // Its files are half-written: the last session of the worktree to end commits.
        CommitOutcome::Skipped {
            reason: format!("deferred: {other} still runs in this worktree"),
        }
    } else if end.not_brought_back {
        CommitOutcome::Skipped {
            reason: "the agent's work is kept aside; what the worktree holds is not its".into(),
        }
    } else {
        commit::commit_leftovers(&session, &how(end.state, end.reason.as_deref()))
    };
    // A worktree whose git link the agent rewrote gets no git command of ours (the commit
    // above was skipped for the same reason, saying so).
    let common_dir = state.root().parent().unwrap_or(state.root());
    let linked = crate::git::link::check_link(common_dir, &session.worktree).is_ok();
    if linked && session.worktree.is_dir() {
        // Our later reads (`list`, `--no-optional-locks`) never write the index, so refresh
        // its stat data once now, while nobody works in the worktree; otherwise every `list`
        // re-reads racily-clean files. Best effort: it only fails if someone holds the lock.
        let _ = crate::git::in_dir(&session.worktree)
            .args(["update-index", "-q", "--refresh"])
            .output();
    }
    // What plain `list` shows from now on, without looking at the worktree.
    let snapshot = linked
        .then(|| crate::git::repo::Repo::open_common(common_dir))
        .and_then(|repo| {
            repo.and_then(|repo| crate::git::changes::of(&repo, &session))
                .ok()
        })
        .map(|c| crate::git::changes::Changes {
            at: Some(crate::time::now()),
            ..c
        });
    if let CommitOutcome::Committed { sha } = &commit {
        state.append_event(&StateEvent {
            detail: Some(sha.clone()),
            ..StateEvent::new(name, "committed")
        })?;
    }
    Ok((commit, snapshot))
}

/// Writes the end of the last run into the record `s` (read under the state lock).
fn record_end(
    s: &mut Session,
    end: &RunEnd,
    commit: CommitOutcome,
    snapshot: Option<crate::git::changes::Changes>,
) {
    let now = crate::time::now();
    if let Some(id) = &end.outcome.session_id {
        s.agent_session_id = Some(id.clone());
    }
    if let Some(r) = s.run_mut() {
        r.ended_at = Some(now);
        r.state = Some(end.state);
        r.reason.clone_from(&end.reason);
        r.exit = end.exit;
        r.outcome = end.outcome.clone();
        r.commit = Some(commit.clone());
    }
    s.reason.clone_from(&end.reason);
    s.exit = end.exit;
    s.ended_at = Some(now);
    s.commit = Some(commit);
    if snapshot.is_some() {
        s.changes = snapshot;
    }
}

/// The follow-up to run next, taken off the queue; none if the agent was stopped (by the
/// user, a timeout or its budget), which drops the whole queue.
fn next_followup(state: &StateDir, name: &str, ended: State) -> Result<Option<String>> {
    let next = if matches!(ended, State::Stopped | State::OverBudget) {
        let dropped = drop_queue(state, name);
        if dropped > 0 {
            state.append_event(&StateEvent {
                detail: Some(format!(
                    "{dropped} queued follow-up(s) dropped: the agent was stopped"
                )),
                ..StateEvent::new(name, "queue-dropped")
            })?;
        }
        None
    } else {
        dequeue(state, name)?
    };
    Ok(next)
}

/// Records the end of a session whose supervisor is gone (used by `git agent stop`).
pub fn finish_lost(state: &StateDir, name: &str, reason: &str) -> Result<()> {
    let session = state.load(name)?;
    let end = RunEnd {
        state: State::Stopped,
        reason: Some(reason.to_owned()),
        exit: None,
        outcome: Outcome::default(),
        // An agent that worked elsewhere left nothing of its own in the worktree here: what
        // its runner saved is kept aside (`clean_up`), not collected.
        not_brought_back: session.runner.as_ref().is_some_and(|r| !r.works_here()),
    };
    let outcome = session.run().map(|r| r.outcome.clone()).unwrap_or_default();
    finish(state, name, RunEnd { outcome, ..end })?;
    Ok(())
}

/// Our lock on a worktree another session still runs in (`new --in`) passes to that session,
/// under its name: the checkout stays locked while an agent works in it, and that session's
/// own end releases it.
fn hand_lock_over(
    state: &StateDir,
    lock: &crate::state::LockGuard,
    s: &Session,
    common_dir: &std::path::Path,
) -> Result<()> {
    if s.worktree_locked || !s.worktree.is_dir() {
        return Ok(());
    }
    let Some(next) = state.running_alongside(s).map(|o| o.name) else {
        return Ok(());
    };
    let mut o = state.load(&next)?;
    if !o.worktree_locked && crate::git::worktree::lock(common_dir, &o.name, &o.worktree)? {
        o.worktree_locked = true;
        state.write(lock, &o)?;
    }
    Ok(())
}
