//! `git agent send NAME (-m MSG | -F FILE | MSG…)`: a follow-up for a session, run in the same
//! worktree. The agent's own conversation is resumed where its profile can (each CLI's
//! resume); otherwise it gets the original task plus the message. The new run is numbered,
//! and its leftovers are committed like any run's. The delivery itself is
//! [`crate::ops::send`].

use anyhow::Result;

use super::{Ctx, MessageArgs};
use crate::error::Failure;
use crate::ops::send::{deliver, send_review};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  git agent send fix-login \"the test still fails on CI, look at the timeout\"
  git agent send fix-login -F review.md
  git agent send fix-login --queue -m \"also update the changelog\"")]
pub struct Args {
    /// The session
    #[arg(value_name = "NAME", value_parser = crate::cli::session_name)]
    pub name: String,
    #[command(flatten)]
    pub text: MessageArgs,
    /// If the agent is still running, deliver the message when its current run ends
    #[arg(long)]
    pub queue: bool,
    /// Send the open review round (see 'git agent review --comment/--edit')
    #[arg(long)]
    pub review: bool,
    /// The message, as words
    #[arg(value_name = "MSG")]
    pub words: Vec<String>,
}

/// The message from `-m`, `-F` or words; never empty.
pub fn read_message(text: &MessageArgs, words: &[String]) -> Result<String> {
    let text = text.read(words, "message")?;
    if text.trim().is_empty() {
        return Err(Failure::usage("no message given")
            .hint("git agent send NAME \"what to do next\"  (or -m MSG, or -F FILE)")
            .into());
    }
    Ok(text)
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = ctx.repo()?;
    let name = args.name.as_str();
    repo.state().load(name)?;
    if args.review {
        if !args.text.is_empty() || !args.words.is_empty() {
            return Err(Failure::usage(
                "--review sends the open review round; give no message with it",
            )
            .into());
        }
        let sent = send_review(&repo, name, args.queue, |d| {
            writeln!(ctx.out, "{}", crate::ui::delivered(d, name))?;
            Ok(())
        })?;
        writeln!(ctx.err, "{}", sent.summary())?;
    } else {
        let message = read_message(&args.text, &args.words)?;
        let delivered = deliver(&repo, name, &message, args.queue)?;
        writeln!(ctx.out, "{}", crate::ui::delivered(&delivered, name))?;
    }
    ctx.hint(&format!("follow it with 'git agent logs {name} -f'"))?;
    Ok(0)
}
