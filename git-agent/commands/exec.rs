//! `git agent exec NAME -- COMMAND…`: a command in a session's worktree, with the session's
//! environment, in the foreground; its exit code becomes ours.

use anyhow::Result;

use super::Ctx;
use crate::ops::foreground;
use crate::process::Cmd;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The session
    #[arg(value_name = "NAME", value_parser = crate::cli::session_name)]
    pub name: String,
    /// The command (an argv, never through a shell)
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = ctx.repo()?;
    let state = repo.state();
    let s = foreground::session_with_worktree(&state, &args.name)?;
    let (program, rest) = args.command.split_first().expect("clap requires a command");
    let program = foreground::program(&ctx.cwd, program);
    foreground::run(&state, &s, Cmd::new(program).args(rest), false)
}
