//! A local merge queue: `git agent merge A B C` (or `--group G --all`) merges one session at a
//! time, in the order `git agent conflicts` suggests.
//!
//! After each landing the rest are predicted again against the moved target, and each is
//! brought onto it as its strategy needs (a fast-forward-only merge rebases it first). The
//! queue stops at the first conflict or failed verify, says which and why, and leaves the
//! sessions after it untouched; those already merged stay merged.

use anyhow::Result;
use git_agent::commands::Ctx;
use git_agent::error::Failure;
use git_agent::git::merging::Memory;
use git_agent::git::repo::Repo;
use git_agent::session::Session;

use crate::conflicts;
use crate::land::{self, Options, Step};
use crate::target;

/// The queue's result: every step taken, and the session it stopped at. Its `--json` document.
#[derive(serde::Serialize)]
pub struct Outcome {
    pub steps: Vec<Step>,
    pub order: Vec<String>,
    pub stopped_at: Option<String>,
    pub not_attempted: Vec<String>,
}

pub fn run(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    sessions: &[Session],
    opts: &Options,
) -> Result<Outcome> {
    // Counting those working in a listed session's worktree (`new --in`), listed or not.
    let state = repo.state();
    let mut running: Vec<String> = Vec::new();
    for s in sessions {
        let busy = if s.live_state().is_active() {
            Some(s.name.clone())
        } else {
            state.running_alongside(s).map(|o| o.name)
        };
        if let Some(name) = busy.filter(|n| !running.contains(n)) {
            running.push(name);
        }
    }
    if !running.is_empty() {
        return Err(Failure::fatal(format!(
            "these agents are still running: {}",
            running.join(", ")
        ))
        .hint("wait for them (git agent wait), or leave them out of the queue")
        .into());
    }
    // All go to one target.
    let targets = target::resolve_all(repo, sessions, opts.into.as_deref())?;
    let distinct: std::collections::BTreeSet<&String> = targets.values().map(|(b, _)| b).collect();
    if distinct.len() > 1 {
        return Err(Failure::fatal(format!(
            "these sessions go to different branches ({}); a queue merges into one",
            distinct.into_iter().cloned().collect::<Vec<_>>().join(", ")
        ))
        .hint("name it with --into BRANCH, or merge them separately")
        .into());
    }
    let mem = Memory::new(repo);
    let prediction = conflicts::predict(repo, &mem, sessions, &targets, false)?;
    let mut order = prediction.order.clone();
    // Sessions predicted to conflict still get their turn, last: the queue stops there.
    order.extend(prediction.waiting.iter().map(|w| w.name.clone()));
    writeln!(ctx.err, "Merge order: {}", order.join(", "))?;
    let mut outcome = Outcome {
        steps: Vec::new(),
        order: order.clone(),
        stopped_at: None,
        not_attempted: Vec::new(),
    };
    let queue_opts = Options {
        rebase_first: true,
        ..opts.clone()
    };
    let progress = ctx.progress(order.len(), "merging");
    for (i, name) in order.iter().enumerate() {
        progress.at(i, name);
        let step = land::merge_one(ctx, repo, name, &queue_opts)?;
        let stop = matches!(step, Step::Refused(_));
        if let Step::Refused(r) = &step {
            crate::cli::report_refused(ctx, r, true)?;
        }
        outcome.steps.push(step);
        if stop {
            outcome.stopped_at = Some(name.clone());
            outcome.not_attempted = order[i + 1..].to_vec();
            break;
        }
    }
    progress.finish();
    Ok(outcome)
}
