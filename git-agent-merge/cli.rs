//! The `git-agent-merge` command line: `git agent merge`, and `git agent conflicts` and
//! `git agent sync`, which `git agent` hands to this binary as its subcommands.

use anyhow::Result;
use git_agent::cli::merge::{Cli, ConflictsArgs, MergeArgs, StrategyArgs, Sub};
use git_agent::commands::{Ctx, Format};
use git_agent::error::{Failure, code};
use git_agent::git::merging::Memory;
use git_agent::git::repo::Repo;
use git_agent::session::{Session, short_id};
use serde::Serialize;

use crate::land::{self, Options, Step, Strategy};
use crate::{apply, conflicts, pr, queue, sync, target};

/// The strategy the flags chose, if any.
fn chosen(s: &StrategyArgs) -> Option<Strategy> {
    [
        (s.squash, Strategy::Squash),
        (s.rebase, Strategy::Rebase),
        (s.merge, Strategy::Merge),
        (s.ff_only, Strategy::FfOnly),
    ]
    .into_iter()
    .find_map(|(on, st)| on.then_some(st))
}

pub fn run(ctx: &mut Ctx<'_>, cli: Cli) -> Result<u8> {
    let repo = ctx.repo()?;
    crate::target::trust_hooks_of(&repo);
    match cli.command {
        Some(Sub::Conflicts(args)) => run_conflicts(ctx, &repo, &args),
        Some(Sub::Sync(args)) => {
            let how = if args.rebase {
                Some(sync::How::Rebase)
            } else if args.merge {
                Some(sync::How::Merge)
            } else {
                None
            };
            let action = if args.continue_ {
                sync::Action::Continue
            } else if args.abort {
                sync::Action::Abort
            } else {
                sync::Action::Start
            };
            sync::run(
                ctx,
                &repo,
                &args.name,
                args.into.as_deref(),
                how,
                action,
                args.ask_agent,
            )
        }
        None => run_merge(ctx, &repo, &cli.merge),
    }
}

/// Prints a refusal the way git prints an error: the reason, the paths, the hints.
pub fn report_refused(ctx: &mut Ctx<'_>, r: &land::Refused, hints: bool) -> Result<()> {
    if r.paths.is_empty() {
        writeln!(ctx.err, "error: {}: {}", r.session, r.why)?;
    } else {
        writeln!(ctx.err, "error: {}: {} in:", r.session, r.why)?;
        for p in &r.paths {
            writeln!(ctx.err, "    {p}")?;
        }
    }
    if hints {
        for h in &r.hints {
            ctx.hint(h)?;
        }
    }
    Ok(())
}

fn options(args: &MergeArgs) -> Options {
    Options {
        strategy: chosen(&args.strategy),
        into: args.into.clone(),
        message: args.message.clone(),
        dry_run: args.dry_run,
        keep: args.keep,
        verify: args.verify,
        trust: args.trust,
        fetch: args.fetch,
        rebase_first: false,
        json: args.output.format() == Format::Json,
    }
}

/// `merge NAME --json`: the one step, and the variants `--discard-others` removed.
#[derive(Serialize)]
struct MergeDoc<'a> {
    steps: [&'a Step; 1],
    discarded: &'a [git_agent::ops::remove::Outcome],
}

fn run_merge(ctx: &mut Ctx<'_>, repo: &Repo, args: &MergeArgs) -> Result<u8> {
    let state = repo.state();
    let names: Vec<String> = match (&args.group, args.names.as_slice()) {
        (Some(group), []) => {
            let members: Vec<String> = ctx
                .sessions(&state)?
                .into_iter()
                .filter(|s| s.group.as_ref().is_some_and(|g| &g.id == group))
                .map(|s| s.name)
                .collect();
            if members.is_empty() {
                return Err(Failure::fatal(format!("no sessions in group '{group}'"))
                    .hint("see the groups with: git agent list")
                    .into());
            }
            members
        }
        (Some(_), _) => {
            return Err(Failure::usage("give either session names or --group, not both").into());
        }
        (None, []) => {
            return Err(Failure::usage("name the session to merge")
                .hint("git agent merge NAME  (see 'git agent list')")
                .into());
        }
        (None, names) => names.to_vec(),
    };
    if names.len() > 1 && (args.apply || args.pr || args.discard_others) {
        return Err(Failure::usage("--apply, --pr and --discard-others take one session").into());
    }
    if args.apply {
        return apply::run(ctx, repo, &names[0]);
    }
    if args.pr {
        return pr::run(ctx, repo, &names[0], args.into.as_deref());
    }
    let opts = options(args);
    if names.len() > 1 {
        let sessions: Vec<Session> = state.load_each(&names)?;
        let outcome = queue::run(ctx, repo, &sessions, &opts)?;
        if args.output.format() == Format::Json {
            ctx.write_doc(&outcome)?;
        } else {
            for step in &outcome.steps {
                if let Step::Planned(plan) = step {
                    write_plan(ctx, plan)?;
                }
            }
        }
        if let Some(at) = &outcome.stopped_at {
            let merged: Vec<&str> = outcome
                .steps
                .iter()
                .filter_map(|s| match s {
                    Step::Merged(l) | Step::AlreadyMerged(l) => Some(l.session.as_str()),
                    _ => None,
                })
                .collect();
            writeln!(
                ctx.err,
                "Stopped at {at}. Merged: {}. Not attempted: {}.",
                if merged.is_empty() {
                    "none".to_owned()
                } else {
                    merged.join(", ")
                },
                if outcome.not_attempted.is_empty() {
                    "none".to_owned()
                } else {
                    outcome.not_attempted.join(", ")
                }
            )?;
            return Ok(code::NEGATIVE);
        }
        return Ok(code::SUCCESS);
    }
    let name = &names[0];
    let step = match archived_merged(repo, name)? {
        // Merged and removed already: only --discard-others is left to do.
        Some(landed) if args.discard_others => Step::AlreadyMerged(landed),
        _ => land::merge_one(ctx, repo, name, &opts)?,
    };
    let mut exit = match &step {
        Step::Refused(_) => code::NEGATIVE,
        _ => code::SUCCESS,
    };
    let mut discarded = Vec::new();
    if args.discard_others && matches!(step, Step::Merged(_) | Step::AlreadyMerged(_)) {
        let (d, ok) = discard_others(ctx, repo, name, args.force)?;
        discarded = d;
        if !ok {
            exit = code::NEGATIVE;
        }
    }
    if args.output.format() == Format::Json {
        ctx.write_doc(&MergeDoc {
            steps: [&step],
            discarded: &discarded,
        })?;
        return Ok(exit);
    }
    match &step {
        Step::Refused(r) => report_refused(ctx, r, true)?,
        Step::Planned(plan) => write_plan(ctx, plan)?,
        Step::AlreadyMerged(l) if args.dry_run => {
            writeln!(
                ctx.out,
                "{}: its work is already in {}; nothing to merge",
                l.session, l.into
            )?;
        }
        _ => {}
    }
    Ok(exit)
}

/// A session merged and removed earlier, as a landing.
fn archived_merged(repo: &Repo, name: &str) -> Result<Option<land::Landed>> {
    let state = repo.state();
    if state.exists(name) {
        return Ok(None);
    }
    Ok(state
        .load_archive()?
        .into_iter()
        .filter(|s| s.name == name)
        .filter_map(|s| s.merged.map(|m| (s.name, m)))
        .max_by_key(|(_, m)| m.at)
        .map(|(session, m)| land::Landed {
            session,
            into: m.into,
            strategy: Strategy::named(&m.strategy),
            commit: m.commit,
            previous: m.previous,
            commits: Vec::new(),
            removed: None,
            kept: None,
        }))
}

fn write_plan(ctx: &mut Ctx<'_>, p: &land::Plan) -> Result<()> {
    let how = if p.fast_forward && p.strategy != Strategy::Squash && p.strategy != Strategy::Merge {
        format!("{}, a fast-forward", p.strategy.as_str())
    } else {
        p.strategy.as_str().to_owned()
    };
    writeln!(
        ctx.out,
        "Would merge {} into {} ({how}), cleanly:",
        p.session, p.into
    )?;
    if p.uncommitted {
        writeln!(
            ctx.out,
            "  after committing the uncommitted changes in its worktree"
        )?;
    }
    for c in &p.commits {
        writeln!(ctx.out, "  {c}")?;
    }
    writeln!(
        ctx.out,
        "  {} file{} changed, +{} -{}",
        p.files.len(),
        if p.files.len() == 1 { "" } else { "s" },
        p.insertions,
        p.deletions
    )?;
    match &p.checkout {
        Some(dir) => writeln!(
            ctx.out,
            "  {} is checked out in {}: it would move with it",
            p.into,
            git_agent::ui::short_path(dir, &ctx.cwd)
        )?,
        None => writeln!(ctx.out, "  only the ref {} would move", p.into)?,
    }
    if !p.keep {
        writeln!(
            ctx.out,
            "  then its worktree would be removed (its branch kept)"
        )?;
    }
    Ok(())
}

/// `--discard-others`: removes the other variants of the winner's group, keeping their
/// branches; a variant with uncommitted work is kept unless `force`. Returns what was removed
/// and whether every one was.
fn discard_others(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    winner: &str,
    force: bool,
) -> Result<(Vec<git_agent::ops::remove::Outcome>, bool)> {
    let state = repo.state();
    let group = state
        .load_archive()?
        .into_iter()
        .chain(state.load_all()?.sessions)
        .find(|s| s.name == winner)
        .and_then(|s| s.group)
        .ok_or_else(|| {
            Failure::fatal(format!("'{winner}' is not one of a group of variants")).hint(
                "--discard-others is for sessions made by 'git agent new -n N' or --agent a,b",
            )
        })?;
    let mut removed = Vec::new();
    let mut all = true;
    for s in ctx.sessions(&state)? {
        if s.name == winner || s.group.as_ref().is_none_or(|g| g.id != group.id) {
            continue;
        }
        let opts = git_agent::ops::remove::Options {
            force,
            allow_unmerged: true,
            reason: format!("discarded: {winner} won"),
            ..Default::default()
        };
        let force_flag = format!("git agent merge {winner} --discard-others --force");
        match git_agent::ops::remove::remove(repo, &s, &opts, &force_flag) {
            Ok(outcome) => {
                let tip = outcome
                    .branch_tip
                    .as_deref()
                    .map(|t| format!(" (at {})", short_id(t)))
                    .unwrap_or_default();
                writeln!(
                    ctx.err,
                    "Discarded {}: worktree removed; branch {} kept{tip}",
                    s.name, outcome.branch
                )?;
                removed.push(outcome);
            }
            Err(e) => {
                all = false;
                let report = git_agent::error::Report::from_error(&e);
                ctx.warn(&format!("kept {}: {}", s.name, report.message))?;
                for h in report.hints {
                    ctx.hint(&h)?;
                }
            }
        }
    }
    Ok((removed, all))
}

fn run_conflicts(ctx: &mut Ctx<'_>, repo: &Repo, args: &ConflictsArgs) -> Result<u8> {
    let state = repo.state();
    let sessions: Vec<Session> = if args.names.is_empty() {
        ctx.sessions(&state)?
            .into_iter()
            .filter(|s| s.merged.is_none() && repo.branch_exists(&s.branch).unwrap_or(false))
            .collect()
    } else {
        state.load_each(&args.names)?
    };
    if sessions.is_empty() {
        writeln!(ctx.err, "No sessions to check.")?;
        return Ok(code::SUCCESS);
    }
    let targets = target::resolve_all(repo, &sessions, args.into.as_deref())?;
    let mem = Memory::new(repo);
    let prediction = conflicts::predict(repo, &mem, &sessions, &targets, args.scan)?;
    if args.output.format() == Format::Json {
        ctx.write_doc(&prediction)?;
    } else {
        write!(ctx.out, "{}", conflicts::render(&prediction))?;
    }
    Ok(if prediction.any_conflict() {
        code::NEGATIVE
    } else {
        code::SUCCESS
    })
}
