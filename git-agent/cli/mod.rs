//! The `git-agent` command line: clap definitions and the entry point shared by `main.rs`.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

pub mod manual;
mod manual_plugins;
pub mod merge;
pub mod review;

use crate::commands::{self, Ctx};
use crate::error::{Failure, Report, code};

const ABOUT: &str = "Run AI coding agents in their own worktrees, in the background";

const LONG_ABOUT: &str = "\
Run several AI coding agents at once, each in its own git worktree and branch, in the
background; watch them, stop them, and bring their work back without losing any of it.

State lives in <git-common-dir>/agent/, shared by every worktree of the repository.";

const AFTER_HELP: &str = "\
Other verbs are run as plugins: 'git agent X' runs 'git-agent-X' (found next to git-agent,
then on PATH). 'git agent help' lists the plugins found.

Exit status: 0 success; 1 a defined negative result (e.g. 'wait': a session did not
succeed); 2 usage error; 3 would need a terminal to ask; 128 fatal error.";

#[derive(Debug, Parser)]
#[command(
    name = "git-agent",
    bin_name = "git agent",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    disable_help_subcommand = true,
    arg_required_else_help = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub color: ColorArg,
}

/// `--color`, taken by every binary of the suite (read before parsing, see
/// [`crate::ui::setup_colors`]).
#[derive(Debug, Clone, clap::Args)]
pub struct ColorArg {
    /// When to use colors [default: color.agent, color.ui, else auto]
    #[arg(long, global = true, value_name = "WHEN", value_parser = ["auto", "always", "never"])]
    pub color: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start an agent on a task in a new worktree and branch
    New(Box<commands::new::Args>),
    /// List sessions, what needs you first
    #[command(visible_alias = "ls")]
    List(commands::list::Args),
    /// Show a session's record and the end of its log
    Show(commands::show::Args),
    /// Print a session's log, or follow it
    Logs(commands::logs::Args),
    /// Stop running agents (a queued session leaves the queue)
    Stop(commands::stop::Args),
    /// Start a queued session now, ahead of the queue
    Start(commands::start::Args),
    /// Hold the queue and automatic retries (running agents go on)
    Pause(commands::pause::Args),
    /// Release what 'git agent pause' held
    Unpause(commands::pause::Args),
    /// Wait for sessions to end
    Wait(commands::wait::Args),
    /// A live full-screen view of the sessions, to act from
    Watch(commands::watch::Args),
    /// Send a follow-up to a session's agent, resuming its conversation
    Send(commands::send::Args),
    /// A new session from where another is now, its agent taking up a fork of the conversation
    Fork(commands::fork::Args),
    /// Report an agent's state (for agents and their hooks)
    Notify(commands::notify::Args),
    /// Restart an interrupted (lost, stopped, failed) session, resuming its conversation
    Resume(commands::resume::Args),
    /// Stop a session and remove its worktree, never losing work
    Rm(commands::rm::Args),
    /// Remove the sessions whose work is merged; say what is kept and why
    Clean(commands::clean::Args),
    /// Find and fix what crashes, moves and other tools left inconsistent
    Doctor(commands::doctor::Args),
    /// List the agent profiles, their programs and permission modes
    Profiles(commands::profiles::Args),
    /// Run the project's run script (or a command) in a session's worktree
    Run(commands::run::Args),
    /// Run a command in a session's worktree, with its environment
    Exec(commands::exec::Args),
    /// Print a session's worktree path
    Path(commands::path::Args),
    /// Review and approve the commands .git-agent.toml defines
    Trust(commands::trust::Args),
    /// Plans: a graph of tasks in a TOML file, run in the background onto plan/<name>
    Plan(commands::plan::Args),
    /// Try git-agent on a throw-away repository with scripted agents
    Demo(commands::demo::Args),
    /// The stream of state changes of all sessions (--follow to keep watching)
    Events(commands::events::Args),
    /// List the agent.* settings in effect and where each comes from
    Config(commands::config::Args),
    /// Print shell completions (bash, zsh, fish) for the whole suite
    Completions(commands::completions::Args),
    /// Show help for a command, and the plugins found
    Help(commands::help::Args),
    /// Internal: the session names, for completion scripts
    #[command(name = "__names", hide = true)]
    Names,
    /// Internal: the detached supervisor of one session
    #[command(name = "__supervise", hide = true)]
    Supervise(commands::supervise::Args),
    /// Internal: the sandbox trampoline in front of an agent
    #[command(name = "__sandbox", hide = true)]
    Sandbox(commands::sandbox::Args),
    /// Internal: one desktop notification, shown detached
    #[command(name = "__notify-desktop", hide = true)]
    NotifyDesktop(commands::notify_desktop::Args),
    /// Internal: one notification command, under its time limit
    #[command(name = "__notify-run", hide = true)]
    NotifyRun(commands::notify_run::Args),
    #[command(external_subcommand)]
    External(Vec<OsString>),
}

/// The value parser of every argument that names a session, in all three binaries: the one
/// place a NAME from the command line is checked ([`crate::names::validate`]), before any
/// command can turn it into a path.
pub fn session_name(name: &str) -> Result<String, Failure> {
    crate::names::check(name)?;
    Ok(name.to_owned())
}

/// Runs `git-agent` with the process arguments, writing to `out` and `err`.
pub fn main(out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
    run_binary::<Cli>(out, err, |ctx, cli| dispatch(ctx, cli.command))
}

/// The frame every binary of the suite runs in: parses its clap definition `P` (clap prints
/// help and usage errors itself, exit 0 or 2), runs `f` with a [`Ctx`], and reports errors the
/// way git does (`fatal: …` + `hint: …`) with the documented exit code. A closed stdout ends
/// quietly.
pub fn run_binary<P: Parser>(
    out: &mut dyn Write,
    err: &mut dyn Write,
    f: impl FnOnce(&mut Ctx<'_>, P) -> Result<u8>,
) -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    crate::ui::setup_colors(crate::ui::color_flag(&argv).as_deref());
    let parsed = match P::try_parse_from(argv) {
        Ok(parsed) => parsed,
        Err(e) => {
            // Our own checks of a value (a session name) speak in git's voice, with hints.
            if let Some(f) = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<Failure>())
            {
                let report = Report::from_error(&anyhow::Error::new(f.clone()));
                let _ = report.write(err);
                return ExitCode::from(report.code);
            }
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(code::USAGE));
        }
    };
    let cwd = match std::env::current_dir() {
        Ok(cwd) => cwd,
        Err(e) => {
            let _ = writeln!(err, "fatal: cannot read the current directory: {e}");
            return ExitCode::from(code::FATAL);
        }
    };
    let mut ctx = Ctx { out, err, cwd };
    let result = f(&mut ctx, parsed);
    let _ = ctx.out.flush();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if Report::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let report = Report::from_error(&e);
            let _ = report.write(ctx.err);
            ExitCode::from(report.code)
        }
    }
}

fn dispatch(ctx: &mut Ctx<'_>, command: Command) -> Result<u8> {
    match command {
        Command::New(args) => commands::new::run(ctx, *args),
        Command::List(args) => commands::list::run(ctx, args),
        Command::Show(args) => commands::show::run(ctx, args),
        Command::Logs(args) => commands::logs::run(ctx, args),
        Command::Stop(args) => commands::stop::run(ctx, args),
        Command::Start(args) => commands::start::run(ctx, args),
        Command::Pause(args) => commands::pause::pause(ctx, args),
        Command::Unpause(args) => commands::pause::unpause(ctx, args),
        Command::Wait(args) => commands::wait::run(ctx, args),
        Command::Watch(args) => commands::watch::run(ctx, args),
        Command::Send(args) => commands::send::run(ctx, args),
        Command::Fork(args) => commands::fork::run(ctx, args),
        Command::Notify(args) => commands::notify::run(ctx, args),
        Command::Resume(args) => commands::resume::run(ctx, args),
        Command::Rm(args) => commands::rm::run(ctx, args),
        Command::Clean(args) => commands::clean::run(ctx, args),
        Command::Doctor(args) => commands::doctor::run(ctx, args),
        Command::Profiles(args) => commands::profiles::run(ctx, args),
        Command::Run(args) => commands::run::run(ctx, args),
        Command::Exec(args) => commands::exec::run(ctx, args),
        Command::Path(args) => commands::path::run(ctx, args),
        Command::Trust(args) => commands::trust::run(ctx, args),
        Command::Plan(args) => commands::plan::run(ctx, args),
        Command::Demo(args) => commands::demo::run(ctx, args),
        Command::Events(args) => commands::events::run(ctx, args),
        Command::Config(args) => commands::config::run(ctx, args),
        Command::Completions(args) => commands::completions::run(ctx, args),
        Command::Names => commands::completions::names(ctx),
        Command::Help(args) => commands::help::run(ctx, args),
        Command::Supervise(args) => commands::supervise::run(ctx, args),
        Command::Sandbox(args) => commands::sandbox::run(ctx, args),
        Command::NotifyDesktop(args) => commands::notify_desktop::run(ctx, args),
        Command::NotifyRun(args) => commands::notify_run::run(ctx, args),
        Command::External(argv) => commands::help::run_plugin(ctx, &argv),
    }
}
