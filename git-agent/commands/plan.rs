//! `git agent plan`: plans, a task graph in a TOML file (README "Plans"). Only `plan check`
//! exists so far: it validates a plan and prints its waves; nothing runs.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use super::{Ctx, Format, OutputArgs};
use crate::error::Failure;
use crate::ops::plan::{self, Land, Problem, check::Checked, graph::Wave};

#[derive(Debug, clap::Args)]
#[command(arg_required_else_help = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: PlanCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum PlanCommand {
    /// Validate a plan file and print its waves (nothing runs)
    #[command(
        after_help = "Exit status: 0 the plan is valid; 128 it is not (each problem is named \
                      with its task and line)."
    )]
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
#[command(mut_args(super::reword("json", |a| a.help("Print the plan, its tasks and waves as JSON"))))]
pub struct CheckArgs {
    /// The plan file (TOML)
    pub file: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `plan check --json`.
#[derive(Serialize)]
struct Doc {
    name: String,
    file: PathBuf,
    base: BaseDoc,
    max_parallel: Option<u32>,
    validate: Option<String>,
    land: Land,
    fix: bool,
    tasks: Vec<TaskDoc>,
    waves: Vec<Wave>,
    warnings: Vec<Problem>,
}

#[derive(Serialize)]
struct BaseDoc {
    /// As written in the plan (null: the current branch).
    spec: Option<String>,
    commit: String,
    ref_name: Option<String>,
}

#[derive(Serialize)]
struct TaskDoc {
    id: String,
    line: usize,
    wave: usize,
    agents: Vec<String>,
    variants: u32,
    depends_on: Vec<String>,
    touches: Vec<String>,
    prompt_file: Option<PathBuf>,
    verify: Option<String>,
    budget: Option<f64>,
    timeout_secs: Option<u64>,
    retries: u32,
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    match args.command {
        PlanCommand::Check(args) => check(ctx, args),
    }
}

fn check(ctx: &mut Ctx<'_>, args: CheckArgs) -> Result<u8> {
    let repo = ctx.repo()?;
    let path = ctx.cwd.join(&args.file);
    let (raw, text) = plan::read(&path, &args.file)?;
    let checked = plan::check::check(&repo, &path, raw, &text)?;
    for warning in &checked.warnings {
        ctx.warn(&warning.render(&args.file))?;
    }
    let Checked {
        plan: Some(plan),
        base: Some(base),
        waves,
        problems,
        ..
    } = checked
    else {
        return Err(invalid(ctx, &args.file, &checked.problems)?);
    };
    debug_assert!(problems.is_empty());
    let wave_of = |id: &str| {
        waves
            .iter()
            .find(|w| w.tasks.iter().any(|t| t == id))
            .map_or(0, |w| w.number)
    };
    if args.output.format() == Format::Json {
        let tasks = plan
            .tasks
            .iter()
            .map(|t| TaskDoc {
                id: t.id.clone(),
                line: t.line,
                wave: wave_of(&t.id),
                agents: t.agents.clone(),
                variants: t.variants,
                depends_on: t.depends_on.clone(),
                touches: t.touches.clone(),
                prompt_file: t.prompt_file.clone(),
                verify: t.verify.clone(),
                budget: t.budget,
                timeout_secs: t.timeout.map(|d| d.as_secs()),
                retries: t.retries,
            })
            .collect();
        ctx.write_doc(&Doc {
            name: plan.name,
            file: args.file,
            base: BaseDoc {
                spec: plan.base,
                commit: base.commit,
                ref_name: base.ref_name,
            },
            max_parallel: plan.max_parallel,
            validate: plan.validate,
            land: plan.land,
            fix: plan.fix,
            tasks,
            waves,
            warnings: checked.warnings,
        })?;
        return Ok(0);
    }
    let short = crate::session::short_id(&base.commit);
    let base_name = plan.base.as_deref().unwrap_or("the current branch");
    writeln!(
        ctx.out,
        "Plan '{}' is valid: {} task{} in {} wave{}, from {base_name} ({short}).",
        plan.name,
        plan.tasks.len(),
        if plan.tasks.len() == 1 { "" } else { "s" },
        waves.len(),
        if waves.len() == 1 { "" } else { "s" },
    )?;
    for wave in &waves {
        let tasks: Vec<String> = wave
            .tasks
            .iter()
            .map(|id| {
                let task = plan.tasks.iter().find(|t| &t.id == id);
                match task.map(|t| t.depends_on.as_slice()) {
                    Some(deps) if !deps.is_empty() => format!("{id} (after {})", deps.join(", ")),
                    _ => id.clone(),
                }
            })
            .collect();
        writeln!(ctx.out, "wave {}: {}", wave.number, tasks.join(", "))?;
        for pair in &wave.serialized {
            writeln!(
                ctx.out,
                "  {} and {} run one after the other: '{}' and '{}' overlap",
                pair.first, pair.second, pair.because.0, pair.because.1
            )?;
        }
    }
    if let Some(n) = plan.max_parallel {
        writeln!(ctx.out, "At most {n} at once (and agent.maxParallel).")?;
    }
    writeln!(
        ctx.out,
        "Nothing ran: 'git agent plan run' is not available yet."
    )?;
    Ok(0)
}

/// Reports the problems of an invalid plan: one is the `fatal:` line itself; several are
/// `error:` lines and a `fatal:` that counts them. Exit 128.
fn invalid(
    ctx: &mut Ctx<'_>,
    file: &std::path::Path,
    problems: &[Problem],
) -> Result<anyhow::Error> {
    if let [only] = problems {
        return Ok(Failure::fatal(only.render(file)).into());
    }
    for problem in problems {
        writeln!(ctx.err, "error: {}", problem.render(file))?;
    }
    Ok(Failure::fatal(format!(
        "the plan {} has {} problems, nothing was started",
        file.display(),
        problems.len()
    ))
    .into())
}
