//! `git agent rm NAME…`: stop a session's agent and remove its worktree, without losing work.
//!
//! The rules are [`crate::ops::remove`]'s: refused, listing exactly what would be lost, when the
//! worktree holds uncommitted work or the branch has commits merged nowhere (by content);
//! `--force` removes the worktree anyway and keeps the branch (its tip is printed);
//! `--delete-branch` deletes the branch too, only if merged (or with `--force`). A session run
//! over SSH takes its remote session along once its work is here (see
//! `runner::ssh::removal`); what an unreachable host keeps is a warning.

use anyhow::Result;
use serde::Serialize;

use super::{Ctx, Format, OutputArgs, Removal};
use crate::error::{Report, code};
use crate::git::merging::Memory;
use crate::ops::remove::{self, Inspection};
use crate::session::short_id;
use crate::ui;

#[derive(Debug, clap::Args)]
#[command(mut_args(super::reword("json", |a| a.help("Print the results as JSON"))))]
pub struct Args {
    /// Sessions to remove
    #[arg(value_name = "NAME", value_parser = crate::cli::session_name, required = true)]
    pub names: Vec<String>,
    /// Remove the worktree even if that loses uncommitted work or leaves unmerged commits
    /// (the branch is kept); for a session run over SSH, its remote session too, even if its
    /// work there is not here
    #[arg(short, long)]
    pub force: bool,
    /// Delete the branch too: only if its work is merged (or with --force)
    #[arg(long)]
    pub delete_branch: bool,
    /// Show what would be removed, and what would be lost; remove nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Time between SIGTERM and SIGKILL for a running agent [default: agent.stopGrace, or 10s]
    #[arg(long, value_name = "DURATION")]
    pub grace: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `rm --json`.
#[derive(Serialize)]
struct Doc {
    results: Vec<Entry>,
}

/// One session in `rm --json`: what a dry run found, or what was done.
#[derive(Serialize)]
#[serde(untagged)]
enum Entry {
    Inspected {
        name: String,
        inspection: Box<Inspection>,
        would_remove: bool,
    },
    Done(Removal),
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let format = args.output.format();
    let repo = ctx.repo()?;
    let state = repo.state();
    let grace = crate::time::parse_flag(args.grace.as_deref())?;
    let mut exit = code::SUCCESS;
    let mut results = Vec::new();
    for name in &args.names {
        let s = match state.load(name) {
            Ok(s) => s,
            Err(e) => {
                report(ctx, name, &e)?;
                exit = exit.max(code::FATAL);
                continue;
            }
        };
        let opts = remove::Options {
            force: args.force,
            delete_branch: args.delete_branch,
            allow_unmerged: false,
            reason: "rm".into(),
            grace,
        };
        let force_flag = format!("git agent rm --force {name}");
        if args.dry_run {
            let mem = Memory::new(&repo);
            let (i, refusal) = remove::preview(&repo, &mem, &s, &opts, &force_flag)?;
            if format == Format::Json {
                results.push(Entry::Inspected {
                    name: name.clone(),
                    would_remove: refusal.is_none(),
                    inspection: Box::new(i),
                });
            } else {
                dry_run(ctx, &i, &opts, refusal.as_ref())?;
            }
            if refusal.is_some() {
                exit = exit.max(code::NEGATIVE);
            }
            continue;
        }
        match remove::remove(&repo, &s, &opts, &force_flag) {
            Ok(outcome) => {
                if format != Format::Json {
                    writeln!(ctx.out, "{}", removed_line(&outcome, &ctx.cwd))?;
                    if outcome.leftovers_stopped > 0 {
                        writeln!(
                            ctx.err,
                            "  stopped {} process(es) its agent had left running",
                            outcome.leftovers_stopped
                        )?;
                    }
                    if !outcome.discarded.is_empty() {
                        writeln!(
                            ctx.err,
                            "  discarded (--force): {}",
                            outcome.discarded.join(", ")
                        )?;
                    }
                    if let Some(left) = &outcome.left_elsewhere {
                        ctx.warn(left)?;
                    }
                    for p in &outcome.strangers {
                        ctx.warn(&format!(
                            "process {} ({}) was working in that directory; it carries no mark of the agent's run (yours, or one that shed it), so it was left alone",
                            p.pid, p.command
                        ))?;
                    }
                }
                results.push(Entry::Done(Removal::Removed {
                    name: name.clone(),
                    removed: Box::new(outcome),
                }));
            }
            Err(e) => {
                let r = Report::from_error(&e);
                exit = exit.max(r.code);
                report(ctx, name, &e)?;
                results.push(Entry::Done(Removal::Failed {
                    name: name.clone(),
                    error: r.message,
                }));
            }
        }
    }
    if format == Format::Json {
        ctx.write_doc(&Doc { results })?;
    }
    Ok(exit)
}

/// `Removed NAME: worktree … removed; branch … kept at …`: what removing a session did.
pub fn removed_line(outcome: &remove::Outcome, cwd: &std::path::Path) -> String {
    let tip = outcome.branch_tip.as_deref().map(short_id).unwrap_or("-");
    let branch = if outcome.branch_deleted {
        format!("branch {} deleted (was {tip})", outcome.branch)
    } else if outcome.branch_tip.is_some() {
        format!(
            "branch {} kept at {tip} ({})",
            outcome.branch, outcome.branch_state
        )
    } else {
        "its branch was already gone".to_owned()
    };
    let worktree = match &outcome.worktree_kept {
        Some(why) => format!(
            "worktree {} left alone ({why})",
            ui::short_path(&outcome.worktree, cwd)
        ),
        None => format!(
            "worktree {} removed",
            ui::short_path(&outcome.worktree, cwd)
        ),
    };
    format!("Removed {}: {worktree}; {branch}", outcome.name)
}

fn report(ctx: &mut Ctx<'_>, name: &str, e: &anyhow::Error) -> Result<()> {
    let r = Report::from_error(e);
    let mut lines = r.message.lines();
    let first = lines.next().unwrap_or("");
    let first = if first.contains(name) {
        first.to_owned()
    } else {
        format!("{name}: {first}")
    };
    writeln!(ctx.err, "error: {first}")?;
    for line in lines {
        writeln!(ctx.err, "  {line}")?;
    }
    for h in &r.hints {
        ctx.hint(h)?;
    }
    Ok(())
}

fn dry_run(
    ctx: &mut Ctx<'_>,
    i: &Inspection,
    opts: &remove::Options,
    refusal: Option<&crate::error::Failure>,
) -> Result<()> {
    if let Some(f) = refusal {
        writeln!(ctx.out, "Would refuse to remove {}:", i.name)?;
        for line in f.message.lines().skip(1) {
            writeln!(ctx.out, "  {line}")?;
        }
        return Ok(());
    }
    writeln!(ctx.out, "Would remove {}:", i.name)?;
    if i.alive {
        writeln!(ctx.out, "  stop its agent (it is running)")?;
    }
    if let Some(why) = &i.not_ours {
        writeln!(
            ctx.out,
            "  leave its worktree {} alone ({why})",
            i.worktree.display()
        )?;
    } else if i.worktree_missing {
        writeln!(
            ctx.out,
            "  its worktree {} is already gone",
            i.worktree.display()
        )?;
    } else {
        writeln!(ctx.out, "  remove the worktree {}", i.worktree.display())?;
    }
    if opts.force && i.worktree_holds_work() {
        writeln!(ctx.out, "  losing (--force): {}", i.uncommitted.join(", "))?;
    }
    match &i.branch_tip {
        Some(tip) if opts.delete_branch && !i.shared && (i.branch_is_merged() || opts.force) => {
            writeln!(
                ctx.out,
                "  delete the branch {} (at {}; {})",
                i.branch,
                short_id(tip),
                i.branch_words()
            )?;
        }
        Some(tip) => writeln!(
            ctx.out,
            "  keep the branch {} at {} ({})",
            i.branch,
            short_id(tip),
            i.branch_words()
        )?,
        None => {}
    }
    Ok(())
}
