//! `git agent new`: create a branch and a linked worktree from a base, prepare the worktree
//! (ignored local files, ports, taken-over changes), and start the agent in it under a
//! detached supervisor (which runs submodules and the setup hook first). Returns as soon as
//! the supervisor runs.
//!
//! Order matters for invariant 4 (a failed creation leaves nothing behind): everything that
//! can be checked or asked is checked or asked before anything is created (profile, program,
//! base, project commands and their approval, names, paths); names and ports are reserved
//! under the state lock; a worktree that cannot be created takes its reserved record (and the
//! branch git may have created) with it. `--take-changes` cleans the source checkout only
//! after every new worktree verifiably holds the same changes.
//!
//! The steps are library operations ([`crate::ops::create`]): **plan** (checked and asked
//! here, then names reserved), **create** and **start** for each session. This file parses
//! the arguments, asks, calls them and renders.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use super::{Ctx, Format, MessageArgs, PorcelainOutputArgs};
use crate::agents::Profile;
use crate::error::{Failure, Report};
use crate::git::repo::{Config, Repo};
pub use crate::ops::create::DEFAULT_STOP_GRACE;
use crate::ops::create::{self, Naming, Notice, Plan, Request, Running, Settings, plan, start};
use crate::ops::take::Snapshot;
use crate::procs::ProcessRef;
use crate::project::ProjectFile;
use crate::runner::container::config as container;
use crate::session::{self, Base, Session};
use crate::state::StateDir;
use crate::{git::worktree, names};

mod print;
mod shared;
pub(super) mod take_up;
use print::print;

/// Most sessions one `new` may create.
const MAX_VARIANTS: u32 = 32;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  git agent new \"fix the flaky login test\"
  git agent new -n 3 --agent claude,codex -m \"speed up the parser\"
  git agent new --base @fresh \"bump dependencies\"          (from the remote's default branch)
  git agent new --take-changes \"finish what I started\"     (moves your uncommitted work)
  git agent new --branch feature/x \"fix the review comments\" (an existing branch)
  git agent new \"lint everything\" -- ./scripts/my-agent.sh --fast")]
#[command(
    mut_args(super::reword("message", |a| a
        .value_name("PROMPT")
        .help("The task (repeat for more paragraphs)"))),
    mut_args(super::reword("file", |a| a.help("Read the task from a file ('-' for standard input)"))),
    mut_args(super::reword("json", |a| a.help("Print the created sessions as JSON"))),
    mut_args(super::reword("porcelain", |a| a.help("Print only the worktree path of each created session"))),
)]
pub struct Args {
    /// Session name [default: a short slug of the task]
    #[arg(long, value_name = "NAME", value_parser = crate::cli::session_name)]
    pub name: Option<String>,
    /// Agent profile(s): NAME, NAME:COUNT, or a list such as claude:2,codex
    #[arg(short, long, value_name = "PROFILE")]
    pub agent: Vec<String>,
    /// Number of variants of the task (per profile without a count)
    #[arg(short = 'n', long = "count", value_name = "COUNT")]
    pub count: Option<u32>,
    /// Branch from this ref or commit; @fresh fetches the remote's default branch first
    /// [default: HEAD of this worktree]
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// The branch: a new one [default: <agent.branchPrefix><name>], or an existing one to
    /// attach to (never reset, never deleted by git-agent)
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// Stop the agent after this long (90s, 30m, 2h) [config: agent.timeout]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Run at most N agents at once, counting every session of the repository; the others
    /// are created and wait, queued [config: agent.maxParallel]
    #[arg(long, value_name = "N", value_parser = crate::session::parse_cap)]
    pub max_parallel: Option<u32>,
    /// Stop the agent once the session has spent this much, in US dollars (2, 0.50), and
    /// end it over-budget [config: agent.budget]
    #[arg(long, value_name = "USD", value_parser = crate::session::parse_budget)]
    pub budget: Option<f64>,
    /// Where the agents run: local (the default), docker, podman, ssh://[user@]host[:port]/path,
    /// or NAME (git-agent-runner-NAME on PATH) [config: agent.runner]
    #[arg(long, value_name = "RUNNER")]
    pub runner: Option<String>,
    #[command(flatten)]
    pub task: MessageArgs,
    /// Run the agent in this permission mode (see 'git agent profiles')
    #[arg(long, value_name = "MODE")]
    pub permission_mode: Option<String>,
    /// Run each agent in its profile's mode that cannot edit files (claude plan, codex
    /// read-only, gemini plan, opencode read-only, aider ask): an investigation
    #[arg(long, conflicts_with = "permission_mode")]
    pub read_only: bool,
    /// Run in the worktree and on the branch of session NAME, alongside it (a planner and an
    /// implementer; with --read-only, an investigation); creates no worktree and no branch
    #[arg(long = "in", value_name = "NAME")]
    pub in_session: Option<String>,
    /// Take up CLI's most recent conversation in this checkout (or conversation ID) in the
    /// new worktree, the task as its next message; the original stays resumable here
    #[arg(long = "continue", value_name = "CLI[:ID]")]
    pub continue_from: Option<String>,
    /// With --continue: start afresh instead, the task followed by the last turns of that
    /// conversation (for another CLI, or where it cannot be taken up)
    #[arg(long, requires = "continue_from")]
    pub fresh: bool,
    /// Move this checkout's uncommitted changes (staged, unstaged, untracked) into the new
    /// worktree; this checkout is cleaned only once they are verifiably there
    #[arg(long)]
    pub take_changes: bool,
    /// Approve the commands .git-agent.toml defines (setup, profiles) without asking
    #[arg(long)]
    pub trust: bool,
    /// Do not run the setup hook (agent.setup or .git-agent.toml)
    #[arg(long)]
    pub no_setup: bool,
    /// Allow agent worktrees in the system's temporary folder [config: agent.allowTemp]
    #[arg(long)]
    pub allow_temp: bool,
    /// Leave what the agent did not commit uncommitted [config: agent.autoCommit]
    #[arg(long)]
    pub no_auto_commit: bool,
    #[command(flatten)]
    pub output: PorcelainOutputArgs,
    /// The task, as words
    #[arg(value_name = "PROMPT")]
    pub prompt: Vec<String>,
    /// Run this command as the agent (an argv, never through a shell)
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// `git agent fork`: the session forked, set by that command.
    #[arg(skip)]
    pub fork: Option<Box<crate::ops::fork::Fork>>,
}

/// Everything checked and asked before anything is created.
struct Prepared {
    request: Request,
    profiles: Vec<(Profile, PathBuf, u32)>,
    prefix: String,
    root: PathBuf,
    base_name: String,
    explicit: bool,
    snapshot: Option<Snapshot>,
    /// `--in NAME`: NAME's record (the owner of the worktree shared).
    shares: Option<Session>,
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let format = args.output.format();
    let repo = ctx.repo()?;
    let prepared = prepare(ctx, &repo, &args)?;
    let state = repo.state();
    let naming = Naming {
        prefix: &prepared.prefix,
        root: &prepared.root,
        base_name: &prepared.base_name,
        explicit: prepared.explicit,
        branch: prepared
            .shares
            .as_ref()
            .map_or(args.branch.as_deref(), |o| Some(o.branch.as_str())),
        worktree: prepared.shares.as_ref().map(|o| o.worktree.as_path()),
    };
    // Names and ports reserved, and `starting` records written, all under the lock.
    let plans = create::reserve(
        &repo,
        &state,
        &naming,
        &prepared.profiles,
        &prepared.request,
    )?;
    let mut started = start_all(ctx, &repo, &state, &prepared, &plans, format)?;
    match (&prepared.snapshot, &args.fork) {
        // A fork copies NAME's changes: NAME's worktree is never touched.
        (Some(snap), Some(_)) => start::copied(&state, snap, &mut started)?,
        (Some(snap), None) => print::clean_source(ctx, &state, snap, &mut started)?,
        (None, _) => {}
    }
    create::refresh(&state, &mut started);
    print(ctx, format, &started)?;
    take_up::tell(ctx, format, &prepared.request, &started)?;
    if let Some(owner) = &prepared.shares
        && !args.read_only
    {
        shared::tell(ctx, owner, &started)?;
    }
    if format == Format::Human {
        let hint = match started.as_slice() {
            [one] => format!(
                "follow it with 'git agent logs {} -f'; see all with 'git agent list'",
                one.name
            ),
            _ => "see them with 'git agent list'; wait for them with 'git agent wait'".to_owned(),
        };
        ctx.hint(&hint)?;
    }
    Ok(0)
}

/// The plan step, up to the reservation: every check and every question (profiles, program,
/// base, project commands and their approval, names, paths) comes before anything is
/// created (invariant 4).
fn prepare(ctx: &mut Ctx<'_>, repo: &Repo, args: &Args) -> Result<Prepared> {
    let config = repo.config();
    let prompt = read_prompt(args)?;
    if prompt.trim().is_empty() && args.command.is_empty() {
        return Err(Failure::usage("no task given")
            .hint("git agent new \"describe the task\"  (or -m PROMPT, or -F FILE)")
            .into());
    }

    let shares = match &args.in_session {
        Some(name) => Some(shared::owner(repo, args, name)?),
        None => None,
    };
    let base = match (&shares, &args.fork) {
        (Some(owner), _) => owner.base.clone(),
        // A fork is a variant of the same task: the same base, its branch at NAME's tip.
        (None, Some(fork)) => fork.owner.base.clone(),
        (None, None) => resolve_base(ctx, repo, &config, args)?,
    };
    let project = ProjectFile::at_commit(repo.gix(), &base.commit)?;
    if let Some(p) = &project {
        for warning in p.ignored_keys() {
            ctx.warn(&warning)?;
        }
    }
    let runner = crate::runner::choose(&config, args.runner.as_deref())?;
    let profiles = choose_profiles(ctx, &config, args, project.as_ref(), runner.as_ref())?;
    let continuing = take_up::cli_to_continue(args)?;
    let (take_up, prompt) = take_up::prepare(
        ctx,
        repo,
        args,
        continuing,
        &profiles,
        runner.as_ref(),
        prompt,
    )?;
    let total: u32 = profiles.iter().map(|(_, _, n)| *n).sum();
    if shares.is_some() {
        shared::check(total, runner.as_ref())?;
    }
    if total > MAX_VARIANTS {
        return Err(Failure::usage(format!(
            "{total} sessions requested; at most {MAX_VARIANTS} at once"
        ))
        .into());
    }
    if let Some(b) = &args.branch {
        crate::git::repo::validate_branch(b)?;
    }
    let attach = match &args.branch {
        Some(b) => plan::check_branch(repo, b, total, args.take_changes)?,
        // The shared branch exists, and stays NAME's.
        None => shares.is_some(),
    };
    let has_submodules = shares.is_none()
        && crate::project::file_at_commit(repo.gix(), &base.commit, ".gitmodules")?.is_some();
    // A shared worktree was set up when NAME's was made: no setup hook runs again.
    let no_setup = args.no_setup || shares.is_some();
    let settings = Settings::resolve(&config, project.as_ref(), has_submodules, no_setup)?;
    let (runner, image) = container::complete(runner, repo.gix(), &base.commit, &profiles)?;
    let mut to_trust = settings.to_trust(&profiles);
    to_trust.extend(image);
    // Commands the repository defines run only once the user approved their exact text.
    ctx.ensure_trusted(
        repo,
        &to_trust,
        args.trust,
        Some("or skip the setup hook with --no-setup"),
    )?;
    let running = Running::resolve(
        &config,
        args.timeout.as_deref(),
        args.no_auto_commit,
        &profiles,
    )?
    .limited(args.max_parallel, args.budget, &profiles)?
    .run_by(runner);

    let (prefix, root, base_name, explicit) = naming(repo, &config, args, &prompt, &profiles)?;

    // Files agents leave (aider's conversation is one) are excluded before changes are
    // taken: they stay in the checkout, where they belong.
    exclude_and_warn(ctx, repo, &root, &profiles)?;
    let snapshot = changes_to_take(ctx, repo, args, &base)?;

    let request = Request {
        prompt,
        base,
        attach,
        settings,
        running,
        creator: ProcessRef::current(),
        repo_path: repo.main_workdir().unwrap_or(repo.common_dir()).to_owned(),
        // The worktree's maker, even when NAME shares it and its maker's record is gone.
        shares: shares
            .as_ref()
            .map(|o| (o.shares.clone().unwrap_or(o.name.clone()), o.branch_ours())),
        take_up,
        group: args.fork.as_ref().map(|f| f.group.clone()),
        start_commit: args.fork.as_ref().map(|f| f.snapshot.head.clone()),
    };
    Ok(Prepared {
        request,
        profiles,
        prefix,
        root,
        base_name,
        explicit,
        snapshot,
        shares,
    })
}

/// The changes to move (`--take-changes`) or to copy (a fork's), taken before anything is
/// created; nothing touches the source until every new worktree holds them.
fn changes_to_take(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    args: &Args,
    base: &Base,
) -> Result<Option<Snapshot>> {
    let snapshot = if let Some(fork) = &args.fork {
        Some(fork.snapshot.clone())
    } else if args.take_changes {
        Some(plan::snapshot_changes(repo, base)?)
    } else {
        None
    };
    if args.fork.is_none() && snapshot.as_ref().is_some_and(Snapshot::is_empty) {
        ctx.warn("--take-changes: there are no uncommitted changes to take")?;
    }
    Ok(snapshot)
}

/// The profiles to run, each with its program and count. `--continue CLI` runs that CLI's
/// profile unless `--agent` names one.
fn choose_profiles(
    ctx: &Ctx<'_>,
    config: &Config,
    args: &Args,
    project: Option<&ProjectFile>,
    runner: Option<&session::RunnerRecord>,
) -> Result<Vec<(Profile, PathBuf, u32)>> {
    let agents = take_up::agents(args, take_up::cli_to_continue(args)?);
    let choice = plan::Choice {
        agents: &agents,
        count: args.count,
        permission_mode: args.permission_mode.as_deref(),
        read_only: args.read_only,
        command: &args.command,
        cwd: &ctx.cwd,
        in_image: matches!(runner, Some(session::RunnerRecord::Container(_))),
    };
    plan::choose_profiles(config, &choice, project)
}

/// Where the sessions go and what they are called: the branch prefix, the worktrees' folder
/// (never the temporary one unless allowed), the base name and whether the user chose it.
fn naming(
    repo: &Repo,
    config: &Config,
    args: &Args,
    prompt: &str,
    profiles: &[(Profile, PathBuf, u32)],
) -> Result<(String, PathBuf, String, bool)> {
    let prefix = config
        .string("agent.branchPrefix")
        .unwrap_or_else(|| "agent/".into());
    let root = repo.worktrees_root(config)?;
    plan::refuse_temp(
        repo,
        &root,
        args.allow_temp || config.boolean("agent.allowTemp")?.unwrap_or(false),
    )?;

    let explicit = args.name.is_some();
    let base_name = match &args.name {
        Some(n) => n.clone(),
        None if let Some(fork) = &args.fork => format!("{}-fork", fork.owner.name),
        None if !prompt.trim().is_empty() => names::slugify(prompt),
        None => names::slugify(profiles[0].0.program.rsplit('/').next().unwrap_or("task")),
    };
    names::validate(&base_name)?;
    Ok((prefix, root, base_name, explicit))
}

/// The create and start steps, session by session. An interrupt from here on must not leave
/// a half-made session behind: it is noticed between steps and what is not started yet is
/// rolled back (git, in our process group, gets the same signal and cleans up its own half of
/// `worktree add`). On a failure, sessions already started keep running.
fn start_all(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    state: &StateDir,
    prepared: &Prepared,
    plans: &[Plan],
    format: Format,
) -> Result<Vec<Session>> {
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register(sig, Arc::clone(&interrupted))?;
    }
    let how = worktree::Checkout {
        attach: prepared.request.attach,
        skip_lfs: prepared.request.settings.skip_lfs,
    };
    let snapshot = prepared.snapshot.as_ref();
    let mut started: Vec<Session> = Vec::new();
    let progress = ctx.progress(plans.len(), "starting");
    for (i, plan) in plans.iter().enumerate() {
        progress.at(i, &plan.name);
        let result = if interrupted.load(Ordering::SeqCst) {
            create::discard(state, &plan.name)?;
            Err(Failure::fatal("interrupted")
                .code(crate::error::code::INTERRUPTED)
                .into())
        } else {
            let mut notify = |notice: Notice| match notice {
                Notice::Warning(text) => ctx.warn(&text),
                Notice::Hint(text) => ctx.hint(&text),
            };
            if prepared.shares.is_some() {
                start::adopt(repo, state, plan)
            } else {
                start::create(repo, state, plan, &how, snapshot, &interrupted, &mut notify)
            }
            .and_then(|()| match &prepared.request.take_up {
                Some(t) => start::take_up(repo, state, plan, t),
                None => Ok(()),
            })
            .and_then(|()| start::start(repo, state, plan, &prepared.request.prompt))
        };
        match result {
            Ok(session) => started.push(session),
            Err(err) => {
                // Not-yet-created reservations go too; started sessions keep running.
                for later in &plans[i + 1..] {
                    create::discard(state, &later.name)?;
                }
                return Err(failed(
                    ctx,
                    state,
                    format,
                    started,
                    snapshot,
                    &interrupted,
                    err,
                ));
            }
        }
    }
    progress.finish();
    Ok(started)
}

/// What the user hears when a session could not be created or started: the sessions that
/// did start, that the changes to take are untouched, and the error (an interrupt says
/// nothing was left half-made).
fn failed(
    ctx: &mut Ctx<'_>,
    state: &StateDir,
    format: Format,
    mut started: Vec<Session>,
    snapshot: Option<&Snapshot>,
    interrupted: &AtomicBool,
    err: anyhow::Error,
) -> anyhow::Error {
    let said = (|| -> Result<()> {
        if !started.is_empty() {
            create::refresh(state, &mut started);
            print(ctx, format, &started)?;
            let names: Vec<&str> = started.iter().map(|s| s.name.as_str()).collect();
            ctx.warn(&format!(
                "started {} before the failure; they keep running",
                names.join(", ")
            ))?;
        }
        if let Some(snap) = snapshot {
            writeln!(
                ctx.err,
                "Your uncommitted changes are still in {}, untouched.",
                snap.source.display()
            )?;
        }
        Ok(())
    })();
    if let Err(e) = said {
        return e;
    }
    if interrupted.load(Ordering::SeqCst) {
        let mut message = Report::from_error(&err).message;
        if !message.starts_with("interrupted") {
            message = format!("interrupted: {message}");
        }
        return Failure::fatal(message)
            .code(crate::error::code::INTERRUPTED)
            .hint("nothing was left half-made; the current checkout is untouched")
            .into();
    }
    err
}

/// `--base`: a ref or commit, `@fresh` (fetch the remote's default branch), or the HEAD of
/// this worktree.
fn resolve_base(ctx: &mut Ctx<'_>, repo: &Repo, config: &Config, args: &Args) -> Result<Base> {
    if args.base.as_deref() == Some("@fresh") {
        let (base, shown) = repo.fresh_base(config)?;
        writeln!(
            ctx.err,
            "Fetched {shown} ({})",
            session::short_id(&base.commit)
        )?;
        return Ok(base);
    }
    repo.resolve_base(args.base.as_deref())
}

/// Keeps what is not work out of `git status` (the worktrees folder inside the main worktree,
/// files agents leave), creates the state directory, and warns once of a bypass mode.
fn exclude_and_warn(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    root: &std::path::Path,
    profiles: &[(Profile, PathBuf, u32)],
) -> Result<()> {
    // If the worktrees live inside the main worktree, they are kept out of `git status` there.
    if let Some(pattern) = plan::exclude_worktrees_folder(repo, root)? {
        ctx.warn(&format!(
            "agent worktrees are inside the repository; added '{pattern}' to .git/info/exclude \
             (test runners and linters may still look there)"
        ))?;
    }
    plan::exclude_leaves(repo, profiles, |pattern, profile| {
        writeln!(
            ctx.err,
            "note: added '{pattern}' to .git/info/exclude: {} leaves these files, they are not work",
            profile.name
        )?;
        Ok(())
    })?;
    let state = repo.state();
    state.ensure()?;
    plan::warn_bypass_once(&state, profiles, |profile| {
        ctx.warn(&format!(
            "{} runs in permission mode '{}': it may run any command and write anywhere this user can, \
             without asking; a worktree is not a sandbox",
            profile.name,
            profile.permission_mode.as_deref().unwrap_or("bypass")
        ))
    })?;
    Ok(())
}

fn read_prompt(args: &Args) -> Result<String> {
    args.task.read(&args.prompt, "task")
}
