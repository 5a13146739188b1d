//! What `git agent new` prints about the sessions it started, and about the checkout whose
//! changes it moved.

use anyhow::Result;
use serde::Serialize;

use super::super::{Ctx, Format};
use crate::ops::create::start;
use crate::ops::take::Snapshot;
use crate::session::{self, Session, State};
use crate::state::StateDir;
use crate::ui;

/// `new --json`: the sessions created.
#[derive(Serialize)]
struct Doc<'a> {
    sessions: &'a [Session],
}

pub(super) fn print(ctx: &mut Ctx<'_>, format: Format, sessions: &[Session]) -> Result<()> {
    match format {
        Format::Json => {
            ctx.write_doc(&Doc { sessions })?;
        }
        Format::Porcelain => {
            for s in sessions {
                writeln!(ctx.out, "{}", s.worktree.display())?;
            }
        }
        Format::Human => {
            for s in sessions {
                let pid = s
                    .processes
                    .agent
                    .as_ref()
                    .map(|p| format!(", pid {}", p.pid))
                    .unwrap_or_default();
                let state = s.live_state();
                let note = match state {
                    State::Running => String::new(),
                    State::Setup => format!(" — {}", ui::state(state)),
                    _ => format!(" — already {}", ui::state(state)),
                };
                if state == State::Queued {
                    writeln!(
                        ctx.out,
                        "Queued {} ({}): it starts when a slot frees ('git agent start {}' starts it now)",
                        ui::bold(&s.name),
                        s.short_agent(),
                        s.name
                    )?;
                } else {
                    writeln!(
                        ctx.out,
                        "Started {} ({}{pid}){note}",
                        ui::bold(&s.name),
                        s.short_agent()
                    )?;
                }
                writeln!(
                    ctx.out,
                    "  worktree  {}",
                    ui::short_path(&s.worktree, &ctx.cwd)
                )?;
                let attached = if s.branch_created {
                    String::new()
                } else {
                    " (existing)".to_owned()
                };
                writeln!(
                    ctx.out,
                    "  branch    {}{attached} (from {} @ {})",
                    s.branch,
                    s.base.short_name(),
                    session::short_id(&s.base.commit)
                )?;
                if let Some(cmd) = s.setup.as_ref().and_then(|st| st.command.as_deref()) {
                    writeln!(ctx.out, "  setup     {cmd}")?;
                }
                if !s.ports.is_empty() {
                    let ports: Vec<String> = s.ports.iter().map(u16::to_string).collect();
                    writeln!(ctx.out, "  ports     {}", ports.join(", "))?;
                }
                if !s.included.is_empty() {
                    writeln!(ctx.out, "  copied    {}", s.included.join(", "))?;
                }
                if !s.linked.is_empty() {
                    writeln!(ctx.out, "  linked    {}", s.linked.join(", "))?;
                }
                if let Some(f) = &s.sandbox.in_force {
                    writeln!(ctx.out, "  sandbox   {}", f.detail)?;
                }
            }
            // Said once per command, however many sessions it started.
            if let Some(f) = sessions
                .iter()
                .filter_map(|s| s.sandbox.in_force.as_ref())
                .find(|f| f.kind == "none")
            {
                writeln!(
                    ctx.err,
                    "warning: agents run without a write sandbox: {}",
                    f.detail.trim_start_matches("none: ")
                )?;
                writeln!(
                    ctx.err,
                    "hint: they can write anywhere you can; set agent.sandbox=on to refuse that, or agent.sandbox=off to silence this"
                )?;
            }
        }
    }
    Ok(())
}

/// After every new worktree holds the changes: cleans the source (unless it changed
/// meanwhile) and says what happened.
pub(super) fn clean_source(
    ctx: &mut Ctx<'_>,
    state: &StateDir,
    snapshot: &Snapshot,
    started: &mut [Session],
) -> Result<()> {
    let Some(outcome) = start::clean_source(state, snapshot, started)? else {
        return Ok(());
    };
    let targets = started
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    match outcome {
        crate::ops::take::Cleaned::Yes => writeln!(
            ctx.err,
            "Moved {} changed path(s) into {targets}; this checkout is clean now.",
            snapshot.paths().len(),
        )?,
        crate::ops::take::Cleaned::Changed => ctx.warn(&format!(
            "this checkout changed while the changes were being moved; it was left as it is \
             (the changes are also in {targets})"
        ))?,
        crate::ops::take::Cleaned::HeadMoved { now, branch } => {
            let on = branch
                .as_deref()
                .map(|b| format!(" on {}", b.strip_prefix("refs/heads/").unwrap_or(b)))
                .unwrap_or_default();
            ctx.warn(&format!(
                "HEAD moved from {} to {}{on} while the changes were being moved (a commit?); \
                 this checkout was left as it is (the changes are also in {targets})",
                session::short_id(&snapshot.head),
                session::short_id(&now),
            ))?;
        }
    }
    if let Some(backup) = &snapshot.backup {
        writeln!(
            ctx.err,
            "A copy of the moved index and tracked changes is commit {}.",
            session::short_id(backup)
        )?;
    }
    Ok(())
}
