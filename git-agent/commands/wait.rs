//! `git agent wait [NAME…|--all]`: block until sessions end; one summary line each.
//!
//! Without names it waits for the sessions that are running when it starts (like the shell's
//! `wait`). Exit status 0 if every awaited session is `done`, 1 otherwise (failed, stopped,
//! lost, or still running when `--timeout` expired).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use super::{Ctx, Format, OutputArgs};
use crate::error::code;
use crate::git::changes;
use crate::git::repo::Repo;
use crate::session::{Exit, Session, State};
use crate::ui;

#[derive(Debug, clap::Args)]
#[command(mut_args(super::reword("json", |a| a.help("Print the sessions as they ended, as JSON (once all did, or on giving up)"))))]
pub struct Args {
    /// Sessions to wait for [default: those running now]
    #[arg(value_name = "NAME", value_parser = crate::cli::session_name)]
    pub names: Vec<String>,
    /// Wait for every session (finished ones count too)
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// Give up after this long (exit 1)
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `wait --json`: the sessions that ended, and those still running on giving up.
#[derive(Serialize)]
struct Doc<'a> {
    ended: &'a [Ended],
    still_running: &'a BTreeSet<String>,
}

/// A session that ended, in `wait --json`.
#[derive(Serialize)]
struct Ended {
    name: String,
    state: State,
    exit: Option<Exit>,
    reason: Option<String>,
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let format = args.output.format();
    let repo = ctx.repo()?;
    let state = repo.state();
    let timeout = crate::time::parse_flag(args.timeout.as_deref())?;
    let mut pending: BTreeSet<String> = if args.names.is_empty() {
        ctx.sessions(&state)?
            .into_iter()
            .filter(|s| args.all || s.live_state().is_active())
            .map(|s| s.name)
            .collect()
    } else {
        for name in &args.names {
            state.load(name)?;
        }
        args.names.iter().cloned().collect()
    };
    if pending.is_empty() {
        writeln!(ctx.err, "Nothing to wait for: no session is running.")?;
        return Ok(0);
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut all_done = true;
    let mut report = Vec::new();
    let mut last_look = Instant::now();
    let mut warned = false;
    while !pending.is_empty() {
        let mut ended = Vec::new();
        for name in &pending {
            let session = state.load_settled(name)?;
            if session.live_state().is_terminal() {
                ended.push(session);
            }
        }
        for session in ended {
            all_done &= matches!(session.live_state(), State::Done | State::Merged);
            if format == Format::Json {
                report.push(Ended {
                    name: session.name.clone(),
                    state: session.live_state(),
                    exit: session.exit,
                    reason: session.reason.clone(),
                });
            } else {
                writeln!(ctx.out, "{}", summary(&repo, &session))?;
                ctx.out.flush()?;
            }
            pending.remove(&session.name);
        }
        if pending.is_empty() {
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            if format == Format::Json {
                ctx.write_doc(&Doc {
                    ended: &report,
                    still_running: &pending,
                })?;
                return Ok(code::NEGATIVE);
            }
            for name in &pending {
                writeln!(
                    ctx.out,
                    "{name}: still {} (gave up waiting)",
                    ui::state(state.load(name)?.live_state())
                )?;
            }
            return Ok(code::NEGATIVE);
        }
        // A queued session waits for a slot someone frees; one freed by a supervisor that was
        // killed is given away by whoever looks, so look now and then.
        if last_look.elapsed() >= Duration::from_secs(1) {
            last_look = Instant::now();
            if let Err(err) = crate::supervisor::schedule::advance(&state)
                && !warned
            {
                // Said once: a limit that cannot be read keeps the queue where it is.
                warned = true;
                writeln!(ctx.err, "warning: queued sessions cannot start: {err:#}")?;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if format == Format::Json {
        ctx.write_doc(&Doc {
            ended: &report,
            still_running: &pending,
        })?;
    }
    Ok(if all_done {
        code::SUCCESS
    } else {
        code::NEGATIVE
    })
}

/// `fix-login: done (exit 0) in 2m03s — 3 files +40 -2`.
pub fn summary(repo: &Repo, s: &Session) -> String {
    let live = s.live_state();
    let mut line = format!("{}: {}", s.name, ui::state(live));
    let detail = match (&s.reason, s.exit) {
        (Some(reason), _) => Some(reason.clone()),
        (None, Some(exit)) => Some(exit.describe()),
        (None, None) => None,
    };
    if let Some(d) = detail {
        line.push_str(&format!(" ({d})"));
    }
    if let Some(ran) = s.run_time(crate::time::now()) {
        line.push_str(&format!(" in {}", crate::time::format_duration(ran)));
    }
    // The snapshot the run's end left, else measured now.
    if let Some(c) = s.changes.clone().or_else(|| changes::of(repo, s).ok()) {
        line.push_str(&format!(" — {}", c.summary()));
    }
    line
}
