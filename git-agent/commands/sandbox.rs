//! `git-agent __sandbox --write PATH… -- PROGRAM ARGS…`: the sandbox trampoline (internal;
//! started by the supervisor, verify and run). It restricts itself to writing beneath the
//! given paths, then becomes PROGRAM (same pid), which keeps the restriction and passes it
//! to everything it starts. See `crate::sandbox`.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Result;

use super::Ctx;
use crate::error::Failure;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A path beneath which writes are allowed (repeatable)
    #[arg(long = "write", value_name = "PATH")]
    pub write: Vec<PathBuf>,
    /// The program and its arguments
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

pub fn run(_ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    crate::sandbox::enforce(&args.write).map_err(|e| {
        Failure::fatal(format!("could not sandbox the agent: {e:#}"))
            .hint("set agent.sandbox=off to run agents without a sandbox")
    })?;
    let (program, rest) = args.command.split_first().expect("clap requires a command");
    Err(crate::process::Cmd::new(program).args(rest).exec())
}
