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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use super::{Ctx, Format, JSON_VERSION};
use crate::agents::{self, Profile};
use crate::error::{Failure, Report};
use crate::procs::ProcessRef;
use crate::project::{ProjectCommand, ProjectFile};
use crate::repo::{Config, Repo};
use crate::session::{
    self, Base, Group, Processes, Run, RunKind, SCHEMA_VERSION, Session, Setup, State, TookChanges,
};
use crate::state::{Event, StateDir};
use crate::take::Snapshot;
use crate::{include, names, ports, supervisor, ui, worktree};

/// Most sessions one `new` may create.
const MAX_VARIANTS: u32 = 32;
/// Default time between SIGTERM and SIGKILL when stopping an agent.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  git agent new \"fix the flaky login test\"
  git agent new -n 3 --agent claude,codex -m \"speed up the parser\"
  git agent new --base @fresh \"bump dependencies\"          (from the remote's default branch)
  git agent new --take-changes \"finish what I started\"     (moves your uncommitted work)
  git agent new --branch feature/x \"fix the review comments\" (an existing branch)
  git agent new \"lint everything\" -- ./scripts/my-agent.sh --fast")]
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
    /// The task (repeat for more paragraphs)
    #[arg(short = 'm', long = "message", value_name = "PROMPT")]
    pub message: Vec<String>,
    /// Read the task from a file ('-' for standard input)
    #[arg(
        short = 'F',
        long = "file",
        value_name = "FILE",
        conflicts_with = "message"
    )]
    pub file: Option<PathBuf>,
    /// Run the agent in this permission mode (see 'git agent profiles')
    #[arg(long, value_name = "MODE")]
    pub permission_mode: Option<String>,
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
    /// Print the created sessions as JSON
    #[arg(long, conflicts_with = "porcelain")]
    pub json: bool,
    /// Print only the worktree path of each created session
    #[arg(long)]
    pub porcelain: bool,
    /// The task, as words
    #[arg(value_name = "PROMPT")]
    pub prompt: Vec<String>,
    /// Run this command as the agent (an argv, never through a shell)
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// One session to create.
struct Plan {
    name: String,
    branch: String,
    worktree: PathBuf,
    profile: Profile,
    program: PathBuf,
    group: Option<Group>,
}

/// How new worktrees are prepared, from git config (the user's) or the project file (the
/// repository's, approved by the user).
struct Settings {
    /// The setup command and where it comes from (`config` or `project`).
    setup: Option<(String, &'static str)>,
    ports: u16,
    submodules: bool,
    skip_lfs: bool,
}

impl Settings {
    fn resolve(
        config: &Config,
        project: Option<&ProjectFile>,
        base_has_submodules: bool,
        no_setup: bool,
    ) -> Result<Self> {
        let setup = if no_setup {
            None
        } else if let Some(cmd) = config
            .string("agent.setup")
            .filter(|c| !c.trim().is_empty())
        {
            Some((cmd, "config"))
        } else {
            project
                .and_then(|p| p.setup.clone())
                .filter(|c| !c.trim().is_empty())
                .map(|c| (c, "project"))
        };
        let ports = match config.integer("agent.ports")? {
            Some(n) => u16::try_from(n)
                .map_err(|_| Failure::fatal(format!("agent.ports = {n} is too many")))?,
            None => project.and_then(|p| p.ports).unwrap_or(0),
        };
        let submodules = match config.boolean("agent.submodules")? {
            Some(b) => b,
            None => project
                .and_then(|p| p.submodules)
                .unwrap_or(base_has_submodules),
        } && base_has_submodules;
        let lfs = config
            .string("agent.lfs")
            .or_else(|| project.and_then(|p| p.lfs.clone()));
        let skip_lfs = match lfs.as_deref() {
            None | Some("smudge") => false,
            Some("skip") => true,
            Some(other) => {
                return Err(Failure::fatal(format!("bad value '{other}' for agent.lfs"))
                    .hint("use skip or smudge")
                    .into());
            }
        };
        Ok(Self {
            setup,
            ports,
            submodules,
            skip_lfs,
        })
    }
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let format = if args.json {
        Format::Json
    } else if args.porcelain {
        Format::Porcelain
    } else {
        Format::Human
    };
    let repo = Repo::discover(&ctx.cwd)?;
    let config = repo.config();
    let prompt = read_prompt(&args)?;
    if prompt.trim().is_empty() && args.command.is_empty() {
        return Err(Failure::usage("no task given")
            .hint("git agent new \"describe the task\"  (or -m PROMPT, or -F FILE)")
            .into());
    }

    let base = resolve_base(ctx, &repo, &config, &args)?;
    let project = ProjectFile::at_commit(repo.gix(), &base.commit)?;
    if let Some(p) = &project {
        for key in p.unknown.keys() {
            ctx.warn(&format!(
                "{}: unknown setting '{key}' (from a newer git-agent?); ignored",
                crate::project::FILE
            ))?;
        }
    }
    let profiles = choose_profiles(ctx, &config, &args, project.as_ref())?;
    let total: u32 = profiles.iter().map(|(_, _, n)| *n).sum();
    if total > MAX_VARIANTS {
        return Err(Failure::usage(format!(
            "{total} sessions requested; at most {MAX_VARIANTS} at once"
        ))
        .into());
    }
    if let Some(b) = &args.branch {
        names::validate_branch(b)?;
    }
    let attach = match &args.branch {
        Some(b) => check_branch(&repo, b, total, args.take_changes)?,
        None => false,
    };
    let has_submodules =
        crate::project::file_at_commit(repo.gix(), &base.commit, ".gitmodules")?.is_some();
    let settings = Settings::resolve(&config, project.as_ref(), has_submodules, args.no_setup)?;

    // Commands the repository defines run only once the user approved their exact text.
    let mut to_trust: Vec<ProjectCommand> = Vec::new();
    if let Some((cmd, "project")) = &settings.setup {
        to_trust.push(ProjectCommand::new("setup", cmd.clone()));
    }
    for (profile, _, _) in &profiles {
        if let Some(text) = &profile.project_text {
            to_trust.push(ProjectCommand::new(
                format!("profile {}", profile.name),
                text.clone(),
            ));
        }
    }
    ctx.ensure_trusted(
        &repo,
        &to_trust,
        args.trust,
        Some("or skip the setup hook with --no-setup"),
    )?;

    let timeout = match &args.timeout {
        Some(t) => Some(crate::time::parse_duration(t)?),
        None => config.duration("agent.timeout")?,
    };
    if timeout.is_some_and(|t| t.is_zero()) {
        return Err(Failure::usage("--timeout must be longer than zero").into());
    }
    let grace = config
        .duration("agent.stopGrace")?
        .unwrap_or(DEFAULT_STOP_GRACE);
    let auto_commit = !args.no_auto_commit && config.boolean("agent.autoCommit")?.unwrap_or(true);
    let sandbox = crate::sandbox::Request {
        setting: crate::sandbox::Setting::from_config(&config)?,
        allow_write: crate::sandbox::allow_write_from_config(&config)?,
        in_force: None,
    };
    // A required sandbox that cannot be had is refused before anything is created.
    if sandbox.setting == crate::sandbox::Setting::On
        && let crate::sandbox::Support::Unavailable { reason } = crate::sandbox::support()
        && let Some((profile, _, _)) = profiles.iter().find(|(profile, program, _)| {
            crate::agents::own_sandbox(&profile.spec(program.clone())).is_none()
        })
    {
        return Err(Failure::fatal(format!(
            "agent.sandbox is 'on' but '{}' cannot be sandboxed here: {reason}",
            profile.name
        ))
        .hint("set agent.sandbox=auto to run agents unsandboxed where the kernel cannot sandbox")
        .into());
    }
    let prefix = config
        .string("agent.branchPrefix")
        .unwrap_or_else(|| "agent/".into());
    let root = repo.worktrees_root(&config)?;
    refuse_temp(
        &repo,
        &root,
        args.allow_temp || config.boolean("agent.allowTemp")?.unwrap_or(false),
    )?;

    let explicit = args.name.is_some();
    let base_name = match &args.name {
        Some(n) => n.clone(),
        None if !prompt.trim().is_empty() => names::slugify(&prompt),
        None => names::slugify(profiles[0].0.program.rsplit('/').next().unwrap_or("task")),
    };
    names::validate(&base_name)?;

    // The changes to move are taken before anything is created; nothing touches the
    // source until every new worktree holds them.
    let snapshot = if args.take_changes {
        Some(take_snapshot(ctx, &repo, &base)?)
    } else {
        None
    };

    exclude_if_inside(ctx, &repo, &root)?;
    exclude_leaves(ctx, &repo, &profiles)?;
    let state = repo.state();
    state.ensure()?;
    warn_bypass(ctx, &state, &profiles)?;
    let me = ProcessRef::current();
    let repo_path = repo.main_workdir().unwrap_or(repo.common_dir()).to_owned();

    // Reserve names and ports, and write `starting` records, all under the lock.
    let plans = {
        let lock = state.lock()?;
        let plans = plan_sessions(
            &repo,
            &state,
            &prefix,
            &root,
            &base_name,
            explicit,
            args.branch.as_deref(),
            attach,
            &profiles,
        )?;
        for plan in &plans {
            let spec = plan.profile.spec(plan.program.clone());
            let bindings = agents::Bindings {
                prompt: &prompt,
                prompt_file: &state.prompt_path(&plan.name),
                session_id: None,
            };
            let run = Run::new(
                1,
                RunKind::New,
                prompt.clone(),
                agents::bind(&spec, &spec.args, &bindings),
                false,
            );
            let setup = (settings.setup.is_some() || settings.submodules).then(|| Setup {
                command: settings.setup.as_ref().map(|(c, _)| c.clone()),
                source: settings.setup.as_ref().map(|(_, s)| (*s).to_owned()),
                submodules: settings.submodules,
                started_at: None,
                ended_at: None,
                exit: None,
                log_offset: 0,
            });
            // The record must exist before ports are reserved for it (reservations of
            // sessions without a record are released).
            let mut record = Session {
                version: SCHEMA_VERSION,
                name: plan.name.clone(),
                group: plan.group.clone(),
                prompt: prompt.clone(),
                agent: spec,
                base: base.clone(),
                branch: plan.branch.clone(),
                branch_created: !attach,
                worktree: plan.worktree.clone(),
                repo: repo_path.clone(),
                state: State::Starting,
                reason: None,
                created_at: crate::time::now(),
                started_at: None,
                ended_at: None,
                timeout_secs: timeout.map(|t| t.as_secs().max(1)),
                stop_grace_secs: grace.as_secs(),
                sandbox: sandbox.clone(),
                processes: Processes {
                    creator: Some(me.clone()),
                    ..Processes::default()
                },
                exit: None,
                stop_requested: None,
                auto_commit,
                commit: None,
                worktree_id: None,
                worktree_locked: true,
                runs: vec![run],
                agent_session_id: None,
                status: None,
                setup,
                ports: Vec::new(),
                included: Vec::new(),
                linked: Vec::new(),
                took_changes: None,
                verify: None,
                synced: None,
                sync_pending: None,
                merged: None,
                pull_request: None,
                removed: None,
                changes: None,
                run_token: Some(Session::new_run_token(&plan.name)),
            };
            state.write(&lock, &record)?;
            if settings.ports > 0 {
                record.ports = ports::reserve(
                    &state,
                    &lock,
                    &plan.name,
                    settings.ports,
                    &plan.worktree.to_string_lossy(),
                )?;
                state.write(&lock, &record)?;
            }
        }
        plans
    };

    // From here on an interrupt must not leave a half-made session behind: we notice it
    // between steps and roll back what is not started yet (git, in our process group, gets
    // the same signal and cleans up its own half of `worktree add`).
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register(sig, Arc::clone(&interrupted))?;
    }
    let how = worktree::Checkout {
        attach,
        skip_lfs: settings.skip_lfs,
    };
    let mut started: Vec<Session> = Vec::new();
    let progress = crate::ui::progress(plans.len(), "starting");
    for (i, plan) in plans.iter().enumerate() {
        if let Some(bar) = &progress {
            bar.set_message(plan.name.clone());
            bar.set_position(i as u64);
        }
        let result = if interrupted.load(Ordering::SeqCst) {
            discard(&state, &plan.name)?;
            Err(Failure::fatal("interrupted")
                .code(crate::error::code::INTERRUPTED)
                .into())
        } else {
            start_one(
                ctx,
                &repo,
                &state,
                plan,
                &prompt,
                &how,
                snapshot.as_ref(),
                &interrupted,
            )
        };
        match result {
            Ok(session) => started.push(session),
            Err(err) => {
                // Not-yet-created reservations go too; started sessions keep running.
                for later in &plans[i + 1..] {
                    discard(&state, &later.name)?;
                }
                if !started.is_empty() {
                    refresh(&state, &mut started);
                    print(ctx, format, &started)?;
                    let names: Vec<&str> = started.iter().map(|s| s.name.as_str()).collect();
                    ctx.warn(&format!(
                        "started {} before the failure; they keep running",
                        names.join(", ")
                    ))?;
                }
                if let Some(snap) = &snapshot {
                    writeln!(
                        ctx.err,
                        "Your uncommitted changes are still in {}, untouched.",
                        snap.source.display()
                    )?;
                }
                if interrupted.load(Ordering::SeqCst) {
                    let mut message = Report::from_error(&err).message;
                    if !message.starts_with("interrupted") {
                        message = format!("interrupted: {message}");
                    }
                    return Err(Failure::fatal(message)
                        .code(crate::error::code::INTERRUPTED)
                        .hint("nothing was left half-made; the current checkout is untouched")
                        .into());
                }
                return Err(err);
            }
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    if let Some(snap) = &snapshot {
        clean_source(ctx, &state, snap, &mut started)?;
    }
    refresh(&state, &mut started);
    print(ctx, format, &started)?;
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

/// Re-reads the records of started sessions before they are shown: one started first may
/// have ended (and its supervisor exited) while later ones were being created, and judging
/// its liveness from the record read when it started would call it lost. A record that
/// looks lost is read once more: its supervisor may have recorded the end just after the
/// first read.
fn refresh(state: &StateDir, started: &mut [Session]) {
    for s in started.iter_mut() {
        for _ in 0..2 {
            if let Ok(fresh) = state.load(&s.name) {
                *s = fresh;
            }
            if s.live_state() != State::Lost {
                break;
            }
        }
    }
}

/// The record of a session that was reserved but not created: it and its ports go.
fn discard(state: &StateDir, name: &str) -> Result<()> {
    let lock = state.lock()?;
    ports::release(state, &lock, name)?;
    state.discard(&lock, name)
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

/// Worktrees in the OS temporary folder get purged (tmpfs at reboot, macOS after 3 idle
/// days), taking their `.git` files and any uncommitted work with them: refused when a
/// temporary folder (`$TMPDIR`, `/tmp`) holds the worktrees but not the repository itself (a
/// repository there is a throw-away), unless the user allows it.
fn refuse_temp(repo: &Repo, root: &Path, allowed: bool) -> Result<()> {
    if allowed {
        return Ok(());
    }
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let temps = [
        canonical(&std::env::temp_dir()),
        canonical(Path::new("/tmp")),
    ];
    let repo_dir = canonical(repo.main_workdir().unwrap_or(repo.common_dir()));
    let existing = canonical(root.ancestors().find(|a| a.exists()).unwrap_or(root));
    if temps
        .iter()
        .any(|t| existing.starts_with(t) && !repo_dir.starts_with(t))
    {
        return Err(Failure::fatal(format!(
            "agent worktrees would go to '{}', in the temporary folder, which the system purges",
            root.display()
        ))
        .hint("choose another place with 'git config agent.worktreeDir DIR', or pass --allow-temp")
        .into());
    }
    Ok(())
}

/// `--branch BR`: a new branch, or an existing one to attach to (true). An existing branch
/// checked out anywhere is refused with that worktree's path: one branch is never checked
/// out twice.
fn check_branch(repo: &Repo, branch: &str, total: u32, take_changes: bool) -> Result<bool> {
    if total > 1 {
        return Err(
            Failure::usage("--branch names one branch; it cannot hold several variants")
                .hint("drop --branch; variants get agent/<name>-1, agent/<name>-2, …")
                .into(),
        );
    }
    if !repo.branch_exists(branch)? {
        return Ok(false);
    }
    if let Some(path) = repo.worktrees_on_branch(branch)?.first() {
        return Err(Failure::fatal(format!(
            "branch '{branch}' is checked out at '{}'",
            path.display()
        ))
        .hint("a branch is never checked out twice: work there, or choose another --branch")
        .into());
    }
    if take_changes {
        return Err(Failure::usage(
            "--take-changes moves changes onto this checkout's HEAD, not onto an existing branch",
        )
        .hint("drop --branch, or commit the changes first")
        .into());
    }
    Ok(true)
}

/// Snapshot of this checkout's uncommitted changes for `--take-changes`.
fn take_snapshot(ctx: &mut Ctx<'_>, repo: &Repo, base: &Base) -> Result<Snapshot> {
    let Some(source) = repo.workdir() else {
        return Err(Failure::fatal("--take-changes needs a worktree to take changes from").into());
    };
    let snapshot = crate::take::snapshot(source)?;
    if snapshot.head != base.commit {
        return Err(Failure::usage(
            "--take-changes starts from this checkout's HEAD; --base names another commit",
        )
        .hint("drop --base, or commit the changes and branch from there")
        .into());
    }
    if snapshot.is_empty() {
        ctx.warn("--take-changes: there are no uncommitted changes to take")?;
    }
    Ok(snapshot)
}

/// After every new worktree holds the changes: cleans the source, unless it changed meanwhile.
fn clean_source(
    ctx: &mut Ctx<'_>,
    state: &StateDir,
    snapshot: &Snapshot,
    started: &mut [Session],
) -> Result<()> {
    if snapshot.is_empty() {
        return Ok(());
    }
    let outcome = crate::take::clean_source(snapshot)?;
    let cleaned = outcome == crate::take::Cleaned::Yes;
    for s in started.iter_mut() {
        let took = TookChanges {
            from: snapshot.source.clone(),
            snapshot: snapshot.backup.clone(),
            paths: snapshot.paths(),
            cleaned,
        };
        state.update(&s.name, |r| {
            r.took_changes = Some(took.clone());
            Ok(())
        })?;
        s.took_changes = Some(took);
    }
    let targets = started
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    match outcome {
        crate::take::Cleaned::Yes => writeln!(
            ctx.err,
            "Moved {} changed path(s) into {targets}; this checkout is clean now.",
            snapshot.paths().len(),
        )?,
        crate::take::Cleaned::Changed => ctx.warn(&format!(
            "this checkout changed while the changes were being moved; it was left as it is \
             (the changes are also in {targets})"
        ))?,
        crate::take::Cleaned::HeadMoved { now, branch } => {
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

fn read_prompt(args: &Args) -> Result<String> {
    super::read_text(&args.message, args.file.as_deref(), &args.prompt, "task")
}

/// The profiles to run, each with its program resolved and a count.
fn choose_profiles(
    ctx: &Ctx<'_>,
    config: &Config,
    args: &Args,
    project: Option<&ProjectFile>,
) -> Result<Vec<(Profile, PathBuf, u32)>> {
    let count = args.count.unwrap_or(1);
    if count == 0 {
        return Err(Failure::usage("-n/--count must be at least 1").into());
    }
    let mode = args.permission_mode.as_deref();
    let chosen: Vec<(Profile, u32)> = if !args.command.is_empty() {
        if !args.agent.is_empty() {
            return Err(Failure::usage(
                "--agent and a command after '--' both choose the agent; use one",
            )
            .into());
        }
        if mode.is_some() {
            return Err(Failure::usage(
                "--permission-mode applies to agent profiles, not to a command after '--'",
            )
            .into());
        }
        vec![(agents::command_profile(&args.command, &ctx.cwd)?, count)]
    } else {
        let profiles = agents::Profiles::load(config)?.with_project(project);
        if args.agent.is_empty() {
            vec![(profiles.default_profile(mode)?, count)]
        } else {
            agents::parse_choices(&args.agent)?
                .into_iter()
                .map(|c| Ok((profiles.find(&c.profile, mode)?, c.count.unwrap_or(count))))
                .collect::<Result<_>>()?
        }
    };
    chosen
        .into_iter()
        .map(|(profile, n)| {
            let program = profile.resolve_program()?;
            Ok((profile, program, n))
        })
        .collect()
}

/// A bypass mode lets the agent do anything on this machine: say so, once per repository.
fn warn_bypass(
    ctx: &mut Ctx<'_>,
    state: &StateDir,
    profiles: &[(Profile, PathBuf, u32)],
) -> Result<()> {
    let Some((profile, _, _)) = profiles.iter().find(|(p, _, _)| p.bypass) else {
        return Ok(());
    };
    let marker = state.root().join("bypass-warned");
    if marker.exists() {
        return Ok(());
    }
    ctx.warn(&format!(
        "{} runs in permission mode '{}': it may run any command and write anywhere this user can, \
         without asking; a worktree is not a sandbox",
        profile.name,
        profile.permission_mode.as_deref().unwrap_or("bypass")
    ))?;
    std::fs::write(&marker, "")?;
    Ok(())
}

/// Names, branches and paths for every session, free of collisions. Requires the lock.
#[allow(clippy::too_many_arguments)]
fn plan_sessions(
    repo: &Repo,
    state: &StateDir,
    prefix: &str,
    root: &Path,
    base_name: &str,
    explicit: bool,
    branch: Option<&str>,
    attach: bool,
    profiles: &[(Profile, PathBuf, u32)],
) -> Result<Vec<Plan>> {
    let total: u32 = profiles.iter().map(|(_, _, n)| *n).sum();
    let attempts = if explicit { 1 } else { 100 };
    let mut last_conflict = None;
    for attempt in 1..=attempts {
        let group_id = if attempt == 1 {
            base_name.to_owned()
        } else {
            format!("{base_name}-{attempt}")
        };
        let mut plans = Vec::new();
        let mut index = 0;
        for (profile, program, n) in profiles {
            for _ in 0..*n {
                index += 1;
                let name = if total == 1 {
                    group_id.clone()
                } else {
                    format!("{group_id}-{index}")
                };
                names::validate(&name)?;
                plans.push(Plan {
                    branch: branch.map_or_else(|| format!("{prefix}{name}"), str::to_owned),
                    worktree: root.join(&name),
                    name,
                    profile: profile.clone(),
                    program: program.clone(),
                    group: (total > 1).then(|| Group {
                        id: group_id.clone(),
                        index,
                        count: total,
                    }),
                });
            }
        }
        match plans
            .iter()
            .map(|p| conflict(repo, state, p, attach))
            .find_map(Result::transpose)
        {
            None => {
                for p in &plans {
                    names::validate_branch(&p.branch)?;
                }
                return Ok(plans);
            }
            Some(Err(e)) => return Err(e),
            Some(Ok(c)) => last_conflict = Some(c),
        }
    }
    let failure = Failure::fatal(last_conflict.unwrap_or_default());
    let failure = if explicit {
        failure.hint("choose another --name")
    } else {
        failure.hint("choose a name with --name")
    };
    Err(failure.into())
}

/// Why a planned session cannot be created, if it cannot.
fn conflict(repo: &Repo, state: &StateDir, plan: &Plan, attach: bool) -> Result<Option<String>> {
    if state.exists(&plan.name) {
        return Ok(Some(format!(
            "a session named '{}' already exists",
            plan.name
        )));
    }
    if !attach && repo.branch_exists(&plan.branch)? {
        return Ok(Some(format!(
            "a branch named '{}' already exists",
            plan.branch
        )));
    }
    if plan.worktree.symlink_metadata().is_ok() {
        return Ok(Some(format!(
            "'{}' already exists",
            plan.worktree.display()
        )));
    }
    Ok(None)
}

/// If the worktrees live inside the main worktree, keep them out of `git status` there.
fn exclude_if_inside(ctx: &mut Ctx<'_>, repo: &Repo, root: &Path) -> Result<()> {
    let Some(main) = repo.main_workdir() else {
        return Ok(());
    };
    let Ok(rel) = root.strip_prefix(main) else {
        return Ok(());
    };
    if rel.as_os_str().is_empty() {
        return Err(
            Failure::fatal("agent.worktreeDir points at the main worktree itself")
                .hint("choose a directory of its own, e.g. ../<repo>.agents")
                .into(),
        );
    }
    let pattern = format!("/{}/", rel.to_string_lossy().trim_end_matches('/'));
    if repo.exclude(&pattern)? {
        ctx.warn(&format!(
            "agent worktrees are inside the repository; added '{pattern}' to .git/info/exclude \
             (test runners and linters may still look there)"
        ))?;
    }
    Ok(())
}

/// Files an agent leaves that are not work (aider's `.aider*`) are ignored repository-wide,
/// in `.git/info/exclude` (never a committed file), so `git status` in its worktree stays
/// about the work.
fn exclude_leaves(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    profiles: &[(Profile, PathBuf, u32)],
) -> Result<()> {
    for (profile, _, _) in profiles {
        for pattern in &profile.leaves {
            if repo.exclude(pattern)? {
                writeln!(
                    ctx.err,
                    "note: added '{pattern}' to .git/info/exclude: {} leaves these files, they are not work",
                    profile.name
                )?;
            }
        }
    }
    Ok(())
}

/// Creates the worktree, brings over ignored local files and taken changes, writes the
/// prompt, starts the supervisor and waits until it runs.
#[allow(clippy::too_many_arguments)]
fn start_one(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    state: &StateDir,
    plan: &Plan,
    prompt: &str,
    how: &worktree::Checkout,
    snapshot: Option<&Snapshot>,
    interrupted: &AtomicBool,
) -> Result<Session> {
    let base = state.load(&plan.name)?.base.commit;
    crate::faults::point("new:reserved");
    let created = worktree::create(repo, &plan.name, &plan.branch, &plan.worktree, &base, how);
    crate::faults::point("new:worktree");
    let created = match created {
        Ok(()) if interrupted.load(Ordering::SeqCst) => {
            // Nothing has run in it yet: take the fresh checkout back out.
            let branch = if how.attach {
                None
            } else {
                Some(plan.branch.as_str())
            };
            worktree::discard_fresh(repo, &plan.name, branch, &plan.worktree, &base).and_then(
                |()| {
                    Err(Failure::fatal("interrupted")
                        .code(crate::error::code::INTERRUPTED)
                        .into())
                },
            )
        }
        other => other,
    };
    if let Err(err) = created {
        discard(state, &plan.name)?;
        return Err(err);
    }
    // Which worktree entry is the session's (invariant 12): only that one is ever trusted.
    if let Some(id) = worktree::id_of(repo.common_dir(), &plan.worktree) {
        state.update(&plan.name, |s| {
            s.worktree_id = Some(id.clone());
            Ok(())
        })?;
    }

    // Ignored local files (`.worktreeinclude`), from the main worktree.
    if let Some(source) = repo.main_workdir() {
        let include_plan = include::plan(repo.gix(), &base, source, &plan.worktree)?;
        let brought = include::apply(&include_plan, source, &plan.worktree)?;
        if include_plan.no_manifest
            && let Some(env_file) = include::ignored_env_file(source)
        {
            let name = env_file.file_name().unwrap_or_default().to_string_lossy();
            ctx.hint(&format!("{name} is ignored and was not copied; list it in .worktreeinclude to copy it into agent worktrees"))?;
        }
        for (verb, paths) in [
            ("copied", &include_plan.not_copied),
            ("linked", &include_plan.not_linked),
        ] {
            if !paths.is_empty() {
                let is = if paths.len() == 1 { "is" } else { "are" };
                ctx.warn(&format!(
                    "not {verb}: {} {is} not ignored in the new worktree (by the rules at {}), where git could commit it",
                    paths.join(", "),
                    session::short_id(&base)
                ))?;
                ctx.hint(
                    "commit the .gitignore rule that ignores it, then start the session again",
                )?;
            }
        }
        if brought != include::Brought::default() {
            state.update(&plan.name, |s| {
                s.included.clone_from(&brought.copied);
                s.linked.clone_from(&brought.linked);
                Ok(())
            })?;
        }
    }

    // Taken-over changes: applied and verified before the agent can touch anything.
    if let Some(snap) = snapshot.filter(|s| !s.is_empty()) {
        let moved = crate::take::apply(snap, &plan.worktree)
            .and_then(|()| crate::take::verify(snap, &plan.worktree));
        if let Err(err) = moved {
            let reason = format!("could not take the changes: {err:#}");
            fail_before_start(repo, state, plan, &reason)?;
            return Err(Failure::fatal(reason)
                .hint(format!(
                    "the half-made worktree is kept at {}",
                    plan.worktree.display()
                ))
                .into());
        }
    }

    std::fs::create_dir_all(state.session_dir(&plan.name))?;
    std::fs::write(state.prompt_path(&plan.name), format!("{prompt}\n"))?;
    state.append_event(&Event {
        detail: Some(plan.worktree.to_string_lossy().into_owned()),
        ..Event::new(&plan.name, "created")
    })?;
    let child = match supervisor::spawn(repo.common_dir(), &plan.name, &plan.worktree) {
        Ok(child) => {
            crate::faults::point("new:spawned");
            child
        }
        Err(err) => {
            // The worktree stays (it is registered and locked); the record says what happened.
            fail_before_start(
                repo,
                state,
                plan,
                &format!("could not start the supervisor: {err:#}"),
            )?;
            return Err(err);
        }
    };
    supervisor::wait_started(state, &plan.name, child)
}

/// Records that a created session failed before its agent started; its worktree stays
/// (registered, with nothing lost) and our lock on it is released.
fn fail_before_start(repo: &Repo, state: &StateDir, plan: &Plan, reason: &str) -> Result<()> {
    state.update(&plan.name, |s| {
        s.state = State::Failed;
        s.reason = Some(reason.to_owned());
        s.ended_at = Some(crate::time::now());
        Ok(())
    })?;
    let _ = worktree::unlock(repo.common_dir(), &plan.name, &plan.worktree);
    Ok(())
}

fn print(ctx: &mut Ctx<'_>, format: Format, sessions: &[Session]) -> Result<()> {
    match format {
        Format::Json => {
            let doc = json!({ "version": JSON_VERSION, "sessions": sessions });
            ctx.write_json(&doc)?;
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
                writeln!(
                    ctx.out,
                    "Started {} ({}{pid}){note}",
                    ui::bold(&s.name),
                    s.short_agent()
                )?;
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
