//! `git agent exec NAME -- COMMAND…`: a command in a session's worktree, with the session's
//! environment, in the foreground; its exit code becomes ours.

use std::path::Path;

use anyhow::Result;

use super::Ctx;
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
    let s = super::run::session_with_worktree(&state, &args.name)?;
    let (program, rest) = args.command.split_first().expect("clap requires a command");
    let program = if program.contains('/') && Path::new(program).is_relative() {
        ctx.cwd.join(program).to_string_lossy().into_owned()
    } else {
        program.clone()
    };
    super::run::foreground(&state, &s, Cmd::new(program).args(rest), false)
}
