//! `git agent plan check`: validate a plan and print its waves; nothing runs.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::commands::{Ctx, Format, OutputArgs};
use crate::error::Failure;
use crate::git::repo::Repo;
use crate::ops::plan::Plan;
use crate::ops::plan::{self, Land, Problem, check::Checked, graph::Wave};
use crate::session::Base;

#[derive(Debug, clap::Args)]
#[command(mut_args(crate::commands::reword("json", |a| a.help("Print the plan, its tasks and waves as JSON"))))]
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

pub fn check(ctx: &mut Ctx<'_>, args: CheckArgs) -> Result<u8> {
    let repo = ctx.repo()?;
    let (plan, base, waves, warnings) = checked(ctx, &repo, &args.file, false)?;
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
            warnings,
        })?;
        return Ok(0);
    }
    show_waves(ctx, &plan, &base, &waves)?;
    writeln!(
        ctx.out,
        "Nothing ran; run it with: git agent plan run {}",
        args.file.display()
    )?;
    Ok(0)
}

/// Prints a valid plan's summary and waves (what `plan check` shows, and `plan draft`).
pub fn show_waves(ctx: &mut Ctx<'_>, plan: &Plan, base: &Base, waves: &[Wave]) -> Result<()> {
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
    for wave in waves {
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
    Ok(())
}

/// What checking a plan file found (its warnings already shown).
pub enum Verdict {
    Valid(Box<(Plan, Base, Vec<Wave>, Vec<Problem>)>),
    /// Its problems, each naming its task and line.
    Invalid(Vec<Problem>),
}

/// Reads and checks a plan file, showing its warnings. A file that cannot be read or is not
/// a plan file's TOML is the error (exit 128). To `run` it, a profile whose program is missing
/// is a problem too.
pub fn verdict(ctx: &mut Ctx<'_>, repo: &Repo, file: &Path, run: bool) -> Result<Verdict> {
    let path = ctx.cwd.join(file);
    let (raw, text) = plan::read(&path, file)?;
    let mut checked = plan::check::check(repo, &path, raw, &text)?;
    if run {
        let missing = std::mem::take(&mut checked.missing);
        checked.warnings.retain(|w| !missing.contains(w));
        checked.problems.extend(missing);
    }
    for warning in &checked.warnings {
        ctx.warn(&warning.render(file))?;
    }
    Ok(match checked {
        Checked {
            plan: Some(plan),
            base: Some(base),
            waves,
            problems,
            warnings,
            ..
        } if problems.is_empty() => Verdict::Valid(Box::new((plan, base, waves, warnings))),
        checked => Verdict::Invalid(checked.problems),
    })
}

/// Reads and checks a plan file: its warnings shown, its problems the error (exit 128). To
/// `run` it, a profile whose program is missing is a problem too.
pub fn checked(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    file: &Path,
    run: bool,
) -> Result<(Plan, Base, Vec<Wave>, Vec<Problem>)> {
    match verdict(ctx, repo, file, run)? {
        Verdict::Valid(valid) => Ok(*valid),
        Verdict::Invalid(problems) => Err(invalid(ctx, file, &problems)?),
    }
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
