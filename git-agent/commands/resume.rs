//! `git agent resume NAME`: restart an interrupted session in its worktree, resuming the
//! agent's own conversation where its profile can (otherwise it gets its task again, with a
//! note that it was interrupted). A `lost` session's end is recorded first (what is left of
//! its agent is stopped, unless it runs elsewhere and can be followed again: an SSH runner's
//! run then reconnects to it); `stopped` and `failed` sessions continue as they are.

use anyhow::Result;

use super::Ctx;
use crate::error::Failure;
use crate::session::{RunKind, State};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The session to resume
    #[arg(value_name = "NAME", value_parser = crate::cli::session_name)]
    pub name: String,
    /// Something to add for the agent (what to do differently, say)
    #[arg(short, long, value_name = "MSG")]
    pub message: Option<String>,
}

/// What the agent is told when it is resumed.
const CARRY_ON: &str = "You were interrupted before you finished. Carry on with the task where \
you left off: check what is already done in this worktree, then complete the rest.";

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = ctx.repo()?;
    let state = repo.state();
    let name = args.name.as_str();
    let s = state.load(name)?;
    // Ending a lost run commits what its worktree holds: only if that is the session's own
    // (invariant 12; `send` checks again).
    if s.worktree.is_dir() {
        crate::git::worktree::ensure_ours(
            &repo,
            &s,
            "nothing was run there; 'git agent doctor --fix' leaves the record without a worktree",
        )?;
    }
    match s.live_state() {
        State::Lost => {
            let why = "its supervisor was lost; 'git agent resume' reconnects to its agent";
            if crate::ops::stop::let_go_lost(&state, &s, why)? {
                writeln!(
                    ctx.err,
                    "{name} was lost (its supervisor is gone): reconnecting to where its agent runs"
                )?;
            } else {
                writeln!(
                    ctx.err,
                    "{name} was lost (its supervisor is gone): recording its end first"
                )?;
                crate::ops::stop::stop_session_for(
                    &state,
                    &s,
                    None,
                    Some("stopped by 'git agent resume'"),
                )?;
            }
        }
        State::Stopped | State::Failed => {}
        live if live.is_active() => {
            return Err(Failure::fatal(format!(
                "the agent of '{name}' is running ({live}); there is nothing to resume"
            ))
            .hint(format!(
                "send it a follow-up when it ends: git agent send --queue {name} …"
            ))
            .into());
        }
        State::SetupFailed => {
            return Err(Failure::fatal(format!(
                "'{name}' never started: its setup failed"
            ))
            .hint(format!("see why with 'git agent show {name}'; fix the setup, then remove it (git agent rm {name}) and start it again"))
            .into());
        }
        live => {
            return Err(
                Failure::fatal(format!("'{name}' was not interrupted ({live})"))
                    .hint(format!(
                        "to ask for more, send a follow-up: git agent send {name} …"
                    ))
                    .into(),
            );
        }
    }
    let message = match &args.message {
        Some(extra) => format!("{CARRY_ON}\n\n{extra}"),
        None => CARRY_ON.to_owned(),
    };
    let delivered = crate::ops::send::deliver_as(&repo, name, &message, false, RunKind::Resume)?;
    writeln!(ctx.out, "{}", crate::ui::delivered(&delivered, name))?;
    Ok(0)
}
