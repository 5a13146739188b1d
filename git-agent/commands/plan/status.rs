//! `plan status [NAME] [--json]`: a table per task (state, wave, agent, run time, cost,
//! verify, landed commit) and the plan's totals: wall time against the sum of the tasks'
//! times (the parallel speed-up, measured), cost, and what blocks.

use anyhow::Result;
use serde::Serialize;

use super::{NameArgs, plan_name};
use crate::commands::{Ctx, Format};
use crate::error::code;
use crate::ops::plan::graph::{Node, waves};
use crate::session::State;
use crate::state::StateDir;
use crate::state::plans::{PlanRecord, TaskRecord, TaskState};

/// `plan status --json`.
#[derive(Serialize)]
struct Doc<'a> {
    plan: &'a PlanRecord,
    tasks: Vec<TaskDoc>,
    totals: Totals,
}

/// What the record does not say: the live state of each task.
#[derive(Serialize)]
struct TaskDoc {
    id: String,
    /// The task's state, `lost` while a session of it has lost its supervisor.
    live: String,
    wave: usize,
}

#[derive(Serialize)]
struct Totals {
    landed: usize,
    tasks: usize,
    /// From `plan run` to the end (or now).
    wall_secs: f64,
    /// The tasks' run times added up.
    task_secs: f64,
    /// `task_secs / wall_secs`: how much running tasks side by side saved.
    speedup: Option<f64>,
    cost_usd: Option<f64>,
}

fn wave_numbers(plan: &PlanRecord) -> Vec<(String, usize)> {
    let nodes: Vec<Node<'_>> = plan
        .tasks
        .iter()
        .map(|t| Node {
            id: &t.id,
            depends_on: &t.depends_on,
            touches: &t.touches,
        })
        .collect();
    waves(&nodes, &[])
        .into_iter()
        .flat_map(|w| w.tasks.into_iter().map(move |t| (t, w.number)))
        .collect()
}

/// The state to show: `lost` when a session of a running task has lost its supervisor.
fn live(state: &StateDir, task: &TaskRecord) -> String {
    if task.state.is_active()
        && task
            .sessions
            .iter()
            .any(|s| state.load(s).is_ok_and(|s| s.live_state() == State::Lost))
    {
        return "lost".into();
    }
    if task.state == TaskState::Running
        && task
            .sessions
            .iter()
            .any(|s| state.load(s).is_ok_and(|s| s.live_state() == State::Queued))
    {
        return "queued".into();
    }
    task.state.to_string()
}

fn totals(plan: &PlanRecord) -> Totals {
    let end = plan.ended_at.unwrap_or_else(crate::time::now);
    let wall_secs = crate::time::between(plan.created_at, end).as_secs_f64();
    let task_secs: f64 = plan.tasks.iter().filter_map(|t| t.run_secs).sum();
    let cost: f64 = plan.tasks.iter().filter_map(|t| t.cost_usd).sum();
    Totals {
        landed: plan
            .tasks
            .iter()
            .filter(|t| t.state == TaskState::Landed)
            .count(),
        tasks: plan.tasks.len(),
        wall_secs,
        task_secs,
        speedup: (wall_secs > 0.0 && task_secs > 0.0).then(|| task_secs / wall_secs),
        cost_usd: (cost > 0.0).then_some(cost),
    }
}

pub fn status(ctx: &mut Ctx<'_>, args: NameArgs) -> Result<u8> {
    let repo = ctx.repo()?;
    let state = repo.state();
    if args.name.is_none() && state.plan_names().len() > 1 {
        return overview(ctx, &state, args.output.format());
    }
    let name = plan_name(&repo, args.name.as_deref())?;
    let plan = state.load_plan(&name)?;
    let waves = wave_numbers(&plan);
    let wave_of = |id: &str| waves.iter().find(|(t, _)| t == id).map_or(0, |(_, n)| *n);
    let tasks: Vec<TaskDoc> = plan
        .tasks
        .iter()
        .map(|t| TaskDoc {
            id: t.id.clone(),
            live: live(&state, t),
            wave: wave_of(&t.id),
        })
        .collect();
    let totals = totals(&plan);
    if args.output.format() == Format::Json {
        ctx.write_doc(&Doc {
            plan: &plan,
            tasks,
            totals,
        })?;
        return Ok(code::SUCCESS);
    }
    let mut head = format!(
        "Plan {}: {} — {} of {} landed on {} (from {} {})",
        plan.name,
        plan.state,
        totals.landed,
        totals.tasks,
        plan.branch,
        plan.base.short_name(),
        crate::session::short_id(&plan.base.commit)
    );
    if let Some(r) = &plan.reason {
        head.push_str(&format!("\n  {r}"));
    }
    writeln!(ctx.out, "{head}")?;
    for line in table(&plan, &tasks) {
        writeln!(ctx.out, "{line}")?;
    }
    let mut foot = format!(
        "Wall time {}; the tasks ran {} together",
        seconds(totals.wall_secs),
        seconds(totals.task_secs),
    );
    if let Some(x) = totals.speedup {
        foot.push_str(&format!(" ({x:.1}× in parallel)"));
    }
    if let Some(c) = totals.cost_usd {
        foot.push_str(&format!("; cost ${c:.2}"));
    }
    writeln!(ctx.out, "{foot}.")?;
    if let Some(v) = &plan.validation {
        let how = match v.passed {
            None => "running".to_owned(),
            Some(true) => "passed".to_owned(),
            Some(false) => "failed".to_owned(),
        };
        writeln!(ctx.out, "Validate: {how} (session {})", v.session)?;
        if let Some(out) = v.output.as_deref().filter(|_| v.passed == Some(false)) {
            for line in out
                .lines()
                .rev()
                .take(10)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                writeln!(ctx.out, "  {line}")?;
            }
        }
    }
    if let Some(l) = &plan.landed {
        writeln!(
            ctx.out,
            "Landed on {} at {}",
            l.into,
            crate::session::short_id(&l.commit)
        )?;
    }
    Ok(code::SUCCESS)
}

/// The task table: one line per task, columns aligned.
fn table(plan: &PlanRecord, tasks: &[TaskDoc]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut rows = vec![
        [
            "TASK", "STATE", "WAVE", "AGENT", "TIME", "COST", "VERIFY", "LANDED", "NOTE",
        ]
        .map(str::to_owned),
    ];
    for (t, doc) in plan.tasks.iter().zip(tasks) {
        let note = note(t);
        rows.push([
            t.id.clone(),
            doc.live.clone(),
            doc.wave.to_string(),
            if t.agents.is_empty() {
                "default".into()
            } else {
                t.agents.join(",")
            },
            t.run_secs.map_or_else(|| "-".into(), seconds),
            t.cost_usd
                .map_or_else(|| "-".into(), |c| format!("${c:.2}")),
            match (&t.verify, t.state) {
                (None, _) => "-".into(),
                (Some(_), TaskState::Landed) => "passed".into(),
                (Some(_), _) => "pending".into(),
            },
            t.landed
                .as_deref()
                .map_or_else(|| "-".into(), |c| crate::session::short_id(c).to_owned()),
            note,
        ]);
    }
    let widths: Vec<usize> = (0..9)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == 8 {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        lines.push(line.trim_end().to_owned());
    }
    lines
}

/// The task's note: why it is in its state (or what it waits for), and the paths its agent
/// should not have touched (`overlap: src/b/x.rs (b), notes.txt (outside)`), each shown even
/// beside the other.
fn note(t: &TaskRecord) -> String {
    let why = t.reason.clone().or_else(|| {
        (t.state == TaskState::Waiting && !t.depends_on.is_empty())
            .then(|| format!("after {}", t.depends_on.join(", ")))
    });
    let overlap = (!t.overlaps.is_empty()).then(|| {
        let paths: Vec<String> = t
            .overlaps
            .iter()
            .map(|o| format!("{} ({})", o.path, o.owner.as_deref().unwrap_or("outside")))
            .collect();
        format!("overlap: {}", paths.join(", "))
    });
    match (why, overlap) {
        (Some(why), Some(overlap)) => format!("{why}; {overlap}"),
        (why, overlap) => why.or(overlap).unwrap_or_default(),
    }
}

/// A time for the table: tenths under a minute (fake agents take less than a second).
fn seconds(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        crate::time::format_duration(std::time::Duration::from_secs_f64(s))
    }
}

/// Every plan, one line each.
fn overview(ctx: &mut Ctx<'_>, state: &StateDir, format: Format) -> Result<u8> {
    // A damaged record is named, and the others are shown.
    let mut plans = Vec::new();
    for name in state.plan_names() {
        match state.load_plan(&name) {
            Ok(p) => plans.push(p),
            Err(err) => ctx.warn(&format!("{err:#}"))?,
        }
    }
    if format == Format::Json {
        #[derive(Serialize)]
        struct All<'a> {
            plans: &'a [PlanRecord],
        }
        ctx.write_doc(&All { plans: &plans })?;
        return Ok(code::SUCCESS);
    }
    for p in &plans {
        let t = totals(p);
        writeln!(
            ctx.out,
            "{}  {}  {} of {} landed  {}",
            p.name,
            p.state,
            t.landed,
            t.tasks,
            p.reason.as_deref().unwrap_or("")
        )?;
    }
    Ok(code::SUCCESS)
}
