//! `git-agent __notify-desktop`: shows one desktop notification (internal; started detached
//! by [`crate::notify`], so a slow session bus never holds a supervisor). The text comes in
//! the environment, never in argv.

use anyhow::Result;

use super::Ctx;
use crate::notify::{BODY_VAR, SUMMARY_VAR, show_desktop};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &mut Ctx<'_>, _args: Args) -> Result<u8> {
    let summary = std::env::var(SUMMARY_VAR).unwrap_or_else(|_| "git agent".to_owned());
    let body = std::env::var(BODY_VAR).unwrap_or_default();
    show_desktop(&summary, &body)?;
    Ok(0)
}
