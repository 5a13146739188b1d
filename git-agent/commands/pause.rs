//! `git agent pause` / `git agent unpause`: hold every start the queue would make, and every
//! automatic retry after a rate limit, until released. Agents already running go on.

use anyhow::{Context as _, Result};

use super::Ctx;
use crate::supervisor::schedule;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn pause(ctx: &mut Ctx<'_>, _args: Args) -> Result<u8> {
    let state = ctx.repo()?.state();
    let path = state.paused_path();
    if path.exists() {
        writeln!(ctx.out, "Already paused.")?;
        return Ok(0);
    }
    std::fs::create_dir_all(state.root())?;
    std::fs::write(&path, format!("{}\n", crate::time::now()))
        .with_context(|| format!("could not write {}", path.display()))?;
    state.append_event(&crate::state::Event::new("", "paused"))?;
    writeln!(
        ctx.out,
        "Paused: queued sessions and automatic retries wait until 'git agent unpause'; running agents go on."
    )?;
    Ok(0)
}

pub fn unpause(ctx: &mut Ctx<'_>, _args: Args) -> Result<u8> {
    let state = ctx.repo()?.state();
    let path = state.paused_path();
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            writeln!(ctx.out, "Not paused.")?;
            return Ok(0);
        }
        Err(e) => return Err(e).with_context(|| format!("could not remove {}", path.display())),
    }
    state.append_event(&crate::state::Event::new("", "unpaused"))?;
    let started = schedule::advance(&state)?;
    if started.is_empty() {
        writeln!(ctx.out, "Unpaused.")?;
    } else {
        writeln!(ctx.out, "Unpaused; started {}.", started.join(", "))?;
    }
    Ok(0)
}
