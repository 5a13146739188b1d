//! `git agent plan draft GOAL`: an agent, read-only, drafts a plan for a goal; the plan is
//! written to a file, checked as `plan check` does, and shown. Nothing runs: the user reviews
//! it and starts it with `plan run`. The planner itself is `crate::ops::plan::draft`.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::check::{self, Verdict};
use crate::commands::Ctx;
use crate::error::Failure;
use crate::ops::plan::draft;

#[derive(Debug, clap::Args)]
pub struct DraftArgs {
    /// What the plan is for (the words are joined)
    #[arg(value_name = "GOAL", required = true)]
    pub goal: Vec<String>,
    /// The profile that drafts it [default: agent.default, else the first installed]
    #[arg(long, value_name = "PROFILE")]
    pub agent: Option<String>,
    /// Run the profile in this permission mode instead of its read-only one (it may then
    /// edit this checkout)
    #[arg(long, value_name = "MODE")]
    pub permission_mode: Option<String>,
    /// Write the plan to FILE [default: plans/<name>.toml at the worktree's root, or
    /// plans/<name>-2.toml… if that exists]
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write over FILE if it exists
    #[arg(long)]
    pub force: bool,
}

pub fn draft(ctx: &mut Ctx<'_>, args: DraftArgs) -> Result<u8> {
    let repo = ctx.repo()?;
    let Some(workdir) = repo.workdir().map(Path::to_owned) else {
        return Err(
            Failure::fatal("plan draft needs a worktree for the agent to read")
                .hint("run it in a checkout of the repository")
                .into(),
        );
    };
    let goal = args.goal.join(" ");
    let goal = goal.trim();
    if goal.is_empty() {
        return Err(Failure::usage("the goal is empty").into());
    }
    // Refused before the agent runs: nothing is spent on an answer that has nowhere to go.
    let output = args.output.as_ref().map(|f| ctx.cwd.join(f));
    if let Some(path) = &output
        && path.exists()
        && !args.force
    {
        return Err(
            Failure::fatal(format!("{} already exists", shown(ctx, path)))
                .hint("write over it with --force, or choose another file with -o FILE")
                .into(),
        );
    }
    let config = repo.config();
    let planner = draft::choose(
        &config,
        args.agent.as_deref(),
        args.permission_mode.as_deref(),
    )?;
    let name = planner.profile.name.clone();
    let mode = planner.profile.permission_mode.clone().unwrap_or_default();
    if planner.mode_given && !planner.profile.read_only {
        ctx.warn(&format!(
            "'{mode}' is not a read-only mode of {name}: it may edit this checkout"
        ))?;
    }
    let started = draft::start(&config, &workdir, &planner, &draft::prompt(goal))?;
    writeln!(
        ctx.err,
        "Asking {name} ({mode}) for a plan; it reads {} and changes nothing (sandbox: {}).",
        workdir.display(),
        started.sandbox
    )?;
    let answer = ctx.ask(started, &name)?;
    if let Some(why) = answer.failure() {
        return Err(Failure::fatal(format!("{name} failed: {why}"))
            .hint("nothing was written")
            .into());
    }
    let Some(plan) = draft::plan_of(&answer) else {
        if let Some(said) = answer.said() {
            writeln!(ctx.err, "{name} answered:")?;
            for line in said.lines().take(40) {
                writeln!(ctx.err, "  {line}")?;
            }
        }
        return Err(Failure::fatal(format!("{name} gave no plan"))
            .hint("nothing was written; ask again with a clearer goal, or another profile: --agent NAME")
            .into());
    };
    let path =
        output.unwrap_or_else(|| draft::default_file(&workdir, &draft::name_of(&plan, goal)));
    draft::write_new(&path, &plan, args.force)?;
    let file = PathBuf::from(shown(ctx, &path));
    writeln!(ctx.out, "Wrote the plan to {}.", file.display())?;
    checked(ctx, &repo, &file)
}

/// Checks the written plan as `plan check` does: 0 valid (waves shown), 1 not (problems
/// shown, the file kept for the user to fix).
fn checked(ctx: &mut Ctx<'_>, repo: &crate::git::repo::Repo, file: &Path) -> Result<u8> {
    let problems = match check::verdict(ctx, repo, file, false) {
        Ok(Verdict::Valid(valid)) => {
            let (plan, base, waves, _warnings) = *valid;
            check::show_waves(ctx, &plan, &base, &waves)?;
            writeln!(
                ctx.out,
                "Nothing ran; review it, then run it with: git agent plan run {}",
                file.display()
            )?;
            return Ok(0);
        }
        Ok(Verdict::Invalid(problems)) => problems.iter().map(|p| p.render(file)).collect(),
        // Not even a plan file's TOML: the parse error names the line.
        Err(err) => vec![format!("{err:#}")],
    };
    for problem in &problems {
        writeln!(ctx.err, "error: {problem}")?;
    }
    writeln!(
        ctx.err,
        "error: the drafted plan {} has {} problem{}; it is kept for you to fix",
        file.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    )?;
    ctx.hint(&format!(
        "edit it, then: git agent plan check {}",
        file.display()
    ))?;
    Ok(1)
}

/// `path` as the user would type it from where they are: relative when it is below.
fn shown(ctx: &Ctx<'_>, path: &Path) -> String {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let cwd = canonical(&ctx.cwd);
    let full = path
        .parent()
        .map(|dir| canonical(dir).join(path.file_name().unwrap_or_default()))
        .unwrap_or_else(|| path.to_owned());
    full.strip_prefix(&cwd)
        .map(|rel| rel.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}
