//! `git agent run NAME [-- COMMAND…]`: the project's run script (a dev server, say), or a
//! given command, in a session's worktree with the session's environment (ports included),
//! in the foreground; its exit code becomes ours. What it runs is the agent's work, so it
//! runs in the session's write sandbox (`exec`, the user's own way in, does not).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Result;

use super::Ctx;
use crate::error::Failure;
use crate::process::Cmd;
use crate::project::{ProjectCommand, ProjectFile};
use crate::session::Session;
use crate::state::StateDir;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The run script comes from git config agent.run, else from run = \"…\" in .git-agent.toml at
the session's base commit (approved with 'git agent trust'). It runs with sh -c in the
worktree, with GIT_AGENT_* variables, GIT_AGENT_PORT… when ports are reserved, WORKTREE_PATH
and REPO_PATH.")]
pub struct Args {
    /// The session
    #[arg(value_name = "NAME", value_parser = crate::cli::session_name)]
    pub name: String,
    /// Approve the run script of .git-agent.toml without asking
    #[arg(long)]
    pub trust: bool,
    /// Run this command instead of the run script (an argv, never through a shell)
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// A session whose worktree is there to run things in.
pub fn session_with_worktree(state: &StateDir, name: &str) -> Result<Session> {
    let s = state.load(name)?;
    if !s.worktree.is_dir() {
        return Err(Failure::fatal(format!(
            "the worktree of '{name}' is gone: {}",
            s.worktree.display()
        ))
        .into());
    }
    Ok(s)
}

/// Runs `cmd` in the foreground in the session's worktree with its environment (but not
/// the agent's run token), passing the exit status through; `sandboxed`: in the session's
/// write sandbox (`run` starts the agent's work; `exec` is the user's own way in). Signals
/// meant for the command (Ctrl-C) do not stop us first.
pub fn foreground(state: &StateDir, s: &Session, cmd: Cmd, sandboxed: bool) -> Result<u8> {
    let mut cmd = cmd.current_dir(&s.worktree).scrub_for_agent();
    // Without the agent's run token: what the user starts here is theirs, and `rm` or
    // `doctor --reap` never stop it.
    for (k, v) in crate::supervisor::command_env(state, s) {
        if k != crate::procs::TOKEN_VAR {
            cmd = cmd.env(k, v);
        }
    }
    if sandboxed {
        cmd = crate::supervisor::sandboxed_command(state, s, &s.worktree, cmd)?;
    }
    let ignored = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGQUIT,
        signal_hook::consts::SIGTERM,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&ignored))?;
    }
    let status = cmd.status_interactive()?;
    use std::os::unix::process::ExitStatusExt as _;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(sig)) => u8::try_from((128 + sig) & 0xff).unwrap_or(1),
        (None, None) => 1,
    })
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = ctx.repo()?;
    let state = repo.state();
    let s = session_with_worktree(&state, &args.name)?;
    if let Some((program, rest)) = args.command.split_first() {
        let program = if program.contains('/') && Path::new(program).is_relative() {
            ctx.cwd.join(program).to_string_lossy().into_owned()
        } else {
            program.clone()
        };
        return foreground(&state, &s, Cmd::new(program).args(rest), true);
    }
    let script = match repo
        .config()
        .string("agent.run")
        .filter(|c| !c.trim().is_empty())
    {
        Some(script) => script,
        None => {
            let project = ProjectFile::at_commit(repo.gix(), &s.base.commit)?;
            let Some(script) = project.and_then(|p| p.run).filter(|c| !c.trim().is_empty()) else {
                return Err(Failure::fatal("there is no run script")
                    .hint("set one with: git config agent.run \"npm run dev -- --port $GIT_AGENT_PORT\"")
                    .hint("or add run = \"…\" to .git-agent.toml, or give a command: git agent run NAME -- COMMAND")
                    .into());
            };
            ctx.ensure_trusted(
                &repo,
                &[ProjectCommand::new("run", script.clone())],
                args.trust,
                None,
            )?;
            script
        }
    };
    foreground(&state, &s, Cmd::new("sh").args(["-c", &script]), true)
}
