//! `git agent show NAME`: the whole record and the end of the log.

use anyhow::Result;
use jiff::Timestamp;
use serde::Serialize;

use super::{Ctx, Format, OutputArgs, SessionDoc};
use crate::git::changes;
use crate::session::{self, Session, State};
use crate::state::StateDir;
use crate::ui;

#[derive(Debug, clap::Args)]
#[command(mut_args(super::reword("json", |a| a.help("Print the record as JSON"))))]
pub struct Args {
    /// The session
    #[arg(value_name = "NAME", value_parser = crate::cli::session_name)]
    pub name: String,
    /// How many lines of the log to show
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub lines: usize,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The last `n` lines of a file (all of it if shorter); empty if it does not exist.
/// The last `n` lines of the log as people read it (structured output turned into text).
fn rendered_tail(
    path: &std::path::Path,
    format: crate::agents::output::Format,
    n: usize,
) -> Vec<String> {
    let text = std::fs::read(path).unwrap_or_default();
    let mut renderer = crate::agents::output::Renderer::new(format);
    let mut rendered: String = String::from_utf8_lossy(&text)
        .lines()
        .map(|l| renderer.line(l))
        .collect();
    rendered.push_str(&renderer.close());
    let lines: Vec<&str> = rendered.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}

pub fn tail(path: &std::path::Path, n: usize) -> Vec<String> {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}

/// `show --json`.
#[derive(Serialize)]
struct Doc<'a> {
    session: Record<'a>,
}

/// The session in `show --json`: as in `list --json`, and the end of its log.
#[derive(Serialize)]
struct Record<'a> {
    #[serde(flatten)]
    session: SessionDoc<'a>,
    log_path: std::path::PathBuf,
    log_tail: Vec<String>,
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = ctx.repo()?;
    let state = repo.state();
    let s = state.load(&args.name)?;
    let live = s.live_state();
    let changes = changes::of(&repo, &s).ok();
    let log_tail = tail(&state.log_path(&s.name), args.lines);
    if args.output.format() == Format::Json {
        ctx.write_doc(&Doc {
            session: Record {
                session: SessionDoc {
                    record: &s,
                    state: live,
                    stored_state: s.state,
                    changes: changes.as_ref(),
                },
                log_path: state.log_path(&s.name),
                log_tail,
            },
        })?;
        return Ok(0);
    }
    let readable = rendered_tail(&state.log_path(&s.name), s.agent.format, args.lines);
    write_human(ctx, &state, &s, changes.as_ref(), &readable)?;
    Ok(0)
}

/// Rows of `show`: a label and its value.
type Rows = Vec<(&'static str, String)>;

fn write_human(
    ctx: &mut Ctx<'_>,
    state: &StateDir,
    s: &Session,
    changes: Option<&changes::Changes>,
    log_tail: &[String],
) -> Result<()> {
    let now = crate::time::now();
    let live = s.live_state();
    let mut rows: Rows = vec![("state", status(s, live))];
    agent_rows(&mut rows, s, live, now);
    place_rows(&mut rows, s, changes);
    time_rows(&mut rows, s, now);
    outcome_rows(&mut rows, s, changes, now);
    spending_rows(&mut rows, s);
    rows.push((
        "log",
        state.log_path(&s.name).to_string_lossy().into_owned(),
    ));
    write_rows(ctx, &s.name, rows)?;
    write_task_and_log(ctx, s, live, log_tail)
}

/// The state, how the run ended and why, and whether the record is out of date.
fn status(s: &Session, live: State) -> String {
    let mut status = ui::state(live);
    if let Some(exit) = s.exit {
        status.push_str(&format!(" ({})", exit.describe()));
    }
    if let Some(reason) = &s.reason
        && s.exit.is_none_or(|e| e.describe() != *reason)
    {
        status.push_str(&format!(" — {reason}"));
    }
    if live != s.state {
        status.push_str(&format!(
            " — recorded as {}, but its supervisor is gone",
            s.state
        ));
    }
    status
}

/// Where its agent's conversation came from (`fork`, `new --continue`).
fn conversation_row(c: &crate::session::ConversationFrom) -> String {
    let id =
        c.id.as_deref()
            .map(|id| format!(" {id}"))
            .unwrap_or_default();
    match &c.session {
        Some(owner) => format!("a fork of {owner}'s {} conversation{id}", c.cli),
        None => format!(
            "took up the {} conversation{id} of {}",
            c.cli,
            c.dir.display()
        ),
    }
}

/// Who works on it: group, agent, sandbox, command line, the agent's own session, and what it
/// last reported.
fn agent_rows(rows: &mut Rows, s: &Session, live: State, now: Timestamp) {
    if let Some(g) = &s.group {
        rows.push((
            "group",
            format!("{} (variant {} of {})", g.id, g.index, g.count),
        ));
    }
    let mode = s
        .agent
        .permission_mode
        .as_deref()
        .map(|m| format!(", permission mode {m}"))
        .unwrap_or_default();
    let agent = match s.agent.source.as_str() {
        "command" => format!("{} (a command)", s.short_agent()),
        "config" => format!("{} (profile from git config{mode})", s.agent.profile),
        _ => format!("{} (built-in profile{mode})", s.agent.profile),
    };
    rows.push(("agent", agent));
    if let Some(c) = &s.conversation {
        rows.push(("conversation", conversation_row(c)));
    }
    if let Some(runner) = &s.runner {
        rows.push(("runner", runner.describe()));
    }
    rows.push((
        "sandbox",
        s.sandbox.in_force.as_ref().map_or_else(
            || {
                format!(
                    "agent.sandbox={} (decided when the agent starts)",
                    s.sandbox.setting.as_str()
                )
            },
            |f| f.detail.clone(),
        ),
    ));
    let mut argv = vec![s.agent.program.to_string_lossy().into_owned()];
    argv.extend(s.run().map_or(&s.agent.args, |r| &r.args).iter().cloned());
    rows.push(("command", shell_words::join(argv)));
    if let Some(id) = &s.agent_session_id {
        rows.push(("session id", id.clone()));
    }
    if let Some(st) = s.status.as_ref().filter(|_| live.is_active()) {
        let message = st
            .message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        rows.push((
            "reported",
            format!(
                "{}{message} ({})",
                st.state,
                crate::time::format_ago(st.since, now)
            ),
        ));
    }
}

/// Where the work is: branch, worktree, base, and what changed.
fn place_rows(rows: &mut Rows, s: &Session, changes: Option<&changes::Changes>) {
    rows.push(("branch", s.branch.clone()));
    rows.push(("worktree", s.worktree.to_string_lossy().into_owned()));
    rows.push((
        "base",
        format!(
            "{} @ {}",
            s.base.short_name(),
            session::short_id(&s.base.commit)
        ),
    ));
    if let Some(c) = changes {
        rows.push(("changes", c.summary()));
    }
}

/// When: created, started, ended, how long it ran, its timeout.
fn time_rows(rows: &mut Rows, s: &Session, now: Timestamp) {
    rows.push((
        "created",
        format!(
            "{} ({})",
            crate::time::format_timestamp(s.created_at),
            crate::time::format_ago(s.created_at, now)
        ),
    ));
    if let Some(t) = s.started_at {
        rows.push(("started", crate::time::format_timestamp(t)));
    }
    if let Some(t) = s.ended_at {
        rows.push(("ended", crate::time::format_timestamp(t)));
    }
    if let Some(d) = s.run_time(now) {
        rows.push(("ran", crate::time::format_duration(d)));
    }
    if let Some(t) = s.timeout_secs {
        rows.push((
            "timeout",
            crate::time::format_duration(std::time::Duration::from_secs(t)),
        ));
    }
    limit_rows(rows, s);
}

/// The limits it runs under, and what they are doing to it now (queued, waiting to retry).
fn limit_rows(rows: &mut Rows, s: &Session) {
    let l = &s.limits;
    let mut limits = Vec::new();
    if let Some(n) = l.max_parallel {
        let agents = if n == 1 { "agent" } else { "agents" };
        limits.push(format!("{n} {agents} at once"));
    }
    if let Some(n) = l.profile_max_parallel {
        limits.push(format!("{n} {} at once", s.agent.profile));
    }
    if l.start_serially {
        limits.push("starts one at a time".to_owned());
    }
    if let Some(usd) = l.budget_usd {
        limits.push(format!(
            "budget {}",
            crate::agents::output::format_cost(usd)
        ));
    }
    if !limits.is_empty() {
        rows.push(("limits", limits.join(", ")));
    }
    if let Some(t) = s.queued_at {
        rows.push(("queued", crate::time::format_timestamp(t)));
    }
    if let Some(r) = &s.retry {
        rows.push((
            "retry",
            format!(
                "{} at {}: {}",
                r.attempt,
                crate::time::format_timestamp(r.at),
                r.message.lines().next().unwrap_or("")
            ),
        ));
    }
}

/// What came of it: the commit, the agent's result or error, what it was refused, the verify.
fn outcome_rows(rows: &mut Rows, s: &Session, changes: Option<&changes::Changes>, now: Timestamp) {
    if let Some(c) = &s.commit {
        rows.push(("commit", c.describe()));
    }
    if let Some(o) = s.run().map(|r| &r.outcome) {
        if let Some(result) = o.result.as_deref().or(o.last_text.as_deref()) {
            rows.push(("result", result.lines().next().unwrap_or("").to_owned()));
        }
        if let Some(err) = &o.error {
            rows.push(("error", err.lines().next().unwrap_or("").to_owned()));
        }
        if !o.denied.is_empty() {
            rows.push(("refused", o.denied.join("; ")));
        }
    }
    if let Some(v) = &s.verify {
        let took = crate::time::format_duration(std::time::Duration::from_millis(v.duration_ms));
        let result = if v.passed {
            "passed".to_owned()
        } else {
            format!(
                "FAILED ({})",
                v.exit.map_or_else(|| "?".into(), |e| e.describe())
            )
        };
        let stale = if v.is_stale(s, changes.and_then(|c| c.tip.as_deref())) {
            " (stale: the branch changed since)"
        } else {
            ""
        };
        rows.push((
            "verify",
            format!(
                "{result} in {took}, {}{stale} — {}",
                crate::time::format_ago(v.at, now),
                v.command
            ),
        ));
        if !v.passed {
            for line in v.tail.iter().rev().take(5).rev() {
                rows.push(("", format!("  {line}")));
            }
        }
    }
}

/// A reviewer's run: `codex (read-only), 12s, $0.02: 3 findings in round 2`.
fn review_row(r: &crate::session::ReviewRun) -> String {
    let mode = r
        .mode
        .as_deref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    let took = (r.ended_at - r.started_at)
        .total(jiff::Unit::Second)
        .map_or_else(|_| String::new(), |secs| format!(", {secs:.0}s"));
    let cost = crate::agents::output::format_spend(&r.outcome.usage)
        .map(|c| format!(", {c}"))
        .unwrap_or_default();
    let what = match (r.ok, r.findings, r.round, &r.reason) {
        (true, Some(n), Some(round), _) => format!("{n} finding(s) in review round {round}"),
        (true, _, _, _) => "answered".to_owned(),
        (false, _, _, Some(why)) => format!("failed: {why}"),
        (false, _, _, None) => "failed".to_owned(),
    };
    format!("{} by {}{mode}{took}{cost}: {what}", r.kind, r.reviewer)
}

/// What it cost (turns, tokens, money), its runs, and its processes.
fn spending_rows(rows: &mut Rows, s: &Session) {
    let usage = s.usage();
    let mut spent = Vec::new();
    let turns: u32 = s.runs.iter().map(|r| r.outcome.turns).sum();
    if turns > 0 {
        spent.push(format!("{turns} turns"));
    }
    if let (Some(i), Some(o)) = (usage.input_tokens, usage.output_tokens) {
        spent.push(format!("{i} tokens in, {o} out"));
    }
    if let Some(c) = crate::agents::output::format_spend(&usage) {
        spent.push(c);
    }
    if !spent.is_empty() {
        rows.push(("usage", spent.join(", ")));
    }
    if s.runs.len() > 1 {
        for r in &s.runs {
            let end = match (r.state, r.exit) {
                (Some(st), Some(e)) => format!("{st} ({})", e.describe()),
                (Some(st), None) => st.to_string(),
                (None, _) if r.started_at.is_some() => "running".into(),
                (None, _) => "starting".into(),
            };
            let resumed = if r.n > 1 && !r.resumed {
                ", not resumed"
            } else {
                ""
            };
            let first: String = r
                .prompt
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(50)
                .collect();
            rows.push(("run", format!("{}: {end}{resumed} — {first}", r.n)));
        }
    }
    for r in &s.review_runs {
        rows.push(("review", review_row(r)));
    }
    let mut pids = Vec::new();
    // A queued session has no process: the supervisor recorded is the one that queued it.
    if let Some(p) = s
        .processes
        .supervisor
        .as_ref()
        .filter(|_| s.state != State::Queued)
    {
        pids.push(format!("supervisor {}", p.pid));
    }
    if let Some(p) = &s.processes.agent {
        pids.push(format!("agent {}", p.pid));
    }
    if !pids.is_empty() {
        rows.push(("pids", pids.join(", ")));
    }
}

/// The header and the aligned rows.
fn write_rows(ctx: &mut Ctx<'_>, name: &str, rows: Rows) -> Result<()> {
    writeln!(ctx.out, "{} {}", ui::bold("session"), ui::bold(name))?;
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in rows {
        let value = ui::printable(&value);
        writeln!(
            ctx.out,
            "{:width$}  {value}",
            ui::dim(key),
            width = width + ui::dim(key).len() - key.len()
        )?;
    }
    Ok(())
}

/// The task and the end of the log.
fn write_task_and_log(
    ctx: &mut Ctx<'_>,
    s: &Session,
    live: State,
    log_tail: &[String],
) -> Result<()> {
    writeln!(ctx.out, "\n{}", ui::bold("task"))?;
    for line in s.prompt.lines() {
        writeln!(ctx.out, "    {}", ui::printable(line))?;
    }
    if log_tail.is_empty() {
        let none = if live.is_active() {
            "(no output yet)"
        } else {
            "(no output)"
        };
        writeln!(ctx.out, "\n{}", ui::dim(none))?;
    } else {
        writeln!(
            ctx.out,
            "\n{}",
            ui::bold(&format!("log (last {} lines)", log_tail.len()))
        )?;
        for line in log_tail {
            writeln!(ctx.out, "    {}", ui::printable(line))?;
        }
    }
    Ok(())
}
