//! `git agent start NAME`: a queued session starts now, ahead of the queue and whatever the
//! limits say (the user asked for it by name).

use anyhow::Result;

use super::Ctx;
use crate::error::Failure;
use crate::session::State;
use crate::supervisor::schedule;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The queued session
    #[arg(value_name = "NAME", value_parser = crate::cli::session_name)]
    pub name: String,
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let state = ctx.repo()?.state();
    let name = args.name.as_str();
    let live = state.load(name)?.live_state();
    if live != State::Queued || !schedule::start_now(&state, name)? {
        // Read again: another command may have started it since we looked.
        let live = state.load(name)?.live_state();
        return Err(Failure::fatal(format!("'{name}' is not queued (it is {live})"))
            .hint("'git agent start' starts a queued session; 'git agent resume' restarts one that ended")
            .into());
    }
    writeln!(ctx.out, "Started {name}, ahead of the queue.")?;
    Ok(0)
}
