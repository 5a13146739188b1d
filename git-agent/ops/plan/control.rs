//! Stopping, resuming and removing a plan (`plan stop`, `plan resume`, `plan rm`).
//!
//! Invariants: stopping never loses an agent's work (its sessions stop as `git agent stop`
//! stops them: leftovers committed); resuming never runs a landed task again, and continues a
//! task (or a lost or stopped validate) in its own worktree (`git agent resume`) rather than
//! starting it afresh; removing goes through `git agent rm` for every session, so work that
//! has not landed is kept unless the user typed `--force`, and the integration branch is
//! deleted only once it landed on the base (one still at the base landed nothing).

use anyhow::Result;

use super::calls::git_agent;
use super::drive::{advance, set_plan_state};
use crate::error::Failure;
use crate::git::repo::Repo;
use crate::session::State;
use crate::state::plans::{PlanState, TaskState};

/// Stops plan `name`: nothing new starts; its running sessions are stopped. Returns them.
pub fn stop(repo: &Repo, name: &str) -> Result<Vec<String>> {
    let state = repo.state();
    let plan = state.load_plan(name)?;
    if !plan.state.is_active() {
        return Err(
            Failure::fatal(format!("plan '{name}' is not running ({})", plan.state))
                .code(crate::error::code::NEGATIVE)
                .into(),
        );
    }
    // First, so that an end caused by the stop does not start the next task.
    set_plan_state(
        &state,
        name,
        PlanState::Stopped,
        Some("stopped by 'git agent plan stop'".into()),
    )?;
    // Read again: a task that started before the stop has its sessions named by now.
    let plan = state.load_plan(name)?;
    let mut stopped = Vec::new();
    for session in plan.sessions() {
        let Ok(s) = state.load(&session) else {
            continue;
        };
        if s.live_state().is_active()
            && crate::ops::stop::stop_session_for(
                &state,
                &s,
                None,
                Some("stopped by 'git agent plan stop'"),
            )?
            .is_some()
        {
            stopped.push(session);
        }
    }
    Ok(stopped)
}

/// What `plan resume` did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Resumed {
    /// Sessions that carry on in their worktrees.
    pub sessions: Vec<String>,
    /// Tasks tried again (failed or blocked before).
    pub retried: Vec<String>,
}

/// Continues plan `name`: its lost and stopped sessions carry on, failed and blocked tasks are
/// tried again, a failed validate runs again; then the plan advances.
pub fn resume(repo: &Repo, name: &str) -> Result<Resumed> {
    let state = repo.state();
    state.load_plan(name)?;
    // No pass runs while the record and its sessions are set going again: a resumed session
    // that ends at once (its supervisor's pass is left to `advance` below) would otherwise be
    // judged, and the plan validated, before this puts back the state it read at the start.
    let guard = state.drive_lock(name)?;
    let resumed = resume_held(repo, name);
    drop(guard);
    // Even when a session could not be resumed: the passes left to us meanwhile are made.
    let advanced = advance(repo, name);
    let resumed = resumed?;
    advanced?;
    Ok(resumed)
}

/// [`resume`]'s changes, under the drive lock.
fn resume_held(repo: &Repo, name: &str) -> Result<Resumed> {
    let state = repo.state();
    let plan = state.load_plan(name)?;
    if plan.state == PlanState::Landed {
        return Err(Failure::fatal(format!("plan '{name}' has landed: nothing to resume")).into());
    }
    let mut resumed = Resumed::default();
    for task in &plan.tasks {
        if !matches!(
            task.state,
            TaskState::Running | TaskState::Syncing | TaskState::Failed | TaskState::Blocked
        ) {
            continue;
        }
        if matches!(task.state, TaskState::Failed | TaskState::Blocked) {
            resumed.retried.push(task.id.clone());
        }
        for session in &task.sessions {
            let Ok(s) = state.load_settled(session) else {
                continue;
            };
            // A session that ended `done` is not run again: it lands (or is looked at) as it is.
            if matches!(s.live_state(), State::Lost | State::Stopped | State::Failed)
                || (task.state == TaskState::Failed && s.live_state() != State::Done)
            {
                let called = git_agent(&state, name, &plan.repo, &["resume", session], &[])?;
                if !called.ok() {
                    return Err(Failure::fatal(format!(
                        "could not resume {session}: {}",
                        called.why()
                    ))
                    .into());
                }
                resumed.sessions.push(session.clone());
                crate::faults::pause_point("plan-resume:session-resumed");
            }
        }
        let sessions_left = task.sessions.iter().any(|s| state.exists(s));
        state.update_plan(name, |p| {
            if let Some(t) = p.task_mut(&task.id) {
                match t.state {
                    // Never started (its `new` failed): it starts again.
                    TaskState::Failed if !sessions_left => {
                        t.state = TaskState::Waiting;
                        t.sessions.clear();
                    }
                    // After its sync round, the end of that round is looked at again: a
                    // sync the user (or the agent, now) resolved is finished, then it lands.
                    TaskState::Failed | TaskState::Blocked
                        if t.sync_rounds > 0 && t.chosen.is_some() =>
                    {
                        t.state = TaskState::Syncing;
                    }
                    // Its agent runs again, or is done: landing is tried again at its end.
                    TaskState::Failed | TaskState::Blocked => t.state = TaskState::Running,
                    _ => {}
                }
                t.reason = None;
            }
            Ok(())
        })?;
    }
    // A validate whose supervisor was killed, or that `plan stop` stopped, carries on.
    if let Some(v) = plan.validation.as_ref().filter(|v| v.passed.is_none())
        && state
            .load_settled(&v.session)
            .is_ok_and(|s| matches!(s.live_state(), State::Lost | State::Stopped))
    {
        let called = git_agent(&state, name, &plan.repo, &["resume", &v.session], &[])?;
        if !called.ok() {
            return Err(Failure::fatal(format!(
                "could not resume {}: {}",
                v.session,
                called.why()
            ))
            .into());
        }
        resumed.sessions.push(v.session.clone());
    }
    crate::faults::pause_point("plan-resume:sessions-resumed");
    // A failed validate runs again (after the user fixed the integration branch, say).
    if plan.state == PlanState::Failed
        && let Some(v) = &plan.validation
        && v.passed == Some(false)
    {
        let called = git_agent(&state, name, &plan.repo, &["resume", &v.session], &[])?;
        if !called.ok() {
            return Err(
                Failure::fatal(format!("could not run validate again: {}", called.why())).into(),
            );
        }
        resumed.sessions.push(v.session.clone());
        state.update_plan(name, |p| {
            if let Some(v) = p.validation.as_mut() {
                v.passed = None;
                v.ended_at = None;
                v.output = None;
                v.runs += 1;
            }
            Ok(())
        })?;
        set_plan_state(&state, name, PlanState::Validating, None)?;
    } else if plan.state != PlanState::Validated {
        let to = if plan.validation.is_some() {
            PlanState::Validating
        } else {
            PlanState::Running
        };
        set_plan_state(&state, name, to, None)?;
    }
    Ok(resumed)
}

/// What `plan rm` did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Removed {
    pub sessions: Vec<String>,
    /// Sessions kept, with why (`git agent rm`'s refusal).
    pub kept: Vec<(String, String)>,
    /// The integration branch, deleted (it landed) or kept.
    pub branch_deleted: bool,
    pub archived: Option<std::path::PathBuf>,
}

/// Removes plan `name` (not while it runs): its sessions as `git agent rm` would, then its
/// record, to the archive; the integration branch only if it landed.
pub fn remove(repo: &Repo, name: &str, force: bool) -> Result<Removed> {
    let state = repo.state();
    let plan = state.load_plan(name)?;
    if plan.state.is_active() {
        return Err(Failure::fatal(format!("plan '{name}' is {}", plan.state))
            .hint(format!("stop it first: git agent plan stop {name}"))
            .into());
    }
    let mut removed = Removed::default();
    for session in plan.sessions() {
        if !state.exists(&session) {
            continue;
        }
        let mut args = vec!["rm", session.as_str()];
        if force {
            args.push("--force");
        }
        let called = git_agent(&state, name, &plan.repo, &args, &[])?;
        if called.ok() {
            removed.sessions.push(session);
        } else {
            removed.kept.push((session, called.why()));
        }
    }
    if !removed.kept.is_empty() {
        return Ok(removed);
    }
    // Landed: it holds something (a branch still at the base landed nothing, though the base
    // contains it) and the base branch contains it all.
    let landed = match (&plan.base.ref_name, repo.branch_tip(&plan.branch)?) {
        (_, None) => false,
        (Some(_), Some(tip)) if plan.landed.is_none() && tip == plan.base.commit.as_str() => false,
        (Some(base), Some(tip)) => {
            let base = base.strip_prefix("refs/heads/").unwrap_or(base);
            match repo.branch_tip(base)? {
                Some(base_tip) => {
                    crate::git::merging::Memory::new(repo).is_ancestor(tip, base_tip)?
                }
                None => false,
            }
        }
        (None, Some(_)) => false,
    };
    if landed && let Some(tip) = repo.branch_tip(&plan.branch)? {
        crate::git::refs::delete_branch_at(repo, &plan.branch, &tip.to_string())?;
        removed.branch_deleted = true;
    }
    let lock = state.lock()?;
    removed.archived = Some(state.retire_plan(&lock, name)?);
    Ok(removed)
}
