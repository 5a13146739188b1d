//! `git-agent __notify-run`: runs one `agent.notifyCommand` under its time limit
//! (internal; started detached by [`crate::notify`], its output appended to `notify.log`, so
//! the supervisor that announces waits for nothing). The command and the limit come in the
//! environment; past the limit the command's process group is killed and a line in
//! `notify.log` (our stderr) says so.

use std::time::Duration;

use anyhow::Result;

use super::Ctx;
use crate::notify::{COMMAND_VAR, DEFAULT_TIMEOUT, TIMEOUT_VAR, run_limited};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(ctx: &mut Ctx<'_>, _args: Args) -> Result<u8> {
    let Ok(command) = std::env::var(COMMAND_VAR) else {
        return Ok(0);
    };
    let limit = std::env::var(TIMEOUT_VAR)
        .ok()
        .and_then(|ms| ms.parse::<u64>().ok())
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
    if run_limited(&command, limit)? {
        writeln!(
            ctx.err,
            "{}: agent.notifyCommand killed after {} (agent.notifyTimeout): {command}",
            crate::time::format_timestamp(crate::time::now()),
            crate::time::format_duration(limit),
        )?;
        return Ok(1);
    }
    Ok(0)
}
