//! `plan run`: a checked plan becomes a running one — its record (the tasks frozen as they
//! were checked), its integration branch `plan/<name>` at the base, then the first advance,
//! which starts the tasks that can start. Everything after happens in the background.
//!
//! Refuses before anything is made: a plan of that name on record, an existing `plan/<name>`
//! branch, a session name (or its branch) the plan's tasks would take. If the record cannot
//! be written, the branch it just made is deleted again (it holds nothing yet).

use anyhow::Result;

use super::Plan;
use super::drive::{advance, session_names};
use super::finish::integration_session;
use crate::error::Failure;
use crate::git::repo::Repo;
use crate::session::Base;
use crate::state::plans::{PLAN_VERSION, PlanRecord, PlanState, TaskRecord, TaskState};

/// The integration branch of plan `name`.
pub fn branch_of(name: &str) -> String {
    format!("plan/{name}")
}

/// The plan's frozen tasks.
fn tasks(plan: &Plan) -> Vec<TaskRecord> {
    plan.tasks
        .iter()
        .map(|t| TaskRecord {
            id: t.id.clone(),
            line: t.line,
            prompt: t.prompt.clone(),
            agents: t.agents.clone(),
            variants: t.variants,
            depends_on: t.depends_on.clone(),
            touches: t.touches.clone(),
            verify: t.verify.clone(),
            budget: t.budget,
            timeout_secs: t.timeout.map(|d| d.as_secs().max(1)),
            retries: t.retries,
            state: TaskState::Waiting,
            reason: None,
            sessions: Vec::new(),
            chosen: None,
            attempts: 0,
            sync_rounds: 0,
            started_at: None,
            ended_at: None,
            landed: None,
            landed_at: None,
            cost_usd: None,
            run_secs: None,
            result: None,
            overlaps: Vec::new(),
            rejected: Vec::new(),
        })
        .collect()
}

/// Refuses a plan whose name, branch or sessions are taken.
fn ensure_free(repo: &Repo, record: &PlanRecord) -> Result<()> {
    let state = repo.state();
    if state.plan_exists(&record.name) {
        let existing = state.load_plan(&record.name)?;
        return Err(Failure::fatal(format!(
            "a plan named '{}' exists already ({})",
            record.name, existing.state
        ))
        .hint(format!(
            "see it with: git agent plan status {0}; remove it with: git agent plan rm {0}",
            record.name
        ))
        .hint("or give this plan another name (name = \"…\" in the plan file)")
        .into());
    }
    if repo.branch_exists(&record.branch)? {
        return Err(Failure::fatal(format!(
            "the branch {} exists already: it would be the plan's integration branch",
            record.branch
        ))
        .hint("give the plan another name (name = \"…\"), or delete or rename that branch")
        .into());
    }
    let mut names: Vec<String> = record
        .tasks
        .iter()
        .flat_map(|t| session_names(&record.name, t))
        .collect();
    names.push(integration_session(&record.name));
    let prefix = repo
        .config()
        .string("agent.branchPrefix")
        .unwrap_or_else(|| "agent/".into());
    for name in &names {
        crate::names::validate(name)?;
        if state.exists(name) {
            return Err(Failure::fatal(format!(
                "the plan would name a session '{name}', and one exists already"
            ))
            .hint("give the plan another name, or remove that session (git agent rm)")
            .into());
        }
        // `new` would refuse it then, failing the task: refused now, before anything starts.
        let branch = format!("{prefix}{name}");
        if *name != integration_session(&record.name) && repo.branch_exists(&branch)? {
            return Err(Failure::fatal(format!(
                "the plan would make a branch {branch} for its session '{name}', and it exists already"
            ))
            .hint("give the plan another name, or delete or rename that branch")
            .into());
        }
    }
    Ok(())
}

/// The record `plan` starts with.
fn record(repo: &Repo, plan: &Plan, base: &Base) -> PlanRecord {
    PlanRecord {
        version: PLAN_VERSION,
        name: plan.name.clone(),
        file: plan.path.clone(),
        base: base.clone(),
        branch: branch_of(&plan.name),
        max_parallel: plan.max_parallel,
        validate: plan.validate.clone(),
        land: match plan.land {
            super::Land::Manual => "manual".into(),
            super::Land::Auto => "auto".into(),
        },
        fix: plan.fix,
        state: PlanState::Running,
        reason: None,
        created_at: crate::time::now(),
        ended_at: None,
        repo: repo
            .main_workdir()
            .unwrap_or_else(|| repo.common_dir())
            .to_path_buf(),
        tasks: tasks(plan),
        validation: None,
        landed: None,
    }
}

/// Refuses, before anything is asked or made, a plan whose name, branch or sessions are taken
/// (`plan run` checks this before it asks to approve the plan's commands).
pub fn check_free(repo: &Repo, plan: &Plan, base: &Base) -> Result<()> {
    ensure_free(repo, &record(repo, plan, base))
}

/// Starts `plan` from `base`; returns its record after the first advance.
pub fn run(repo: &Repo, plan: &Plan, base: &Base) -> Result<PlanRecord> {
    let state = repo.state();
    let record = record(repo, plan, base);
    ensure_free(repo, &record)?;
    let why = format!("git agent plan run {}", plan.name);
    crate::git::refs::create_branch(repo, &record.branch, &base.commit, &why)?;
    let written = state
        .lock()
        .and_then(|lock| state.write_plan(&lock, &record));
    if let Err(err) = written {
        let _ = crate::git::refs::delete_branch_at(repo, &record.branch, &base.commit);
        return Err(err);
    }
    let mut event = crate::state::Event::new("", "plan");
    event.detail = Some(format!(
        "{}: running ({} tasks)",
        plan.name,
        plan.tasks.len()
    ));
    state.append_event(&event)?;
    advance(repo, &plan.name)?;
    state.load_plan(&plan.name)
}
