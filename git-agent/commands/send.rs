//! `git agent send NAME (-m MSG | -F FILE | MSG…)`: a follow-up for a session, run in the same
//! worktree. The agent's own conversation is resumed where its profile can (each CLI's
//! resume); otherwise it gets the original task plus the message. The new run is numbered,
//! and its leftovers are committed like any run's.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Ctx;
use crate::error::Failure;
use crate::procs::ProcessRef;
use crate::repo::Repo;
use crate::session::{RunKind, State};
use crate::state::Event;
use crate::{supervisor, ui, worktree};

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
    /// The message (repeat for more paragraphs)
    #[arg(short = 'm', long = "message", value_name = "MSG")]
    pub message: Vec<String>,
    /// Read the message from a file ('-' for standard input)
    #[arg(
        short = 'F',
        long = "file",
        value_name = "FILE",
        conflicts_with = "message"
    )]
    pub file: Option<PathBuf>,
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
pub fn read_message(message: &[String], file: Option<&Path>, words: &[String]) -> Result<String> {
    let text = super::read_text(message, file, words, "message")?;
    if text.trim().is_empty() {
        return Err(Failure::usage("no message given")
            .hint("git agent send NAME \"what to do next\"  (or -m MSG, or -F FILE)")
            .into());
    }
    Ok(text)
}

/// What became of a follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// A new run started: its number.
    Run(u32),
    /// Queued for the end of the current run: how many are waiting.
    Queued(usize),
}

/// Delivers `message` to the session's agent: starts the next run (resuming the agent's
/// conversation where the profile can), or queues it (`queue`) while the agent runs.
/// Refused while `git agent merge` holds the session ([`StateDir::hold`]). Prints what
/// happened.
///
/// [`StateDir::hold`]: crate::state::StateDir::hold
pub fn deliver(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    name: &str,
    message: &str,
    queue: bool,
) -> Result<Delivered> {
    deliver_as(ctx, repo, name, message, queue, RunKind::Send)
}

/// [`deliver`], for a run of the given kind (`resume` starts [`RunKind::Resume`] runs).
pub fn deliver_as(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    name: &str,
    message: &str,
    queue: bool,
    kind: RunKind,
) -> Result<Delivered> {
    let state = repo.state();
    // Not while a merge holds the session, from its first check to its end: its cleanup
    // would stop the run. Held until the run has started, so a merge that comes after sees
    // it running. Asked first: the merge also holds the removal lock while it builds.
    let what = if kind == RunKind::Resume {
        "git agent resume"
    } else {
        "git agent send"
    };
    let _hold = match state.hold(name, what, false)? {
        Ok(hold) => hold,
        Err(holder) => {
            return Err(Failure::fatal(format!(
                "'{name}' is held by {holder}; no run of its agent starts until that ends"
            ))
            .hint(format!(
                "wait for it; if the session is still there afterwards, run this again \
                 (see 'git agent show {name}')"
            ))
            .into());
        }
    };
    // Nor while the session is being removed (its worktree is in use).
    let _exclusive = state.removal_lock(name)?;
    let lock = state.lock()?;
    let mut s = state.load(name)?;
    match s.live_state() {
        live if live.is_active() => {
            if !queue {
                return Err(Failure::fatal(format!("the agent of '{name}' is still running ({live})"))
                    .hint(format!("wait for it with 'git agent wait {name}', stop it with 'git agent stop {name}',"))
                    .hint("or deliver the message when its current run ends with --queue")
                    .into());
            }
            let queued = supervisor::enqueue(&state, &lock, name, message)?;
            drop(lock);
            state.append_event(&Event {
                detail: Some(format!("{queued} queued")),
                ..Event::new(name, "queued")
            })?;
            writeln!(
                ctx.out,
                "Queued for {name}: delivered when its current run ends ({queued} waiting)."
            )?;
            return Ok(Delivered::Queued(queued));
        }
        State::Lost => {
            return Err(Failure::fatal(format!(
                "the supervisor of '{name}' is gone (the session is lost)"
            ))
            .hint(format!(
                "record its end with 'git agent stop {name}', then send again"
            ))
            .into());
        }
        _ => {}
    }
    if !s.worktree.is_dir() {
        return Err(Failure::fatal(format!(
            "the worktree of '{name}' is gone: {}",
            s.worktree.display()
        ))
        .hint("a follow-up runs in the session's worktree; there is nothing to continue")
        .into());
    }
    // Only a worktree git-agent made for it (invariant 12): never the user's checkout.
    worktree::ensure_ours(
        repo,
        &s,
        "nothing was run there; 'git agent doctor --fix' leaves the record without a worktree",
    )?;
    let run = supervisor::followup_run(&state, &s, message, kind)?;
    let (n, resumed) = (run.n, run.resumed);
    supervisor::prepare_next(&mut s, run);
    if s.run_token.is_none() {
        // A record from before run tokens: from now on, what its agent starts is tagged.
        s.run_token = Some(crate::session::Session::new_run_token(name));
    }
    s.processes.creator = Some(ProcessRef::current());
    s.processes.supervisor = None;
    s.processes.agent = None;
    s.worktree_locked = worktree::lock(repo.common_dir(), name, &s.worktree).unwrap_or(false);
    state.write(&lock, &s)?;
    drop(lock);
    state.append_event(&Event {
        detail: Some(format!("run {n}")),
        ..Event::new(
            name,
            if kind == RunKind::Resume {
                "resume"
            } else {
                "send"
            },
        )
    })?;

    let child = supervisor::spawn(repo.common_dir(), name, &s.worktree)?;
    let started = supervisor::wait_started(&state, name, child)?;
    let how = if resumed {
        match &started.agent_session_id {
            Some(id) => format!(
                "resuming {}'s session {}",
                started.agent.profile,
                crate::session::short_id(id)
            ),
            None => format!("resuming {}'s conversation", started.agent.profile),
        }
    } else {
        "the agent cannot resume: it got the task and the message afresh".to_owned()
    };
    let verb = if kind == RunKind::Resume {
        "Resumed"
    } else {
        "Sent to"
    };
    writeln!(ctx.out, "{verb} {} (run {n}, {how})", ui::bold(name))?;
    Ok(Delivered::Run(n))
}

/// Sends the open review round of a session (`send --review`, `review --send`) and marks it
/// sent.
pub fn send_review(ctx: &mut Ctx<'_>, repo: &Repo, name: &str, queue: bool) -> Result<Delivered> {
    let state = repo.state();
    let Some(round) = crate::rounds::open_round(&state, name)? else {
        return Err(Failure::fatal(format!("'{name}' has no open review round to send"))
            .hint(format!("add comments with: git agent review {name} --comment PATH:LINE \"text\" (or --edit)"))
            .into());
    };
    if round.comments.is_empty() {
        return Err(Failure::fatal(format!(
            "review round {} of '{name}' has no comments",
            round.n
        ))
        .into());
    }
    let delivered = deliver(ctx, repo, name, &round.message(), queue)?;
    let run = match delivered {
        Delivered::Run(n) => n,
        // Queued: it reaches the run after the current one.
        Delivered::Queued(_) => u32::try_from(state.load(name)?.runs.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1),
    };
    crate::rounds::mark_sent(&state, &round, run)?;
    writeln!(
        ctx.err,
        "Review round {} ({} comments) sent.",
        round.n,
        round.comments.len()
    )?;
    Ok(delivered)
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = Repo::discover(&ctx.cwd)?;
    let name = args.name.as_str();
    repo.state().load(name)?;
    if args.review {
        if !args.message.is_empty() || args.file.is_some() || !args.words.is_empty() {
            return Err(Failure::usage(
                "--review sends the open review round; give no message with it",
            )
            .into());
        }
        send_review(ctx, &repo, name, args.queue)?;
    } else {
        let message = read_message(&args.message, args.file.as_deref(), &args.words)?;
        deliver(ctx, &repo, name, &message, args.queue)?;
    }
    ctx.hint(&format!("follow it with 'git agent logs {name} -f'"))?;
    Ok(0)
}
