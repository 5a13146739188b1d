//! One run of the agent: its sandbox, its launch, its output parsed into the run's outcome
//! (flushed to the record as it changes, its tokens priced where the agent reports no cost),
//! its status reports, its budget, and how it ended.
//!
//! A budget holds on what the session spent: the cost its agent reported, else the cost of
//! its tokens at `agents::pricing` prices (estimated). An agent that reports only tokens
//! (codex, gemini) on a model with no price is stopped `failed` at its first token report
//! rather than run unbudgeted; one that reports its cost (claude) is held to that cost.
//!
//! Owns the `Running` state and the run's start in the record. It does not commit nor record
//! the end (that is `finish.rs`), and stops nothing itself (that is `watch.rs`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use super::RunEnd;
use super::env::agent_env;
use super::watch::{Follow, StatusFile, Watched, open_log, watch};
use crate::agents;
use crate::agents::output::{self, Event, Format, Outcome};
use crate::agents::pricing::{self, Estimate, Prices};
use crate::process::Cmd;
use crate::procs::ProcessRef;
use crate::runner::{LaunchSpec, Launched, Runner};
use crate::sandbox::InForce;
use crate::session::{Exit, Run, Session, State};
use crate::state::StateDir;
use crate::state::status;

/// How often a changing outcome (turns, tokens) is written to the record.
const FLUSH: Duration = Duration::from_secs(1);

/// Runs the session's last run to its end: launched in its sandbox, its start recorded, then
/// followed to its end, which is returned (not recorded: see `finish`).
pub(super) fn run_once(
    state: &StateDir,
    session: &Session,
    signalled: &AtomicBool,
) -> Result<RunEnd> {
    let name = session.name.as_str();
    let run = session
        .run()
        .cloned()
        .context("the session has no run to start")?;
    if session.stop_requested.is_some() || signalled.load(Ordering::SeqCst) {
        return Ok(RunEnd::ended(
            State::Stopped,
            "stopped before the agent started",
        ));
    }
    if !session.worktree.is_dir() {
        return Ok(RunEnd::ended(State::Failed, "the worktree is gone"));
    }
    // Read for each run: a price configured since `new` applies. A bad one fails the run
    // before the agent starts (`new` refuses it too).
    let prices =
        match crate::git::repo::Repo::open_common(state.root().parent().unwrap_or(state.root()))
            .and_then(|repo| Prices::from_config(&repo.config()))
        {
            Ok(prices) => prices,
            Err(err) => return Ok(RunEnd::ended(State::Failed, &format!("{err:#}"))),
        };
    let model = pricing::model_before_run(
        session.agent.format,
        &run.args,
        &agent_env(state, session, &run),
    );
    let (mut log, log_offset) = open_log(state, name)?;
    // Taken before the agent starts: a report it makes in its first moments is a new one.
    let status_file = StatusFile::at(state.status_path(name));
    let runner = crate::runner::for_session(state, session);
    let (launched, in_force, spec_sandboxed) = match launch(state, session, &run, &*runner) {
        Ok(started) => started,
        Err(reason) => return Ok(RunEnd::ended(State::Failed, &reason)),
    };
    record_start(state, name, &run, &launched.process, &in_force, log_offset)?;
    // A plan task's paths are watched while it runs (nothing for a session in no plan).
    let mut ownership = super::ownership::Ownership::of(state, session);
    let mut follow = Follow::new(state, session, &mut log, signalled);
    let mut outcome = Outcome::default();
    if let Some(model) = model {
        outcome.apply(&Event::Model(model));
    }
    let (mut watched, outcome) = follow_agent(
        &mut follow,
        (&*runner, launched),
        spec_sandboxed,
        status_file,
        (&prices, outcome),
        ownership.as_mut(),
    )?;
    // What a runner elsewhere made comes back to the branch and worktree here first: the
    // end is recorded (and the leftovers committed) on what the agent made.
    let collected = runner.collect();
    if let Err(err) = &collected {
        let reason = format!("the agent's work could not be brought back: {err:#}");
        watched.stopped.get_or_insert((State::Failed, reason));
    }
    // An edit made (and maybe committed) since the last look, before the leftovers commit.
    if let Some(ownership) = &mut ownership {
        ownership.look_now(state, session);
    }
    // What it reported last may be what crosses the budget (gemini and codex report tokens
    // only as they end): the run then ends over budget even though the agent finished.
    if watched.stopped.is_none() {
        watched.stopped = over_budget(session, &prices, &outcome);
    }
    Ok(RunEnd {
        not_brought_back: collected.is_err(),
        ..run_end(watched, outcome)
    })
}

/// Launches the agent of `run` in the session's sandbox: the launched process, the sandbox
/// to record, and whether ours wraps it; or why it could not start (the run then failed).
fn launch(
    state: &StateDir,
    session: &Session,
    run: &Run,
    runner: &dyn Runner,
) -> std::result::Result<(Launched, InForce, bool), String> {
    let name = session.name.as_str();
    let mut env = agent_env(state, session, run);
    let mut args = run.args.clone();
    let sandboxed = if runner.wants_sandbox() {
        sandbox_for(state, session, crate::sandbox::Purpose::Agent)
    } else {
        Ok(Sandboxed::by_runner(session))
    };
    let (sandbox, in_force) = match sandboxed {
        Ok(Sandboxed {
            writable,
            in_force,
            tmp,
        }) => {
            if writable.is_some() || in_force.kind == "agent" {
                // Its own temporary folder: the shared one may hold the repository.
                env.push(("TMPDIR".to_owned(), tmp.to_string_lossy().into_owned()));
            }
            if in_force.kind == "agent" {
                args = agents::narrow_own_sandbox(&session.agent, &args, &tmp);
            }
            (writable, in_force)
        }
        Err(err) => return Err(format!("{err:#}")),
    };
    let spec = LaunchSpec {
        program: session.agent.program.clone(),
        args,
        cwd: session.worktree.clone(),
        env,
        stdin: (session.agent.prompt_via == "stdin").then(|| state.run_prompt_path(name, run.n)),
        sandbox,
    };
    let spec_sandboxed = spec.sandbox.is_some();
    match runner.launch(&spec) {
        Ok(l) => Ok((l, in_force, spec_sandboxed)),
        Err(err) => Err(format!("could not start the agent: {err:#}")),
    }
}

/// Records that the agent of `run` runs: state, start, process, sandbox, log offset.
fn record_start(
    state: &StateDir,
    name: &str,
    run: &Run,
    agent: &ProcessRef,
    in_force: &InForce,
    log_offset: u64,
) -> Result<()> {
    let now = crate::time::now();
    let detail = format!("run {}, pid {}", run.n, agent.pid);
    state.enter(name, State::Running, Some(detail), |s| {
        s.started_at = Some(now);
        s.processes.agent = Some(agent.clone());
        s.sandbox.in_force = Some(in_force.clone());
        if let Some(r) = s.run_mut() {
            r.started_at = Some(now);
            r.log_offset = log_offset;
        }
    })
}

/// Records the reports the agent made since the last look; with `tell`, a move into
/// `waiting` notifies the user (after the record is written, outside the state lock).
fn record_reports(
    state: &StateDir,
    session: &Session,
    status_file: &mut StatusFile,
    tell: bool,
) -> Result<()> {
    for (word, message) in status_file.reports() {
        let entered = status::report(state, &session.name, &word, message.clone())?;
        if tell && entered == Some(State::Waiting) {
            crate::notify::session_entered(
                state,
                &session.name,
                State::Waiting,
                message.as_deref(),
            );
        }
    }
    Ok(())
}

/// Follows the launched agent to its end: its stdout parsed in the profile's format into the
/// run's outcome (flushed to the record as it changes), its status reports recorded.
fn follow_agent(
    follow: &mut Follow<'_>,
    (runner, launched): (&dyn Runner, Launched),
    spec_sandboxed: bool,
    mut status_file: StatusFile,
    (prices, outcome): (&Prices, Outcome),
    mut ownership: Option<&mut super::ownership::Ownership>,
) -> Result<(Watched, Outcome)> {
    let (state, session) = (follow.state, follow.session);
    let name = session.name.as_str();
    let format = session.agent.format;
    let outcome = std::cell::RefCell::new(outcome);
    // Inside the sandbox git cannot lock `packed-refs` (it lives beside `config` and `hooks/`,
    // which stay closed), and says so whenever it deletes a ref: a commit deletes
    // `AUTO_MERGE`. The commit succeeds; the complaint is not what the agent said (it would
    // become its result, and a squash message), and in the log it reads as a failure to
    // anyone following it: it is left out of both. A mounted container (the git directory
    // read-only around what a commit writes) gives the same complaint in its own words.
    let lock = state
        .root()
        .parent()
        .unwrap_or(state.root())
        .join("packed-refs.lock");
    let sandbox_noise = ["Permission denied", "Read-only file system"]
        .map(|why| format!("error: Unable to create '{}': {why}", lock.display()));
    let quiet = spec_sandboxed || session.runner.as_ref().is_some_and(|r| r.works_here());
    let (dirty, flush_now) = (std::cell::Cell::new(false), std::cell::Cell::new(false));
    let mut last_flush = Instant::now();
    // A profile that starts serially holds back its next session until this one has reported
    // its own session id (or a while has passed): then the queue may move.
    let (started, mut released) = (Instant::now(), !session.limits.start_serially);
    let watched = watch(
        follow,
        runner,
        launched,
        |is_err, text| {
            if quiet && sandbox_noise.iter().any(|n| text.trim_end() == n) {
                return Ok(false);
            }
            let events = if is_err {
                output::parse_stderr_line(format, text)
            } else {
                output::parse_line(format, text)
            };
            let mut spent = false;
            for event in events {
                spent |= matches!(
                    event,
                    Event::Usage { .. } | Event::MessageUsage { .. } | Event::ModelUsage { .. }
                );
                if outcome.borrow_mut().apply(&event) {
                    dirty.set(true);
                    flush_now.set(flush_now.get() || matches!(event, Event::Session(_)));
                }
            }
            if spent {
                prices.price(format, &mut outcome.borrow_mut());
                dirty.set(true);
            }
            Ok(true)
        },
        || {
            if dirty.get() && (flush_now.get() || last_flush.elapsed() >= FLUSH) {
                flush_outcome(state, name, &outcome.borrow())?;
                dirty.set(false);
                flush_now.set(false);
                last_flush = Instant::now();
            }
            record_reports(state, session, &mut status_file, true)?;
            if let Some(ownership) = ownership.as_deref_mut() {
                ownership.tick(state, session);
            }
            if !released
                && (outcome.borrow().session_id.is_some()
                    || started.elapsed() >= super::schedule::SERIAL_START)
            {
                released = true;
                let _ = super::schedule::advance(state);
            }
            Ok(over_budget(session, prices, &outcome.borrow()))
        },
    )?;
    // A report made just before the agent exited is still recorded (as an event); the end
    // that follows is what the user is told about.
    record_reports(state, session, &mut status_file, false)?;
    let mut outcome = outcome.into_inner();
    if matches!(watched.exit, Ok(Exit { code: Some(0), .. })) {
        output::end_of_stream(format, &mut outcome);
    }
    prices.price(format, &mut outcome);
    Ok((watched, outcome))
}

/// Why the run must stop because of the session's budget, and the state it ends in: it has
/// spent the budget (all its runs, this one as far as reported or estimated), `over-budget`;
/// or this run spends tokens that cannot be priced while its agent reports no cost, `failed`.
fn over_budget(session: &Session, prices: &Prices, current: &Outcome) -> Option<(State, String)> {
    let budget = session.limits.budget_usd?;
    let format = session.agent.format;
    if let Estimate::Unpriced(model) = prices.estimate(format, current)
        && !output::reports_cost(format)
    {
        return Some((State::Failed, unpriced(format, model.as_deref(), budget)));
    }
    // The record was read when this run started: its runs hold what the earlier ones spent.
    let spent = session.usage().plus(&current.usage);
    let usd = spent.cost_usd.unwrap_or(0.0);
    (usd >= budget).then(|| {
        (
            State::OverBudget,
            format!(
                "over budget: spent {} of {}",
                output::format_spend(&spent).unwrap_or_else(|| output::format_cost(usd)),
                output::format_cost(budget)
            ),
        )
    })
}

/// Why a budget cannot be held on tokens with no price.
fn unpriced(format: Format, model: Option<&str>, budget: f64) -> String {
    let budget = output::format_cost(budget);
    match model {
        Some(m) => format!(
            "the budget of {budget} cannot be held: the agent spends tokens on '{m}', which has \
             no known price (set agent.price.{m}.input and agent.price.{m}.output, US dollars \
             per million tokens)"
        ),
        None if format == Format::Codex => format!(
            "the budget of {budget} cannot be held: codex does not say which model it runs \
             (name it with -m in the profile's arguments, or `model` in codex's config.toml)"
        ),
        None => format!(
            "the budget of {budget} cannot be held: the agent spends tokens without naming its \
             model"
        ),
    }
}

/// How the run ended, from how the agent exited and what it reported.
fn run_end(watched: Watched, outcome: Outcome) -> RunEnd {
    let (final_state, reason) = match (watched.stopped, &watched.exit) {
        (Some((state, reason)), _) => (state, Some(reason)),
        // The CLI gave up on a rate or usage limit (a run that got through clears it).
        (None, _) if outcome.rate_limit.is_some() => (
            State::RateLimited,
            outcome.rate_limit.as_ref().map(|r| r.message.clone()),
        ),
        (None, Ok(e)) if e.code == Some(0) && outcome.ok != Some(false) => (State::Done, None),
        (None, Ok(e)) if e.code == Some(0) => (
            State::Failed,
            Some(
                outcome
                    .error
                    .clone()
                    .unwrap_or_else(|| "the agent reported an error".into()),
            ),
        ),
        (None, Ok(e)) => (
            State::Failed,
            Some(match &outcome.error {
                Some(err) => format!("{}: {err}", e.describe()),
                None => e.describe(),
            }),
        ),
        (None, Err(err)) => (State::Failed, Some(format!("{err:#}"))),
    };
    RunEnd {
        state: final_state,
        reason,
        exit: watched.exit.ok(),
        outcome,
        not_brought_back: false,
    }
}

/// The sandbox of the session's next run (see `crate::sandbox`): the paths it may write, if
/// ours applies, and what to record. Makes the status file and the private temporary folder
/// exist, since a rule can only name what exists.
pub fn sandbox_for(
    state: &StateDir,
    session: &Session,
    purpose: crate::sandbox::Purpose,
) -> Result<Sandboxed> {
    let common_dir = state.root().parent().unwrap_or(state.root());
    let status_file = state.status_path(&session.name);
    if !status_file.exists() {
        std::fs::create_dir_all(state.session_dir(&session.name))?;
        std::fs::write(&status_file, "")?;
    }
    // `off` makes no folder: nothing of the sandbox may stand in the way of a run then.
    let tmp = if session.sandbox.setting == crate::sandbox::Setting::Off {
        std::env::temp_dir()
    } else {
        crate::sandbox::private_tmp(common_dir, &session.name)?
    };
    let (writable, in_force) =
        crate::sandbox::decide(common_dir, session, &status_file, &tmp, purpose)?;
    Ok(Sandboxed {
        writable,
        in_force,
        tmp,
    })
}

/// `cmd` (verify, run: commands that run what the agent may have written), made to run in
/// the session's sandbox with `dir` as its worktree, and with the private `TMPDIR`. Unchanged
/// when the session runs without one.
pub fn sandboxed_command(state: &StateDir, session: &Session, dir: &Path, cmd: Cmd) -> Result<Cmd> {
    let mut boxed = session.clone();
    dir.clone_into(&mut boxed.worktree);
    let Sandboxed { writable, tmp, .. } =
        sandbox_for(state, &boxed, crate::sandbox::Purpose::Command)?;
    match writable {
        Some(writable) => crate::sandbox::wrap(&cmd.env("TMPDIR", tmp), &writable),
        None => Ok(cmd),
    }
}

/// A run's sandbox: see [`sandbox_for`].
pub struct Sandboxed {
    /// The paths the trampoline allows (`None`: no sandbox of ours).
    pub writable: Option<Vec<PathBuf>>,
    pub in_force: crate::sandbox::InForce,
    /// The private temporary folder (the `TMPDIR` of a sandboxed run).
    pub tmp: PathBuf,
}

impl Sandboxed {
    /// No sandbox of ours: the runner's own room confines the agent (a container, another
    /// machine); the shared temporary folder is not the agent's to see.
    fn by_runner(session: &Session) -> Self {
        let where_ = session.runner.as_ref().map_or_else(
            || "its runner".to_owned(),
            crate::session::RunnerRecord::label,
        );
        Self {
            writable: None,
            in_force: crate::sandbox::InForce {
                kind: "runner".into(),
                detail: format!("{where_}: the runner's own room"),
                writable: Vec::new(),
            },
            tmp: std::env::temp_dir(),
        }
    }
}

fn flush_outcome(state: &StateDir, name: &str, outcome: &Outcome) -> Result<()> {
    state.update(name, |s| {
        if let Some(id) = &outcome.session_id {
            s.agent_session_id = Some(id.clone());
        }
        if let Some(r) = s.run_mut() {
            r.outcome = outcome.clone();
        }
        Ok(())
    })
}
