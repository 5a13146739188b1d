//! The `git-agent-merge` command line: `git agent merge`, and `git agent conflicts` and
//! `git agent sync`, which `git agent` hands to this binary as its subcommands.

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use git_agent::commands::{Ctx, JSON_VERSION};
use git_agent::error::{Failure, code};
use git_agent::merging::Memory;
use git_agent::repo::Repo;
use git_agent::session::{Session, short_id};
use serde_json::json;

use crate::land::{self, Options, Step, Strategy};
use crate::{apply, conflicts, pr, queue, sync, target};

const AFTER_HELP: &str = "\
Examples:
  git agent merge fix-login                    squash it onto its base branch, remove its worktree
  git agent merge fix-login --rebase --keep    its commits rebased onto the target; keep the session
  git agent merge fix-login --dry-run          what would land, and whether it conflicts
  git agent merge speed-2 --discard-others     the winner of a group; the other variants removed
  git agent merge a b c                        a merge queue, in the suggested order
  git agent merge fix-login --apply            its changes, uncommitted, in this checkout
  git agent merge fix-login --pr               push it and open a pull request (gh)
  git agent conflicts                          predicted conflicts of every session
  git agent sync fix-login                     bring its base branch's new commits in

Exit status: 0 merged (or nothing to do); 1 refused: conflicts, a failed verify, not a
fast-forward, or local changes in the way (the paths are listed); 2 usage error; 128 fatal.";

#[derive(Debug, Parser)]
#[command(
    name = "git-agent-merge",
    bin_name = "git agent merge",
    version,
    about = "Land agents' work: merge, squash, rebase, apply or open a pull request; predict conflicts",
    long_about = "Land an agent's work on the branch it was started from (or --into another): \
squash, rebase, merge or fast-forward, with the merge predicted in memory first, your checkout \
never left half-merged, and the session removed safely afterwards. Several sessions make a merge \
queue. Also: 'git agent conflicts' (predicted conflicts between sessions) and 'git agent sync' \
(bring the target's new commits into a session).",
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten)]
    pub merge: MergeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Predicted conflicts between sessions and with their targets, and a merge order
    #[command(override_usage = "git agent conflicts [--json] [--into BRANCH] [NAME…|--all]")]
    Conflicts(ConflictsArgs),
    /// Bring the target's new commits into a session's worktree
    #[command(
        override_usage = "git agent sync [--merge|--rebase] [--into BRANCH] [--ask-agent] NAME\n       git agent sync (--continue|--abort) NAME"
    )]
    Sync(SyncArgs),
}

#[derive(Debug, Args)]
#[group(id = "strategy", multiple = false)]
pub struct StrategyArgs {
    /// One new commit on the target with all of the work [default: agent.mergeStrategy, or this]
    #[arg(long, group = "strategy")]
    pub squash: bool,
    /// The agent's commits rebased onto the target (in its worktree), then a fast-forward
    #[arg(long, group = "strategy")]
    pub rebase: bool,
    /// A merge commit joining the agent's branch
    #[arg(long, group = "strategy")]
    pub merge: bool,
    /// Only a fast-forward of the target to the agent's branch
    #[arg(long, group = "strategy")]
    pub ff_only: bool,
}

impl StrategyArgs {
    fn chosen(&self) -> Option<Strategy> {
        [
            (self.squash, Strategy::Squash),
            (self.rebase, Strategy::Rebase),
            (self.merge, Strategy::Merge),
            (self.ff_only, Strategy::FfOnly),
        ]
        .into_iter()
        .find_map(|(on, s)| on.then_some(s))
    }
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The session to merge; several make a merge queue
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// With --all: every variant of this group, as a merge queue
    #[arg(long, value_name = "GROUP", requires = "all")]
    pub group: Option<String>,
    /// With --group: all of its variants
    #[arg(long, requires = "group")]
    pub all: bool,
    #[command(flatten)]
    pub strategy: StrategyArgs,
    /// The branch to merge into [default: the session's base branch]
    #[arg(long, value_name = "BRANCH")]
    pub into: Option<String>,
    /// The commit message (squash and merge) [default: the task and the agent's summary]
    #[arg(short, long, value_name = "MSG")]
    pub message: Option<String>,
    /// Show what would land and whether it conflicts; change nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Keep the session and its worktree after merging
    #[arg(long)]
    pub keep: bool,
    /// Run the verify command on the merged result before the target moves
    #[arg(long)]
    pub verify: bool,
    /// Approve the verify command of .git-agent.toml without asking
    #[arg(long)]
    pub trust: bool,
    /// Fetch the target's upstream first
    #[arg(long)]
    pub fetch: bool,
    /// Put the changes into this checkout, uncommitted, instead of merging
    #[arg(long, conflicts_with_all = ["pr", "dry_run", "keep", "discard_others", "message"])]
    pub apply: bool,
    /// Push the branch and open a pull request (with gh) instead of merging
    #[arg(long, conflicts_with_all = ["dry_run", "keep", "discard_others", "message"])]
    pub pr: bool,
    /// After merging, remove the other variants of its group (their branches are kept)
    #[arg(long)]
    pub discard_others: bool,
    /// With --discard-others: remove variants even with uncommitted work
    #[arg(long, requires = "discard_others")]
    pub force: bool,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConflictsArgs {
    /// Sessions to check [default: every session that is not merged]
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Every session (the default without names)
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// Check against this branch instead of each session's base branch
    #[arg(long, value_name = "BRANCH")]
    pub into: Option<String>,
    /// Print the prediction as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The session to bring up to date
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Merge the target into the branch [default: agent.syncStrategy, or this]
    #[arg(long, conflicts_with = "rebase")]
    pub merge: bool,
    /// Rebase the branch onto the target
    #[arg(long)]
    pub rebase: bool,
    /// The branch to bring in [default: the session's base branch]
    #[arg(long, value_name = "BRANCH")]
    pub into: Option<String>,
    /// On a conflict, ask the agent to resolve it (it is told what each side was doing)
    #[arg(long)]
    pub ask_agent: bool,
    /// Finish a sync that stopped at conflicts, once they are resolved
    #[arg(long = "continue", conflicts_with_all = ["abort", "ask_agent"])]
    pub continue_: bool,
    /// Take back a sync that stopped at conflicts
    #[arg(long, conflicts_with = "ask_agent")]
    pub abort: bool,
}

pub fn run(ctx: &mut Ctx<'_>, cli: Cli) -> Result<u8> {
    let repo = Repo::discover(&ctx.cwd)?;
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
        strategy: args.strategy.chosen(),
        into: args.into.clone(),
        message: args.message.clone(),
        dry_run: args.dry_run,
        keep: args.keep,
        verify: args.verify,
        trust: args.trust,
        fetch: args.fetch,
        rebase_first: false,
        json: args.json,
    }
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
        let sessions: Vec<Session> = names.iter().map(|n| state.load(n)).collect::<Result<_>>()?;
        let outcome = queue::run(ctx, repo, &sessions, &opts)?;
        if args.json {
            let doc = json!({
                "version": JSON_VERSION,
                "order": outcome.order,
                "steps": outcome.steps,
                "stopped_at": outcome.stopped_at,
                "not_attempted": outcome.not_attempted,
            });
            writeln!(ctx.out, "{}", serde_json::to_string_pretty(&doc)?)?;
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
    if args.json {
        let doc = json!({
            "version": JSON_VERSION,
            "steps": [step],
            "discarded": discarded,
        });
        writeln!(ctx.out, "{}", serde_json::to_string_pretty(&doc)?)?;
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
            strategy: match m.strategy.as_str() {
                "rebase" => Strategy::Rebase,
                "merge" => Strategy::Merge,
                "ff-only" => Strategy::FfOnly,
                _ => Strategy::Squash,
            },
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
) -> Result<(Vec<git_agent::remove::Outcome>, bool)> {
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
        let opts = git_agent::remove::Options {
            force,
            allow_unmerged: true,
            reason: format!("discarded: {winner} won"),
            ..Default::default()
        };
        let force_flag = format!("git agent merge {winner} --discard-others --force");
        match git_agent::remove::remove(repo, &s, &opts, &force_flag) {
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
        args.names
            .iter()
            .map(|n| state.load(n))
            .collect::<Result<_>>()?
    };
    if sessions.is_empty() {
        writeln!(ctx.err, "No sessions to check.")?;
        return Ok(code::SUCCESS);
    }
    let targets = target::resolve_all(repo, &sessions, args.into.as_deref())?;
    let mem = Memory::new(repo);
    let prediction = conflicts::predict(repo, &mem, &sessions, &targets)?;
    if args.json {
        let doc = json!({
            "version": JSON_VERSION,
            "sessions": prediction.sessions,
            "pairs": prediction.pairs,
            "order": prediction.order,
            "waiting": prediction.waiting,
        });
        writeln!(ctx.out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        write!(ctx.out, "{}", conflicts::render(&prediction))?;
    }
    Ok(if prediction.any_conflict() {
        code::NEGATIVE
    } else {
        code::SUCCESS
    })
}
