//! `git agent plan`: plans, a task graph in a TOML file (README "Plans"): `draft` asks an
//! agent, read-only, for one; `check` validates one, `run` starts it in the background, `status`/`wait` follow it, `stop`/`resume` pause
//! and continue it, `land` lands its integration branch, `rm` removes it.

mod check;
mod control;
mod draft;
mod status;

use std::path::PathBuf;

use anyhow::Result;

use super::{Ctx, OutputArgs};

pub use check::CheckArgs;
pub use draft::DraftArgs;

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
    /// Ask an agent, read-only, to draft a plan for a goal; check it and show it (nothing runs)
    #[command(after_help = "\
The agent runs in the foreground in this worktree, in its permission mode that cannot edit
files (claude plan, codex read-only, gemini plan, opencode read-only, aider ask) and, where the
kernel can, in a write sandbox that leaves the whole repository read-only. A profile without
such a mode is refused unless --permission-mode names one. It is asked for a plan in the format
of 'plan check'; the first ```toml block of its answer is written (never over an existing file
without --force), checked, and its waves shown. Run it with: git agent plan run FILE.

Exit status: 0 the drafted plan is valid; 1 it is not (its problems are shown and the file is
kept to be fixed); 128 the agent failed or gave no plan (nothing written), the profile has no
read-only mode, or FILE exists.")]
    Draft(DraftArgs),
    /// Run a plan in the background: its tasks start as their dependencies land
    #[command(after_help = "\
The plan is checked first (as 'plan check'); nothing starts if it is invalid. An integration
branch plan/<name> starts at the base; each task starts from its tip once its dependencies
have landed there, never at the same time as a task whose 'touches' overlap its own, and lands
on it (squashed, through 'git agent merge') when its agent is done and its verify passes. A
conflict gets the task's agent one 'sync --ask-agent' round; then the task is blocked. When
every task has landed, validate runs on the integration branch.

The commands a plan file defines (validate, verify) run only once approved (as the commands of
.git-agent.toml are): at a prompt, or with --trust.

Exit status: 0 started; 128 the plan is invalid, or its name, branch or sessions are taken;
3 a command needs approval and there is no terminal.")]
    Run(RunArgs),
    /// Show a plan's tasks: state, wave, agent, time, cost, verify, landed commit
    #[command(after_help = "Exit status: 0 shown; 128 no such plan.")]
    Status(NameArgs),
    /// Wait until a plan needs nothing more from its agents (validated, blocked, failed)
    #[command(after_help = "\
While waiting, the plan is advanced (a task whose supervisor was killed after its end is
landed). Exit status: 0 validated or landed; 1 blocked, failed, stopped, a task lost, or
--timeout expired; 128 no such plan.")]
    Wait(WaitArgs),
    /// Stop a plan: its running tasks are stopped, nothing new starts
    #[command(after_help = "Exit status: 0 stopped; 1 it was not running; 128 no such plan.")]
    Stop(NameArgs),
    /// Continue a plan after a stop, a crash or a fix: lost or stopped tasks carry on
    #[command(after_help = "\
Tasks whose agents were lost (killed) or stopped carry on in their worktrees, resuming their
conversations; failed and blocked tasks are tried again (a blocked task whose branch you
fixed lands). No task that landed runs again. Exit status: 0 resumed; 128 no such plan.")]
    Resume(NameArgs),
    /// Land a validated plan's integration branch on its base (through git agent merge)
    #[command(after_help = "\
A fast-forward when the base has not moved since the plan started, else a merge commit: each
task's commit stays as it is. Exit status: 0 landed; 1 refused (not validated, conflicts, local
changes in the way); 128 no such plan.")]
    Land(NameArgs),
    /// Remove a plan that is not running: its sessions (as git agent rm) and its record
    #[command(after_help = "\
Each session of the plan is removed as 'git agent rm' would: one holding work that has not
landed is kept, and the plan with it (exit 1). The integration branch is deleted only if it
landed; otherwise it is kept and named. The record moves to the archive.
Exit status: 0 removed; 1 something was kept; 128 no such plan, or it is running.")]
    Rm(RmArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The plan file (TOML)
    pub file: PathBuf,
    /// Approve the plan's commands (validate, verify) without asking
    #[arg(long)]
    pub trust: bool,
}

#[derive(Debug, clap::Args)]
#[command(mut_args(super::reword("json", |a| a.help("Print the plan's record and totals as JSON"))))]
pub struct NameArgs {
    /// The plan's name [default: the only plan]
    #[arg(value_name = "NAME", value_parser = crate::cli::session_name)]
    pub name: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    /// The plan's name [default: the only plan]
    #[arg(value_name = "NAME", value_parser = crate::cli::session_name)]
    pub name: Option<String>,
    /// Give up after this long (90s, 30m, 2h)
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// The plan's name
    #[arg(value_name = "NAME", value_parser = crate::cli::session_name)]
    pub name: String,
    /// Remove its sessions even with work that has not landed (their branches are kept)
    #[arg(long)]
    pub force: bool,
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let verb = match &args.command {
        PlanCommand::Run(_) => Some("start"),
        PlanCommand::Resume(_) => Some("resume"),
        PlanCommand::Land(_) => Some("land"),
        _ => None,
    };
    // An agent (what its run started carries its run token) does not start, continue or land
    // plans: their sessions would run outside its run and sandbox, `--trust` would approve
    // commands in the user's name, and `land` moves the user's branch. Drafting one is fine.
    if let Some(verb) = verb
        && std::env::var_os(crate::procs::TOKEN_VAR).is_some()
    {
        return Err(
            crate::error::Failure::fatal(format!("an agent's run cannot {verb} a plan"))
                .hint("write the plan file; the user runs it with: git agent plan run FILE")
                .into(),
        );
    }
    match args.command {
        PlanCommand::Check(args) => check::check(ctx, args),
        PlanCommand::Draft(args) => draft::draft(ctx, args),
        PlanCommand::Run(args) => control::run(ctx, args),
        PlanCommand::Status(args) => status::status(ctx, args),
        PlanCommand::Wait(args) => control::wait(ctx, args),
        PlanCommand::Stop(args) => control::stop(ctx, args),
        PlanCommand::Resume(args) => control::resume(ctx, args),
        PlanCommand::Land(args) => control::land(ctx, args),
        PlanCommand::Rm(args) => control::rm(ctx, args),
    }
}

/// The plan named, or the only one on record.
fn plan_name(repo: &crate::git::repo::Repo, name: Option<&str>) -> Result<String> {
    if let Some(name) = name {
        return Ok(name.to_owned());
    }
    let names = repo.state().plan_names();
    match names.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(crate::error::Failure::fatal("there is no plan")
            .hint("start one with: git agent plan run FILE")
            .into()),
        _ => {
            Err(crate::error::Failure::usage(format!("name the plan: {}", names.join(", "))).into())
        }
    }
}
