//! `git agent show NAME`: the whole record and the end of the log.

use anyhow::Result;
use serde_json::json;

use super::{Ctx, JSON_VERSION};
use crate::changes;
use crate::repo::Repo;
use crate::session::{self, Session};
use crate::state::StateDir;
use crate::ui;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The session
    #[arg(value_name = "NAME")]
    pub name: String,
    /// How many lines of the log to show
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub lines: usize,
    /// Print the record as JSON
    #[arg(long)]
    pub json: bool,
}

/// The last `n` lines of a file (all of it if shorter); empty if it does not exist.
pub fn tail(path: &std::path::Path, n: usize) -> Vec<String> {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = Repo::discover(&ctx.cwd)?;
    let state = repo.state();
    let s = state.load(&args.name)?;
    let live = s.live_state();
    let changes = changes::of(&repo, &s).ok();
    let log_tail = tail(&state.log_path(&s.name), args.lines);
    if args.json {
        let mut record = serde_json::to_value(&s)?;
        if let serde_json::Value::Object(map) = &mut record {
            map.insert("stored_state".into(), json!(s.state));
            map.insert("state".into(), json!(live));
            map.insert("changes".into(), serde_json::to_value(&changes)?);
            map.insert("log_path".into(), json!(state.log_path(&s.name)));
            map.insert("log_tail".into(), json!(log_tail));
        }
        let doc = json!({ "version": JSON_VERSION, "session": record });
        writeln!(ctx.out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(0);
    }
    write_human(ctx, &state, &s, changes.as_ref(), &log_tail)?;
    Ok(0)
}

fn write_human(
    ctx: &mut Ctx<'_>,
    state: &StateDir,
    s: &Session,
    changes: Option<&changes::Changes>,
    log_tail: &[String],
) -> Result<()> {
    let now = crate::time::now();
    let live = s.live_state();
    let mut rows: Vec<(&str, String)> = Vec::new();
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
    rows.push(("state", status));
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
    let mut argv = vec![s.agent.program.to_string_lossy().into_owned()];
    argv.extend(s.agent.args.iter().cloned());
    rows.push(("command", shell_words::join(argv)));
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
    if let Some(c) = &s.commit {
        rows.push(("commit", c.describe()));
    }
    let mut pids = Vec::new();
    if let Some(p) = &s.processes.supervisor {
        pids.push(format!("supervisor {}", p.pid));
    }
    if let Some(p) = &s.processes.agent {
        pids.push(format!("agent {}", p.pid));
    }
    if !pids.is_empty() {
        rows.push(("pids", pids.join(", ")));
    }
    rows.push((
        "log",
        state.log_path(&s.name).to_string_lossy().into_owned(),
    ));

    writeln!(ctx.out, "{} {}", ui::bold("session"), ui::bold(&s.name))?;
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in rows {
        writeln!(
            ctx.out,
            "{:width$}  {value}",
            ui::dim(key),
            width = width + ui::dim(key).len() - key.len()
        )?;
    }
    writeln!(ctx.out, "\n{}", ui::bold("task"))?;
    for line in s.prompt.lines() {
        writeln!(ctx.out, "    {line}")?;
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
            writeln!(ctx.out, "    {line}")?;
        }
    }
    Ok(())
}
