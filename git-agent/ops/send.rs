//! Delivering a follow-up to a session's agent (`git agent send`, `resume`, `review --send`,
//! `sync --ask-agent`): the next run in the same worktree, resuming the agent's own
//! conversation where its profile can, or queued for the end of the current run.

use anyhow::Result;

use crate::error::Failure;
use crate::git::repo::Repo;
use crate::procs::ProcessRef;
use crate::session::{RunKind, State};
use crate::state::Event;
use crate::{git::worktree, supervisor};

/// What became of a follow-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// A new run started.
    Run {
        /// Its number.
        n: u32,
        kind: RunKind,
        /// `None` if the agent cannot resume its conversation (it got the task afresh).
        resumed: Option<Resumed>,
        /// Every slot was taken: the run waits in the queue (`agent.maxParallel`).
        queued: bool,
    },
    /// Queued for the end of the current run: how many are waiting.
    Queued(usize),
}

/// The agent's own conversation, resumed by a follow-up run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumed {
    /// The agent profile.
    pub profile: String,
    /// The agent's own session id that is resumed, if it told us one.
    pub session_id: Option<String>,
}

/// Delivers `message` to the session's agent: starts the next run (resuming the agent's
/// conversation where the profile can), or queues it (`queue`) while the agent runs.
/// Refused while `git agent merge` holds the session ([`StateDir::hold`]).
///
/// [`StateDir::hold`]: crate::state::StateDir::hold
pub fn deliver(repo: &Repo, name: &str, message: &str, queue: bool) -> Result<Delivered> {
    deliver_as(repo, name, message, queue, RunKind::Send)
}

/// [`deliver`], for a run of the given kind (`resume` starts [`RunKind::Resume`] runs).
pub fn deliver_as(
    repo: &Repo,
    name: &str,
    message: &str,
    queue: bool,
    kind: RunKind,
) -> Result<Delivered> {
    let state = repo.state();
    // Not while a merge holds the session, from its first check to its end: its cleanup
    // would stop the run. Held until the run has started, so a merge that comes after sees
    // it running. Asked first: the merge also holds the removal lock while it builds.
    let what = if kind == RunKind::Resume {
        "git agent resume"
    } else {
        "git agent send"
    };
    let _hold = match state.hold(name, what, false)? {
        Ok(hold) => hold,
        Err(holder) => {
            return Err(Failure::fatal(format!(
                "'{name}' is held by {holder}; no run of its agent starts until that ends"
            ))
            .hint(format!(
                "wait for it; if the session is still there afterwards, run this again \
                 (see 'git agent show {name}')"
            ))
            .into());
        }
    };
    // Nor while the session is being removed (its worktree is in use).
    let _exclusive = state.removal_lock(name)?;
    carry_interrupted(repo, &state, name)?;
    let lock = state.lock()?;
    let mut s = state.load(name)?;
    match s.live_state() {
        live if live.is_active() => {
            if !queue {
                return Err(Failure::fatal(format!("the agent of '{name}' is still running ({live})"))
                    .hint(format!("wait for it with 'git agent wait {name}', stop it with 'git agent stop {name}',"))
                    .hint("or deliver the message when its current run ends with --queue")
                    .into());
            }
            let queued = supervisor::enqueue(&state, &lock, name, message)?;
            drop(lock);
            state.append_event(&Event {
                detail: Some(format!("{queued} queued")),
                ..Event::new(name, "queued")
            })?;
            return Ok(Delivered::Queued(queued));
        }
        State::Lost => {
            return Err(Failure::fatal(format!(
                "the supervisor of '{name}' is gone (the session is lost)"
            ))
            .hint(format!(
                "record its end with 'git agent stop {name}', then send again"
            ))
            .into());
        }
        _ => {}
    }
    refuse_spent(&s)?;
    if !s.worktree.is_dir() {
        return Err(Failure::fatal(format!(
            "the worktree of '{name}' is gone: {}",
            s.worktree.display()
        ))
        .hint("a follow-up runs in the session's worktree; there is nothing to continue")
        .into());
    }
    // Only a worktree git-agent made for it (invariant 12): never the user's checkout.
    worktree::ensure_ours(
        repo,
        &s,
        "nothing was run there; 'git agent doctor --fix' leaves the record without a worktree",
    )?;
    let run = supervisor::followup_run(&state, &s, message, kind)?;
    let (n, resumed) = (run.n, run.resumed);
    supervisor::prepare_next(&mut s, run);
    if s.run_token.is_none() {
        // A record from before run tokens: from now on, what its agent starts is tagged.
        s.run_token = Some(crate::session::Session::new_run_token(name));
    }
    s.processes.creator = Some(ProcessRef::current());
    s.processes.supervisor = None;
    s.processes.agent = None;
    s.worktree_locked = worktree::lock(repo.common_dir(), name, &s.worktree).unwrap_or(false);
    state.write(&lock, &s)?;
    drop(lock);
    state.append_event(&Event {
        detail: Some(format!("run {n}")),
        ..Event::new(
            name,
            if kind == RunKind::Resume {
                "resume"
            } else {
                "send"
            },
        )
    })?;

    let child = supervisor::spawn(repo.common_dir(), name, &s.worktree)?;
    let started = supervisor::wait_started(&state, name, child)?;
    let queued = started.state == State::Queued;
    // The conversation resumed is the one recorded before this run: a run that takes up a
    // carried conversation (a fork's) soon reports an id of its own.
    let resumed = resumed.then_some(Resumed {
        profile: started.agent.profile,
        session_id: s.agent_session_id.clone(),
    });
    Ok(Delivered::Run {
        n,
        kind,
        resumed,
        queued,
    })
}

/// A `fork` or `new --continue` killed before it carried its conversation: carried now, so
/// the first run of its agent takes it up. Outside the state lock (opencode's carry runs
/// opencode), and only into the session's own worktree (invariant 12).
fn carry_interrupted(repo: &Repo, state: &crate::state::StateDir, name: &str) -> Result<()> {
    let s = state.load(name)?;
    if s.conversation.is_none() || s.live_state().is_active() || !s.worktree.is_dir() {
        return Ok(());
    }
    worktree::ensure_ours(
        repo,
        &s,
        "nothing was run there; 'git agent doctor --fix' leaves the record without a worktree",
    )?;
    crate::ops::create::take_up::carry_if_interrupted(state, &s)?;
    Ok(())
}

/// Refuses a new run of a session that has spent its budget: the budget covers all its runs,
/// and a run started with nothing of it left would only be stopped again, after its agent had
/// spent more (invariant 13: refused up front).
fn refuse_spent(s: &crate::session::Session) -> Result<()> {
    use crate::agents::output::{format_cost, format_spend};
    let Some(budget) = s.limits.budget_usd else {
        return Ok(());
    };
    let spent = s.usage();
    if spent.cost_usd.is_some_and(|usd| usd >= budget) {
        return Err(Failure::fatal(format!(
            "'{}' has spent its budget ({} of {}); its agent is not started again",
            s.name,
            format_spend(&spent).unwrap_or_default(),
            format_cost(budget)
        ))
        .hint("a session's budget covers all its runs: for more work, start a new session")
        .into());
    }
    Ok(())
}

/// A review round sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewSent {
    pub delivered: Delivered,
    /// The round's number.
    pub round: u32,
    pub comments: usize,
}

impl ReviewSent {
    /// The line that says the round went.
    pub fn summary(&self) -> String {
        format!(
            "Review round {} ({} comments) sent.",
            self.round, self.comments
        )
    }
}

/// Sends the open review round of a session (`send --review`, `review --send`) and marks it
/// sent. `delivered` hears of the delivery as soon as it is done, before the round is marked.
pub fn send_review(
    repo: &Repo,
    name: &str,
    queue: bool,
    delivered: impl FnOnce(&Delivered) -> Result<()>,
) -> Result<ReviewSent> {
    let state = repo.state();
    let Some(round) = crate::state::rounds::open_round(&state, name)? else {
        return Err(Failure::fatal(format!("'{name}' has no open review round to send"))
            .hint(format!("add comments with: git agent review {name} --comment PATH:LINE \"text\" (or --edit)"))
            .into());
    };
    if round.comments.is_empty() {
        return Err(Failure::fatal(format!(
            "review round {} of '{name}' has no comments",
            round.n
        ))
        .into());
    }
    let outcome = deliver(repo, name, &round.message(), queue)?;
    delivered(&outcome)?;
    let run = match outcome {
        Delivered::Run { n, .. } => n,
        // Queued: it reaches the run after the current one.
        Delivered::Queued(_) => u32::try_from(state.load(name)?.runs.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1),
    };
    crate::state::rounds::mark_sent(&state, &round, run)?;
    Ok(ReviewSent {
        delivered: outcome,
        round: round.n,
        comments: round.comments.len(),
    })
}
