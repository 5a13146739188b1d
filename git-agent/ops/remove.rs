//! Removing a session without losing work: `git agent rm`, `clean`, and `merge` once the work
//! landed (or lost to another variant).
//!
//! The rules (DESIGN §5, invariants 1–3):
//! - A live agent is stopped first, through its supervisor (only the processes we started).
//! - A worktree with uncommitted or untracked changes (not counting ignored files or the files
//!   its agent leaves), a rebase or merge in progress, or a HEAD that left the session's branch
//!   is never removed without force; the refusal lists exactly what would be lost.
//! - A branch whose commits are not in one of its destinations *by content* (see
//!   [`crate::git::merging::merged_by`]) makes removal refuse too, unless the caller says losing the
//!   worktree is fine because the branch stays (`allow_unmerged`, for `--discard-others`).
//! - The worktree goes with a plain `git worktree remove PATH` (`--force` only with force, or
//!   for initialised submodules once [`inspect`] proved they hold nothing that exists nowhere
//!   else; never a repository-wide `prune`). A worktree someone else locked is left alone;
//!   our own lock is taken back first.
//! - A recorded worktree that git-agent did not create for the session (the main checkout,
//!   another tool's) is never looked into, stopped in or removed; only the record goes.
//! - The branch is kept unless asked; deleted only if merged (or forced) and only if we
//!   created it; its tip is always reported.
//! - The record and the session's files move to `archive/`; its ports are released.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::error::Failure;
use crate::git::merging::Memory;
use crate::git::repo::Repo;
use crate::session::{Removed, Session};
use crate::state::Event;

mod inspect;
pub use inspect::{Inspection, inspect, refusal};

/// How far a removal may go.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The user's force flag: remove a worktree that holds work, delete an unmerged branch.
    pub force: bool,
    /// Delete the branch too (only if merged, or with force; never a branch we did not create).
    pub delete_branch: bool,
    /// Remove the worktree even though the branch is not merged (the branch stays).
    pub allow_unmerged: bool,
    /// Why, for the archived record (`rm`, `merged`, `discarded`…).
    pub reason: String,
    /// Grace period when stopping a live agent.
    pub grace: Option<Duration>,
}

/// What a removal did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub name: String,
    pub worktree: PathBuf,
    pub worktree_removed: bool,
    pub branch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_tip: Option<String>,
    pub branch_deleted: bool,
    /// How the branch stood: `merged into main`, `not merged: 2 commits`…
    pub branch_state: String,
    pub stopped: bool,
    /// Why the recorded worktree was left alone: not one git-agent created for the session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worktree_kept: Option<String>,
    /// Processes the agent left behind (detached servers…) that were stopped.
    pub leftovers_stopped: usize,
    /// Processes we did not start whose working directory was in the worktree: left alone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub strangers: Vec<crate::procs::Found>,
    /// Uncommitted changes thrown away because the user forced it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub discarded: Vec<String>,
    /// What the runner left elsewhere (a session on a host that could not be reached).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_elsewhere: Option<String>,
    pub reason: String,
}

/// What [`remove`] would do with `s` now: its [`inspect`]ion and [`refusal`], where another
/// session still using the worktree (`new --in`) keeps it and the branch, and so loses nothing
/// and refuses nothing.
pub fn preview(
    repo: &Repo,
    mem: &Memory,
    s: &Session,
    opts: &Options,
    force_flag: &str,
) -> Result<(Inspection, Option<Failure>)> {
    let mut i = inspect(repo, mem, s)?;
    if let Some(other) = repo.state().sharing(s)?.into_iter().next() {
        i.not_ours = Some(format!("'{}' still uses it", other.name));
        i.shared = true;
        return Ok((i, None));
    }
    let refused = refusal(&i, opts, force_flag);
    Ok((i, refused))
}

/// Removes a session: stops its agent, removes its worktree, archives its record. The caller
/// checked [`refusal`] on a fresh [`inspect`]ion; this checks again after stopping the agent
/// (stopping commits what the agent left).
pub fn remove(repo: &Repo, s: &Session, opts: &Options, force_flag: &str) -> Result<Outcome> {
    let state = repo.state();
    refuse_foreign_branch(s, opts)?;
    let _exclusive = state.removal_lock(&s.name)?;
    let mut stopped = false;
    let mut s = state.load(&s.name)?;
    let live = s.live_state();
    if (live.is_active() || live == crate::session::State::Lost) && s.worktree.is_dir() {
        // Stopping commits what its worktree holds: never in a checkout that is not its own.
        crate::git::worktree::ensure_ours(
            repo,
            &s,
            "'git agent doctor --fix' leaves the record without a worktree; then remove it",
        )?;
    }
    if live == crate::session::State::Queued {
        // Taking it out of the queue commits nothing (its agent never ran): what its worktree
        // holds was put there by hand, and an rm refused for it must not cost the session
        // its place in the queue.
        let mem = Memory::new(repo);
        if let (_, Some(failure)) = preview(repo, &mem, &s, opts, force_flag)? {
            return Err(failure.into());
        }
    }
    if s.live_state().is_active() || s.live_state() == crate::session::State::Lost {
        let why = format!("stopped to remove the session ({})", opts.reason);
        crate::ops::stop::stop_session_for(&state, &s, opts.grace, Some(&why))?;
        stopped = true;
        s = state.load(&s.name)?;
    }
    crate::faults::point("rm:stopped");
    let mem = Memory::new(repo);
    // Another session still works in the worktree: it and the branch stay, so removing this
    // record loses nothing (and is never a reason to delete the branch).
    let (inspection, refused) = preview(repo, &mem, &s, opts, force_flag)?;
    if let Some(failure) = refused {
        return Err(failure.into());
    }
    // What the agent started and left running (a server that detached itself) carries the
    // session's environment; it goes. A process we did not start is left alone.
    let grace = opts.grace.unwrap_or(Duration::from_secs(s.stop_grace_secs));
    let around = crate::procs::find(
        s.run_token.as_deref(),
        inspection
            .not_ours
            .is_none()
            .then_some(s.worktree.as_path()),
    );
    let (ours, mut strangers): (Vec<_>, Vec<_>) = around.into_iter().partition(|f| f.tagged);
    // A git passing through (another command looking at the worktree) is not worth a word.
    strangers.retain(|f| !f.is_git());
    let leftovers_stopped = crate::procs::terminate(&ours, grace);
    // What its runner keeps elsewhere (a container, a remote session) goes; it may refuse.
    let left_elsewhere =
        crate::runner::remove_elsewhere(repo, &state, &s, (opts.force, opts.delete_branch))?;
    let mut outcome = Outcome {
        name: s.name.clone(),
        worktree: s.worktree.clone(),
        worktree_removed: false,
        branch: s.branch.clone(),
        branch_tip: inspection.branch_tip.clone(),
        branch_deleted: false,
        branch_state: inspection.branch_words(),
        stopped,
        worktree_kept: inspection.not_ours.clone(),
        leftovers_stopped,
        strangers,
        discarded: Vec::new(),
        left_elsewhere,
        reason: opts.reason.clone(),
    };
    // The worktree, if it is still registered (a missing checkout is deregistered by the same
    // command, for this worktree only; a concurrent removal may have taken it first).
    if inspection.not_ours.is_none()
        && crate::git::link::admin_dir(repo.common_dir(), &s.worktree).is_some()
    {
        // Our own lock first (only ours): git refuses to remove a locked worktree.
        let _ = crate::git::worktree::unlock(repo.common_dir(), &s.name, &s.worktree);
        crate::ops::include::unlink(&s)?;
        // `--force` without the user's flag only with submodules, which plain `git worktree
        // remove` always refuses: the inspection above proved that they, and the worktree,
        // hold nothing that exists nowhere else (no changes, no untracked files, no commits
        // off the remotes), so the force loses nothing.
        let force = (opts.force && inspection.worktree_holds_work())
            || (inspection.submodules && !inspection.worktree_holds_work());
        outcome.worktree_removed =
            crate::git::worktree::remove_if_registered(repo.common_dir(), &s.worktree, force)
                .with_context(|| {
                    format!("could not remove the worktree {}", s.worktree.display())
                })?;
        if force && outcome.worktree_removed {
            outcome.discarded = inspection.uncommitted.clone();
        }
        if outcome.worktree_removed {
            crate::sandbox::remove_private_tmp(repo.common_dir(), &s.name);
        }
        crate::faults::point("rm:worktree-removed");
    }
    if opts.delete_branch
        && !inspection.shared
        && let Some(tip) = &inspection.branch_tip
        && (inspection.branch_is_merged() || opts.force)
    {
        // Compare-and-delete: only the tip we looked at.
        repo.git()
            .args(["update-ref", "-d", &format!("refs/heads/{}", s.branch), tip])
            .run()?;
        outcome.branch_deleted = true;
    }
    archive(repo, &s, &outcome)?;
    Ok(outcome)
}

/// `--delete-branch` of a branch git-agent did not create for the session, nor for the one
/// whose worktree it shares (`new --in`, whose maker may be gone): refused. A branch git-agent
/// made goes with the last session on it (below), by the same rules as a session's own.
fn refuse_foreign_branch(s: &Session, opts: &Options) -> Result<()> {
    if opts.delete_branch && !s.branch_ours() {
        return Err(Failure::fatal(format!(
            "{} existed before '{}' and is not deleted by git-agent",
            s.branch, s.name
        ))
        .hint(format!(
            "leave out --delete-branch, and delete it yourself if you must: git branch -d {}",
            s.branch
        ))
        .into());
    }
    Ok(())
}

/// Moves the record (with `removed` filled in) and the session's files to `archive/`, and
/// releases its ports.
fn archive(repo: &Repo, s: &Session, outcome: &Outcome) -> Result<()> {
    let state = repo.state();
    let lock = state.lock()?;
    let mut record = state.load(&s.name)?;
    record.removed = Some(Removed {
        at: crate::time::now(),
        reason: outcome.reason.clone(),
        branch_tip: outcome.branch_tip.clone(),
        branch_deleted: outcome.branch_deleted,
    });
    record.worktree_locked = false;
    state.archive(&lock, &record)?;
    crate::state::ports::release(&state, &lock, &s.name)?;
    drop(lock);
    state.append_event(&Event {
        detail: Some(outcome.reason.clone()),
        ..Event::new(&s.name, "removed")
    })?;
    Ok(())
}
