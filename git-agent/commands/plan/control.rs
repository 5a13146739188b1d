//! `plan run`, `wait`, `stop`, `resume`, `land`, `rm`: the library does the work
//! (`crate::ops::plan`); this renders it.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::check::checked;
use super::{NameArgs, RmArgs, RunArgs, WaitArgs, plan_name};
use crate::commands::Ctx;
use crate::error::code;
use crate::ops::plan::{control, drive, finish, start};
use crate::project::ProjectCommand;
use crate::state::plans::{PlanState, TaskState};

pub fn run(ctx: &mut Ctx<'_>, args: RunArgs) -> Result<u8> {
    let repo = ctx.repo()?;
    let (plan, base, _waves, _warnings) = checked(ctx, &repo, &args.file, true)?;
    let shown = args.file.display().to_string();
    let mut commands = Vec::new();
    if let Some(v) = &plan.validate {
        commands.push(ProjectCommand::from_plan(
            "plan validate",
            v.clone(),
            &shown,
        ));
    }
    for t in &plan.tasks {
        if let Some(v) = &t.verify {
            commands.push(ProjectCommand::from_plan(
                format!("task {} verify", t.id),
                v.clone(),
                &shown,
            ));
        }
    }
    // A plan that could not start asks nothing (and records no approval).
    start::check_free(&repo, &plan, &base)?;
    ctx.ensure_trusted(&repo, &commands, args.trust, None)?;
    let record = start::run(&repo, &plan, &base)?;
    let started: Vec<&str> = record
        .tasks
        .iter()
        .filter(|t| t.state != TaskState::Waiting)
        .map(|t| t.id.as_str())
        .collect();
    writeln!(
        ctx.out,
        "Plan '{}' runs on {}, from {} ({}): {} task{}; started {}.",
        record.name,
        record.branch,
        record.base.short_name(),
        crate::session::short_id(&record.base.commit),
        record.tasks.len(),
        if record.tasks.len() == 1 { "" } else { "s" },
        if started.is_empty() {
            "none yet".to_owned()
        } else {
            started.join(", ")
        }
    )?;
    for t in record.tasks.iter().filter(|t| t.state == TaskState::Failed) {
        ctx.warn(&format!(
            "task '{}' failed: {}",
            t.id,
            t.reason.as_deref().unwrap_or("?")
        ))?;
    }
    ctx.hint(&format!(
        "follow it with: git agent plan status {0}; wait for it with: git agent plan wait {0}",
        record.name
    ))?;
    Ok(code::SUCCESS)
}

pub fn wait(ctx: &mut Ctx<'_>, args: WaitArgs) -> Result<u8> {
    let repo = ctx.repo()?;
    let name = plan_name(&repo, args.name.as_deref())?;
    let state = repo.state();
    state.load_plan(&name)?;
    let timeout = crate::time::parse_flag(args.timeout.as_deref())?;
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        drive::advance(&repo, &name)?;
        // Another process may be mid-step (a supervisor landing the plan right after its
        // validate passed): settle only on a record nobody was changing as it was read.
        let idle = idle(&state, &name)?;
        let plan = state.load_plan(&name)?;
        // The active tasks' sessions, and validate's while it runs.
        let running_validate = plan
            .validation
            .iter()
            .filter(|v| v.passed.is_none())
            .map(|v| &v.session);
        let lost: Vec<String> = plan
            .tasks
            .iter()
            .filter(|t| t.state.is_active())
            .flat_map(|t| t.sessions.iter())
            .chain(running_validate)
            .filter(|s| {
                state
                    .load(s)
                    .is_ok_and(|s| s.live_state() == crate::session::State::Lost)
            })
            .cloned()
            .collect();
        let settled =
            idle && (!plan.state.is_active() || (!lost.is_empty() && !busy(&state, &plan)));
        if settled {
            // The plan's own time, from `plan run` (not this wait's).
            let end = plan.ended_at.unwrap_or_else(crate::time::now);
            let took = crate::time::format_duration(crate::time::between(plan.created_at, end));
            let ok = matches!(plan.state, PlanState::Validated | PlanState::Landed);
            let mut line = format!("plan {}: {} in {took}", plan.name, plan.state);
            if let Some(r) = &plan.reason {
                line.push_str(&format!(" ({r})"));
            }
            writeln!(ctx.out, "{line}")?;
            if !lost.is_empty() {
                writeln!(ctx.out, "lost: {}", lost.join(", "))?;
                ctx.hint(&format!("continue it with: git agent plan resume {name}"))?;
            } else if plan.state == PlanState::Validated {
                ctx.hint(&format!("land it with: git agent plan land {name}"))?;
            } else if !ok {
                ctx.hint(&format!("see what it needs: git agent plan status {name}"))?;
            }
            return Ok(if ok && lost.is_empty() {
                code::SUCCESS
            } else {
                code::NEGATIVE
            });
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            writeln!(ctx.out, "plan {}: still {}", plan.name, plan.state)?;
            return Ok(code::NEGATIVE);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Nobody drives plan `name` now, and nobody asked for another pass.
fn idle(state: &crate::state::StateDir, name: &str) -> Result<bool> {
    let Some(guard) = state.try_drive_lock(name)? else {
        return Ok(false);
    };
    drop(guard);
    Ok(!state.plan_dir(name).join("again").exists())
}

/// Some session of the plan is still at work.
fn busy(state: &crate::state::StateDir, plan: &crate::state::plans::PlanRecord) -> bool {
    plan.sessions()
        .iter()
        .any(|s| state.load(s).is_ok_and(|s| s.live_state().is_active()))
}

pub fn stop(ctx: &mut Ctx<'_>, args: NameArgs) -> Result<u8> {
    let repo = ctx.repo()?;
    let name = plan_name(&repo, args.name.as_deref())?;
    let stopped = control::stop(&repo, &name)?;
    writeln!(
        ctx.out,
        "Stopped plan {name}{}",
        if stopped.is_empty() {
            String::new()
        } else {
            format!(" and {}", stopped.join(", "))
        }
    )?;
    ctx.hint(&format!("continue it with: git agent plan resume {name}"))?;
    Ok(code::SUCCESS)
}

pub fn resume(ctx: &mut Ctx<'_>, args: NameArgs) -> Result<u8> {
    let repo = ctx.repo()?;
    let name = plan_name(&repo, args.name.as_deref())?;
    let resumed = control::resume(&repo, &name)?;
    let plan = repo.state().load_plan(&name)?;
    writeln!(ctx.out, "Resumed plan {name}: {}", plan.state)?;
    if !resumed.sessions.is_empty() {
        writeln!(ctx.out, "carrying on: {}", resumed.sessions.join(", "))?;
    }
    if !resumed.retried.is_empty() {
        writeln!(ctx.out, "trying again: {}", resumed.retried.join(", "))?;
    }
    Ok(code::SUCCESS)
}

pub fn land(ctx: &mut Ctx<'_>, args: NameArgs) -> Result<u8> {
    let repo = ctx.repo()?;
    let name = plan_name(&repo, args.name.as_deref())?;
    let plan = repo.state().load_plan(&name)?;
    let landed = finish::land(&repo, &plan)?;
    writeln!(
        ctx.out,
        "Landed plan {name} on {}: {}",
        landed.into,
        crate::session::short_id(&landed.commit)
    )?;
    Ok(code::SUCCESS)
}

pub fn rm(ctx: &mut Ctx<'_>, args: RmArgs) -> Result<u8> {
    let repo = ctx.repo()?;
    let removed = control::remove(&repo, &args.name, args.force)?;
    for s in &removed.sessions {
        writeln!(ctx.out, "Removed {s}")?;
    }
    if !removed.kept.is_empty() {
        for (s, why) in &removed.kept {
            writeln!(ctx.err, "error: kept {s}: {why}")?;
        }
        ctx.hint(&format!(
            "the plan is kept too; land or save that work, or remove it anyway: git agent plan rm --force {}",
            args.name
        ))?;
        return Ok(code::NEGATIVE);
    }
    let plan_branch = crate::ops::plan::start::branch_of(&args.name);
    if removed.branch_deleted {
        writeln!(ctx.out, "Deleted {plan_branch} (it landed)")?;
    } else if repo.branch_exists(&plan_branch)? {
        writeln!(ctx.out, "Kept {plan_branch}: it has not landed")?;
    }
    writeln!(ctx.out, "Removed plan {}", args.name)?;
    Ok(code::SUCCESS)
}
