//! `git agent stop NAME…`: SIGTERM to the agent's process group, SIGKILL after a grace
//! period; the session ends as `stopped`.
//!
//! The stopping itself (supervisor first, ourselves if it is gone) is [`crate::ops::stop`].

use anyhow::Result;

use super::Ctx;
use crate::ops::stop::stop_session;
use crate::session::Session;
use crate::ui;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sessions to stop
    #[arg(value_name = "NAME", value_parser = crate::cli::session_name, required_unless_present = "all")]
    pub names: Vec<String>,
    /// Stop every running session
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// Time between SIGTERM and SIGKILL [default: agent.stopGrace, or 10s]
    #[arg(long, value_name = "DURATION")]
    pub grace: Option<String>,
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = ctx.repo()?;
    let state = repo.state();
    let grace = crate::time::parse_flag(args.grace.as_deref())?;
    let targets: Vec<Session> = if args.all {
        ctx.sessions(&state)?
            .into_iter()
            .filter(|s| s.state.is_active())
            .collect()
    } else {
        state.load_each(&args.names)?
    };
    if targets.is_empty() {
        writeln!(ctx.err, "No running sessions.")?;
        return Ok(0);
    }
    // The queued first: stopping a running one frees its slot, which would start a queued
    // session we are about to stop (its agent launched only to be stopped).
    let mut targets = targets;
    targets.sort_by_key(|s| s.live_state() != crate::session::State::Queued);
    let mut code = 0;
    for session in targets {
        match stop_session(&state, &session, grace) {
            Ok(Some(ended)) => {
                let reason = ended
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                writeln!(
                    ctx.out,
                    "{}: {}{reason}",
                    ended.name,
                    ui::state(ended.state)
                )?;
            }
            Ok(None) => {
                writeln!(
                    ctx.err,
                    "{} is not running ({})",
                    session.name,
                    ui::state(session.live_state())
                )?;
            }
            Err(err) => {
                let report = crate::error::Report::from_error(&err);
                writeln!(ctx.err, "error: {}: {}", session.name, report.message)?;
                for h in report.hints {
                    ctx.hint(&h)?;
                }
                code = 1;
            }
        }
    }
    Ok(code)
}
