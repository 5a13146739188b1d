//! `git agent run NAME [-- COMMAND…]`: the project's run script (a dev server, say), or a
//! given command, in a session's worktree with the session's environment (ports included),
//! in the foreground; its exit code becomes ours. What it runs is the agent's work, so it
//! runs in the session's write sandbox (`exec`, the user's own way in, does not).

use anyhow::Result;

use super::Ctx;
use crate::error::Failure;
use crate::ops::foreground;
use crate::process::Cmd;
use crate::project::{ProjectCommand, ProjectFile};

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

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = ctx.repo()?;
    let state = repo.state();
    let s = foreground::session_with_worktree(&state, &args.name)?;
    if let Some((program, rest)) = args.command.split_first() {
        let program = foreground::program(&ctx.cwd, program);
        return foreground::run(&state, &s, Cmd::new(program).args(rest), true);
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
    foreground::run(&state, &s, Cmd::new("sh").args(["-c", &script]), true)
}
