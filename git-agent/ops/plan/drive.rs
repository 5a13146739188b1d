//! Advancing a running plan: one pass looks at every task and does what is due — lands a task
//! whose agent finished (`landing.rs`: the merge, its sync round, a retry after a failed
//! verify), starts the tasks whose dependencies have landed, and, once all have landed,
//! validates and lands the integration branch (`finish.rs`).
//!
//! There is no daemon: `plan run` advances once, and every supervisor of one of the plan's
//! sessions advances it when its session ends (`git-agent __supervise`); `plan wait` and
//! `plan resume` do too. Only one process advances a plan at a time (the drive lock); one that
//! finds it held leaves a mark (`again`) so the holder makes one more pass, so no end goes
//! unnoticed.
//!
//! Invariants:
//! - A task's sessions are named in the plan record before `new` creates them, and a task
//!   never gets a second `new`: after a crash the plan finds its sessions, and never runs a
//!   task twice.
//! - Nothing lands but through `git agent merge` (fast-forward of the integration branch
//!   only; its refusals hold). A landing that happened but was not recorded (killed in
//!   between) is found again from the commit's `Git-Agent-Session` trailer.
//! - The state lock is never held while a command runs: each change to the record is its own
//!   short update.
//! - A task starts only while the plan is `running`, checked in the same update that names its
//!   sessions: a `plan stop` made during a pass (while it lands something) is never overtaken.

use anyhow::Result;

use super::calls::git_agent;
use super::landing;
use super::templates;
use crate::git::repo::Repo;
use crate::session::{Session, State};
use crate::state::plans::{PlanRecord, PlanState, TaskRecord, TaskState, Validation};
use crate::state::{Event, StateDir};

/// Advances plan `name` until nothing is due, unless another process is at it (which then
/// makes one more pass for us).
pub fn advance(repo: &Repo, name: &str) -> Result<()> {
    let state = repo.state();
    let again = state.plan_dir(name).join("again");
    loop {
        std::fs::create_dir_all(state.plan_dir(name))?;
        std::fs::write(&again, b"")?;
        let Some(guard) = state.try_drive_lock(name)? else {
            return Ok(());
        };
        loop {
            let _ = std::fs::remove_file(&again);
            step(repo, name)?;
            if !again.exists() {
                break;
            }
        }
        drop(guard);
        // Marked after our last look but before we let go: the one who marked it gave up.
        if !again.exists() {
            return Ok(());
        }
    }
}

/// Advances the plan session `session` belongs to, if any (a supervisor, at its end).
pub fn advance_for(repo: &Repo, session: &str) -> Result<()> {
    match repo.state().plan_of(session) {
        Some((plan, _)) => advance(repo, &plan.name),
        None => Ok(()),
    }
}

/// One pass.
fn step(repo: &Repo, name: &str) -> Result<()> {
    let state = repo.state();
    let plan = state.load_plan(name)?;
    if !plan.state.is_active() {
        return Ok(());
    }
    if let Some(why) = branch_lost_work(repo, &plan)? {
        return set_plan_state(&state, name, PlanState::Blocked, Some(why));
    }
    for task in plan.tasks.iter().filter(|t| t.state.is_active()) {
        observe(repo, &plan, task)?;
    }
    start_ready(repo, name)?;
    let plan = state.load_plan(name)?;
    if plan.tasks.iter().all(|t| t.state == TaskState::Landed) {
        super::finish::integrate(repo, &plan)?;
    } else {
        settle(&state, &plan)?;
    }
    Ok(())
}

/// What is wrong with the integration branch if it no longer holds every landed task's
/// commit (deleted, or moved by hand with `git branch -f`/`reset`): a dependent would start
/// without its dependency's work, and the plan would validate and land without it. The plan
/// stops there (`blocked`), naming the tasks, until the branch is put back.
pub(super) fn branch_lost_work(repo: &Repo, plan: &PlanRecord) -> Result<Option<String>> {
    let landed: Vec<(&TaskRecord, &str)> = plan
        .tasks
        .iter()
        .filter_map(|t| t.landed.as_deref().map(|c| (t, c)))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    let Some(tip) = repo.branch_tip(&plan.branch)? else {
        let why = format!("its integration branch {} is gone", plan.branch);
        return Ok(Some(with_restore(why, plan, &landed)));
    };
    let mem = crate::git::merging::Memory::new(repo);
    let mut missing = Vec::new();
    for (task, commit) in &landed {
        // A commit that cannot be read (pruned since) is not held either.
        let holds = gix::ObjectId::from_hex(commit.as_bytes())
            .ok()
            .and_then(|c| mem.is_ancestor(c, tip).ok())
            .unwrap_or(false);
        if !holds {
            missing.push(format!(
                "{} ({})",
                task.id,
                crate::session::short_id(commit)
            ));
        }
    }
    if missing.is_empty() {
        return Ok(None);
    }
    let why = format!(
        "{} no longer holds what landed of {}: the branch was moved",
        plan.branch,
        missing.join(", ")
    );
    Ok(Some(with_restore(why, plan, &landed)))
}

/// `why`, and how to put the integration branch back: at the last landed commit.
fn with_restore(why: String, plan: &PlanRecord, landed: &[(&TaskRecord, &str)]) -> String {
    match landed.iter().max_by_key(|(t, _)| t.landed_at) {
        Some((_, last)) => format!(
            "{why}; put it back with: git branch -f {} {last}, then: git agent plan resume {}",
            plan.branch, plan.name
        ),
        None => why,
    }
}

/// A plan where nothing runs and nothing can start needs the user: `blocked`.
fn settle(state: &StateDir, plan: &PlanRecord) -> Result<()> {
    let active = plan.tasks.iter().any(|t| t.state.is_active());
    let startable = plan
        .tasks
        .iter()
        .any(|t| t.state == TaskState::Waiting && !can_never_start(plan, t));
    if active || startable || plan.state != PlanState::Running {
        return Ok(());
    }
    let stuck: Vec<String> = plan
        .tasks
        .iter()
        .filter(|t| matches!(t.state, TaskState::Blocked | TaskState::Failed))
        .map(|t| format!("{} is {}", t.id, t.state))
        .collect();
    let reason = stuck.join(", ");
    set_plan_state(state, &plan.name, PlanState::Blocked, Some(reason))
}

pub(super) fn set_plan_state(
    state: &StateDir,
    name: &str,
    to: PlanState,
    reason: Option<String>,
) -> Result<()> {
    let from = state.update_plan(name, |p| {
        let from = p.state;
        p.state = to;
        p.reason = reason.clone();
        if !to.is_active() {
            p.ended_at = Some(crate::time::now());
        }
        Ok(from)
    })?;
    let mut event = Event::new("", "plan");
    event.detail = Some(match &reason {
        Some(r) => format!("{name}: {to} ({r})"),
        None => format!("{name}: {to}"),
    });
    state.append_event(&event)?;
    // Told once per change, after the lock: a plan set to the state it is in is no news.
    if from != to {
        crate::notify::plan_entered(state, name, to, reason.as_deref());
    }
    Ok(())
}

/// A waiting task one of whose dependencies is blocked or failed.
fn can_never_start(plan: &PlanRecord, task: &TaskRecord) -> bool {
    task.depends_on.iter().any(|d| {
        plan.task(d)
            .is_some_and(|t| matches!(t.state, TaskState::Blocked | TaskState::Failed))
            || plan.task(d).is_some_and(|t| can_never_start(plan, t))
    })
}

pub(super) fn update_task(
    state: &StateDir,
    plan: &str,
    id: &str,
    f: impl FnOnce(&mut TaskRecord),
) -> Result<()> {
    state.update_plan(plan, |p| {
        if let Some(t) = p.task_mut(id) {
            f(t);
        }
        Ok(())
    })
}

pub(super) fn task_event(state: &StateDir, plan: &str, task: &str, what: &str) {
    let mut event = Event::new("", "plan-task");
    event.detail = Some(format!("{plan}/{task}: {what}"));
    let _ = state.append_event(&event);
}

/// Looks at a running task's sessions and does what their end calls for.
fn observe(repo: &Repo, plan: &PlanRecord, task: &TaskRecord) -> Result<()> {
    let state = repo.state();
    let mut sessions = Vec::new();
    for name in &task.sessions {
        match state.load_settled(name) {
            Ok(s) => sessions.push(s),
            // Removed: landed (and removed by the merge) if its commit is on the branch.
            Err(_) => {
                if let Some(commit) =
                    crate::git::refs::find_trailer(repo, &plan.branch, &plan.base.commit, name)?
                {
                    return landed(&state, plan, task, name, &commit);
                }
            }
        }
    }
    if sessions.is_empty() {
        return fail(
            &state,
            plan,
            task,
            "its sessions were removed before it landed",
        );
    }
    if let Some(s) = sessions.iter().find(|s| s.live_state() == State::Merged) {
        let commit = s
            .merged
            .as_ref()
            .map(|m| m.commit.clone())
            .unwrap_or_default();
        return landed(&state, plan, task, &s.name.clone(), &commit);
    }
    // Still at work (or lost: `plan status` shows it, `plan resume` continues it).
    if sessions
        .iter()
        .any(|s| s.live_state().is_active() || s.live_state() == State::Lost)
    {
        return Ok(());
    }
    record_end(&state, plan, task, &sessions)?;
    let chosen = match task.state {
        TaskState::Syncing => task
            .chosen
            .as_ref()
            .and_then(|c| sessions.iter().find(|s| &s.name == c)),
        _ => sessions
            .iter()
            .find(|s| s.live_state() == State::Done && !task.rejected.contains(&s.name)),
    };
    let Some(chosen) = chosen else {
        return retry_or_fail(repo, plan, task, &sessions);
    };
    if task.state == TaskState::Syncing {
        return landing::after_round(repo, plan, task, chosen);
    }
    landing::land(repo, plan, task, chosen)
}

/// Keeps the cost, run time and final summary of a task's sessions.
fn record_end(
    state: &StateDir,
    plan: &PlanRecord,
    task: &TaskRecord,
    sessions: &[Session],
) -> Result<()> {
    let now = crate::time::now();
    let cost: f64 = sessions.iter().filter_map(|s| s.usage().cost_usd).sum();
    let run_secs = sessions
        .iter()
        .map(|s| s.runs.iter().map(|r| run_secs(r, now)).sum::<f64>())
        .reduce(f64::max);
    let result = sessions
        .iter()
        .find(|s| s.live_state() == State::Done)
        .and_then(Session::summary);
    // When the last of them really ended (not when this pass noticed).
    let ended = sessions
        .iter()
        .filter_map(|s| s.ended_at)
        .max()
        .unwrap_or(now);
    update_task(state, &plan.name, &task.id, |t| {
        t.ended_at = Some(ended);
        t.cost_usd = (cost > 0.0).then_some(cost);
        t.run_secs = run_secs;
        if result.is_some() {
            t.result = result;
        }
    })
}

fn run_secs(run: &crate::session::Run, now: jiff::Timestamp) -> f64 {
    match run.started_at {
        Some(start) => crate::time::between(start, run.ended_at.unwrap_or(now)).as_secs_f64(),
        None => 0.0,
    }
}

pub(super) fn landed(
    state: &StateDir,
    plan: &PlanRecord,
    task: &TaskRecord,
    session: &str,
    commit: &str,
) -> Result<()> {
    update_task(state, &plan.name, &task.id, |t| {
        t.state = TaskState::Landed;
        t.reason = None;
        t.chosen = Some(session.to_owned());
        t.landed = Some(commit.to_owned());
        t.landed_at = Some(crate::time::now());
    })?;
    task_event(
        state,
        &plan.name,
        &task.id,
        &format!(
            "landed {} on {}",
            crate::session::short_id(commit),
            plan.branch
        ),
    );
    Ok(())
}

pub(super) fn fail(
    state: &StateDir,
    plan: &PlanRecord,
    task: &TaskRecord,
    why: &str,
) -> Result<()> {
    stop_task(state, plan, task, TaskState::Failed, why)
}

pub(super) fn block(
    state: &StateDir,
    plan: &PlanRecord,
    task: &TaskRecord,
    why: &str,
) -> Result<()> {
    stop_task(state, plan, task, TaskState::Blocked, why)
}

/// A task that needs the user (`failed` or `blocked`), with why.
fn stop_task(
    state: &StateDir,
    plan: &PlanRecord,
    task: &TaskRecord,
    to: TaskState,
    why: &str,
) -> Result<()> {
    update_task(state, &plan.name, &task.id, |t| {
        t.state = to;
        t.reason = Some(why.to_owned());
    })?;
    task_event(state, &plan.name, &task.id, &format!("{to}: {why}"));
    Ok(())
}

/// No session ended `done`: resumed while retries are left (`retries`), else failed.
fn retry_or_fail(
    repo: &Repo,
    plan: &PlanRecord,
    task: &TaskRecord,
    sessions: &[Session],
) -> Result<()> {
    let state = repo.state();
    let why = sessions
        .iter()
        .map(|s| {
            let live = s.live_state();
            match &s.reason {
                Some(r) => format!("{} {live} ({r})", s.name),
                None => format!("{} {live}", s.name),
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    if task.attempts > task.retries {
        return fail(&state, plan, task, &why);
    }
    update_task(&state, &plan.name, &task.id, |t| {
        t.attempts += 1;
        t.ended_at = None;
    })?;
    task_event(&state, &plan.name, &task.id, &format!("retrying: {why}"));
    for s in sessions {
        let resumed = git_agent(&state, &plan.name, &plan.repo, &["resume", &s.name], &[])?;
        if !resumed.ok() {
            return fail(
                &state,
                plan,
                task,
                &format!("could not resume {}: {}", s.name, resumed.why()),
            );
        }
    }
    Ok(())
}

/// Starts every waiting task whose dependencies have landed, which owns nothing a running
/// task owns, within the plan's `max_parallel`.
fn start_ready(repo: &Repo, name: &str) -> Result<()> {
    let state = repo.state();
    let plan = state.load_plan(name)?;
    // Stopped (or blocked) while this pass was landing something: nothing new starts.
    if plan.state != PlanState::Running {
        return Ok(());
    }
    let mut active: Vec<&TaskRecord> = plan.tasks.iter().filter(|t| t.state.is_active()).collect();
    // The cap counts sessions: a task's variants all run at once.
    let sessions = |t: &TaskRecord| session_names(&plan.name, t).len();
    let cap = plan.max_parallel.map_or(usize::MAX, |n| n as usize);
    for task in plan.tasks.iter().filter(|t| t.state == TaskState::Waiting) {
        let deps_landed = task
            .depends_on
            .iter()
            .all(|d| plan.task(d).is_some_and(|t| t.state == TaskState::Landed));
        if !deps_landed {
            continue;
        }
        if let Some(owner) = active
            .iter()
            .find(|a| super::graph::touches_overlap(&a.touches, &task.touches, &[]).is_some())
        {
            let why = format!("waits for {}: they own the same paths", owner.id);
            if task.reason.as_deref() != Some(why.as_str()) {
                update_task(&state, name, &task.id, |t| t.reason = Some(why))?;
            }
            continue;
        }
        // First come, first served: a task that does not fit yet keeps later ones waiting.
        if active.iter().map(|t| sessions(t)).sum::<usize>() + sessions(task) > cap {
            break;
        }
        start(repo, &plan, task)?;
        active.push(task);
    }
    Ok(())
}

/// The names `new` gives a task's sessions: `<plan>-<id>`, numbered when there are several.
pub fn session_names(plan: &str, task: &TaskRecord) -> Vec<String> {
    let base = format!("{plan}-{}", task.id);
    let total = task.agents.len().max(1) as u32 * task.variants;
    if total == 1 {
        return vec![base];
    }
    (1..=total).map(|i| format!("{base}-{i}")).collect()
}

/// Starts one task: its sessions named in the record first, then `git agent new` from the
/// integration branch's tip.
fn start(repo: &Repo, plan: &PlanRecord, task: &TaskRecord) -> Result<()> {
    let state = repo.state();
    let names = session_names(&plan.name, task);
    let prompt = templates::fill(&state, plan, task);
    let prompt_file = state
        .plan_dir(&plan.name)
        .join(format!("{}.prompt.md", task.id));
    std::fs::write(&prompt_file, &prompt)?;
    // In the same update as the plan's state is checked: a `plan stop` either comes first
    // (nothing starts) or finds the task's sessions named (and stops them).
    let go = state.update_plan(&plan.name, |p| {
        let running = p.state == PlanState::Running;
        if let Some(t) = p
            .task_mut(&task.id)
            .filter(|t| running && t.state == TaskState::Waiting)
        {
            t.state = TaskState::Running;
            t.reason = None;
            t.sessions = names.clone();
            t.attempts = 1;
            t.started_at = Some(crate::time::now());
            return Ok(true);
        }
        Ok(false)
    })?;
    if !go {
        return Ok(());
    }
    task_event(
        &state,
        &plan.name,
        &task.id,
        &format!("started as {}", names.join(", ")),
    );
    let base_name = format!("{}-{}", plan.name, task.id);
    let file = prompt_file.to_string_lossy().into_owned();
    let mut args: Vec<String> = vec![
        "new".into(),
        "--name".into(),
        base_name,
        "--base".into(),
        plan.branch.clone(),
        "--json".into(),
        "-F".into(),
        file,
    ];
    if !task.agents.is_empty() {
        args.extend(["--agent".into(), task.agents.join(",")]);
    }
    if task.variants > 1 {
        args.extend(["-n".into(), task.variants.to_string()]);
    }
    if let Some(b) = task.budget {
        args.extend(["--budget".into(), b.to_string()]);
    }
    if let Some(t) = task.timeout_secs {
        args.extend(["--timeout".into(), format!("{t}s")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let created = git_agent(&state, &plan.name, &plan.repo, &args, &[])?;
    if !created.ok() {
        // `new` leaves no record when it fails: nothing of the task exists.
        update_task(&state, &plan.name, &task.id, |t| t.sessions.clear())?;
        return fail(
            &state,
            plan,
            task,
            &format!("could not start: {}", created.why()),
        );
    }
    Ok(())
}

/// The validation record's session, if validate has started.
pub fn validation(plan: &PlanRecord) -> Option<&Validation> {
    plan.validation.as_ref()
}
