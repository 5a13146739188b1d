//! `git agent clean`: remove the sessions whose work is merged, and say what is kept and why.
//!
//! A session is removed only when every rule of [`crate::ops::remove`] allows it *without force*:
//! its agent has ended, its worktree holds nothing uncommitted and is not locked by anyone
//! else, and its branch is merged by content (`merged`, `squash-merged`), has no commits of its
//! own (`empty`), or is gone along with its worktree (`worktree-missing`). Branches are kept.
//! By default only sessions that ended `done` (or `merged`) are looked at; `--all` adds the
//! failed, stopped and lost ones (the same rules apply); named sessions limit it to those. On a terminal the plan is shown and
//! confirmed; without one, `--yes` is needed.

use anyhow::Result;
use serde::Serialize;

use super::{Ctx, Format, OutputArgs, Removal};
use crate::error::{Failure, Report, code};
use crate::git::merging::Memory;
use crate::git::repo::Repo;
use crate::ops::remove;
use crate::session::{Session, State};

#[derive(Debug, clap::Args)]
#[command(mut_args(super::reword("json", |a| a.help("Print the plan (and what was done) as JSON"))))]
pub struct Args {
    /// Only these sessions (each must exist; the same rules apply); all of them when none is
    /// named
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Show what would be removed and what is kept, and why; remove nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Remove sessions whose work is merged (the default)
    #[arg(long)]
    pub merged: bool,
    /// Only sessions that ended at least this long ago (e.g. 7d, 12h)
    #[arg(long, value_name = "DURATION")]
    pub older_than: Option<String>,
    /// Also look at sessions that failed, were stopped or lost (the same rules apply)
    #[arg(long)]
    pub all: bool,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub yes: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// One session's fate.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub name: String,
    /// Removed (or would be): `merged`, `squash-merged`, `empty`, `worktree-missing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove: Option<String>,
    /// Kept: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep: Option<String>,
    #[serde(skip)]
    pub session: Option<Session>,
}

/// `clean --json`: the plan, and (when something was removed) what was done.
#[derive(Serialize)]
struct Doc<'a> {
    dry_run: bool,
    sessions: &'a [Verdict],
    #[serde(skip_serializing_if = "Option::is_none")]
    done: Option<Vec<Removal>>,
}

fn kept(s: &Session, why: String) -> Verdict {
    Verdict {
        name: s.name.clone(),
        remove: None,
        keep: Some(why),
        session: None,
    }
}

/// Decides for every session.
pub fn plan(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    all: bool,
    older_than: Option<std::time::Duration>,
    names: &[String],
) -> Result<Vec<Verdict>> {
    let state = repo.state();
    let mem = Memory::new(repo);
    let now = crate::time::now();
    let mut verdicts = Vec::new();
    let mut sessions = ctx.sessions(&state)?;
    if !names.is_empty() {
        if let Some(unknown) = names
            .iter()
            .find(|n| !sessions.iter().any(|s| s.name == **n))
        {
            return Err(crate::state::no_such_session(unknown));
        }
        sessions.retain(|s| names.contains(&s.name));
    }
    for s in sessions {
        let live = s.live_state();
        if live.is_active() {
            verdicts.push(kept(&s, format!("its agent is running ({live})")));
            continue;
        }
        let finished_well = matches!(live, State::Done | State::Merged);
        if !finished_well && !all {
            verdicts.push(kept(&s, format!("{live} (look at it, or use --all)")));
            continue;
        }
        if live == State::Lost
            && s.processes
                .agent
                .as_ref()
                .is_some_and(crate::procs::ProcessRef::group_is_ours)
        {
            verdicts.push(kept(&s, "lost, and its agent may still be running".into()));
            continue;
        }
        if let Some(min) = older_than {
            let ended = s.ended_at.unwrap_or(s.created_at);
            let age = crate::time::between(ended, now);
            if age < min {
                verdicts.push(kept(
                    &s,
                    format!(
                        "ended {} ago (--older-than {})",
                        crate::time::format_duration(age),
                        crate::time::format_duration(min)
                    ),
                ));
                continue;
            }
        }
        // Not while another command removes it.
        let Ok(_exclusive) = state.removal_lock(&s.name) else {
            continue;
        };
        let Ok(s) = state.load(&s.name) else {
            continue;
        };
        let i = match remove::inspect(repo, &mem, &s) {
            Ok(i) => i,
            // Removed (or being removed) by another command meanwhile, or unreadable: it is
            // not ours to remove now.
            Err(_) if !state.exists(&s.name) => continue,
            Err(e) => {
                let why = Report::from_error(&e).message;
                verdicts.push(kept(&s, format!("could not be examined: {why}")));
                continue;
            }
        };
        if let Some(reason) = &i.locked_by_other {
            verdicts.push(kept(
                &s,
                format!("its worktree is locked by someone else ({reason})"),
            ));
            continue;
        }
        match i.reason() {
            Some(reason) => verdicts.push(Verdict {
                name: s.name.clone(),
                remove: Some(reason.to_owned()),
                keep: None,
                session: Some(s),
            }),
            None => {
                let why = if let Some(op) = &i.operation {
                    op.clone()
                } else if let Some(h) = &i.head_elsewhere {
                    h.clone()
                } else if !i.uncommitted.is_empty() {
                    format!(
                        "{} uncommitted change(s) in its worktree",
                        i.uncommitted.len()
                    )
                } else {
                    i.branch_words()
                };
                verdicts.push(kept(&s, why));
            }
        }
    }
    Ok(verdicts)
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let format = args.output.format();
    let repo = ctx.repo()?;
    let older_than = match &args.older_than {
        Some(d) => Some(crate::time::parse_duration(d)?),
        None => repo.config().duration("agent.cleanOlderThan")?,
    };
    let verdicts = plan(ctx, &repo, args.all, older_than, &args.names)?;
    let doomed: Vec<&Verdict> = verdicts.iter().filter(|v| v.remove.is_some()).collect();
    if format != Format::Json {
        show_plan(ctx, &verdicts, args.dry_run)?;
    }
    if args.dry_run || doomed.is_empty() {
        if format == Format::Json {
            ctx.write_doc(&Doc {
                dry_run: args.dry_run,
                sessions: &verdicts,
                done: None,
            })?;
        } else if doomed.is_empty() {
            writeln!(ctx.out, "Nothing to clean.")?;
        }
        return Ok(code::SUCCESS);
    }
    if !args.yes {
        if !ctx.can_prompt() {
            return Err(Failure::fatal(format!(
                "clean would remove {} session(s), and there is no terminal to confirm it on",
                doomed.len()
            ))
            .hint("look first with --dry-run, then confirm with --yes")
            .code(code::NEEDS_TERMINAL)
            .into());
        }
        let go = ctx.confirm(&format!("Remove {} session(s)?", doomed.len()), false)?;
        if !go {
            writeln!(ctx.err, "Nothing removed.")?;
            return Ok(code::SUCCESS);
        }
    }
    let repo_ref = &repo;
    let mut exit = code::SUCCESS;
    let mut done = Vec::new();
    let progress = ctx.progress(doomed.len(), "removing");
    for v in doomed {
        progress.step(&v.name);
        let Some(s) = &v.session else { continue };
        let reason = v.remove.clone().unwrap_or_default();
        let opts = remove::Options {
            reason: reason.clone(),
            ..remove::Options::default()
        };
        match remove::remove(
            repo_ref,
            s,
            &opts,
            &format!("git agent rm --force {}", s.name),
        ) {
            Ok(outcome) => {
                if format != Format::Json {
                    writeln!(
                        ctx.out,
                        "Removed {} ({reason}); branch {} kept",
                        s.name, outcome.branch
                    )?;
                    if let Some(left) = &outcome.left_elsewhere {
                        ctx.warn(left)?;
                    }
                }
                done.push(Removal::Removed {
                    name: s.name.clone(),
                    removed: Box::new(outcome),
                });
            }
            Err(_) if !repo_ref.state().exists(&s.name) => {
                // Another command removed it meanwhile: what was asked for is done.
                writeln!(ctx.err, "{}: removed meanwhile by another command", s.name)?;
            }
            Err(e) => {
                // Something changed since the plan: it stays.
                let r = Report::from_error(&e);
                ctx.warn(&format!("kept {}: {}", s.name, r.message))?;
                done.push(Removal::Failed {
                    name: s.name.clone(),
                    error: r.message,
                });
                exit = code::NEGATIVE;
            }
        }
    }
    progress.finish();
    if format == Format::Json {
        ctx.write_doc(&Doc {
            dry_run: false,
            sessions: &verdicts,
            done: Some(done),
        })?;
    }
    Ok(exit)
}

fn show_plan(ctx: &mut Ctx<'_>, verdicts: &[Verdict], dry_run: bool) -> Result<()> {
    let width = verdicts.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let verb = if dry_run { "Would remove" } else { "To remove" };
    let title = format!("{verb} (their branches are kept):");
    write_group(ctx, &title, verdicts, width, |v| v.remove.as_deref())?;
    write_group(ctx, "Keeping:", verdicts, width, |v| v.keep.as_deref())
}

/// `title` and the verdicts `why` says something about, one a line with what it says;
/// nothing if there are none.
fn write_group(
    ctx: &mut Ctx<'_>,
    title: &str,
    verdicts: &[Verdict],
    width: usize,
    why: impl Fn(&Verdict) -> Option<&str>,
) -> Result<()> {
    let mut group = verdicts
        .iter()
        .filter_map(|v| Some((v.name.as_str(), why(v)?)))
        .peekable();
    if group.peek().is_none() {
        return Ok(());
    }
    writeln!(ctx.out, "{title}")?;
    for (name, why) in group {
        writeln!(ctx.out, "  {name:width$}  {why}")?;
    }
    Ok(())
}
