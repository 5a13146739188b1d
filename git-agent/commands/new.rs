//! `git agent new`: create a branch and a linked worktree from a base, start the agent in it
//! under a detached supervisor, and return as soon as it runs.
//!
//! Order matters for invariant 4 (a failed creation leaves nothing behind): everything that
//! can be checked is checked before anything is created (profile, program, base, names,
//! paths); names are reserved under the state lock; a worktree that cannot be created takes
//! its reserved record (and the branch git may have created) with it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde_json::json;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use super::{Ctx, Format, JSON_VERSION};
use crate::agents::{self, Profile};
use crate::error::{Failure, Report};
use crate::events::Outcome;
use crate::procs::ProcessRef;
use crate::repo::{Config, Repo};
use crate::session::{self, Group, Processes, Run, RunKind, SCHEMA_VERSION, Session, State};
use crate::state::{Event, StateDir};
use crate::{names, supervisor, ui, worktree};

/// Most sessions one `new` may create.
const MAX_VARIANTS: u32 = 32;
/// Default time between SIGTERM and SIGKILL when stopping an agent.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  git agent new \"fix the flaky login test\"
  git agent new -n 3 --agent claude,codex -m \"speed up the parser\"
  git agent new --name bump --base origin/main \"bump dependencies\"
  git agent new \"lint everything\" -- ./scripts/my-agent.sh --fast")]
pub struct Args {
    /// Session name [default: a short slug of the task]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Agent profile(s): NAME, NAME:COUNT, or a list such as claude:2,codex
    #[arg(short, long, value_name = "PROFILE")]
    pub agent: Vec<String>,
    /// Number of variants of the task (per profile without a count)
    #[arg(short = 'n', long = "count", value_name = "COUNT")]
    pub count: Option<u32>,
    /// Branch from this ref or commit [default: HEAD of this worktree]
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Name of the new branch [default: <agent.branchPrefix><name>, i.e. agent/<name>]
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
    /// Run the agent in this permission mode (see 'git agent profiles') [config: agent.profile.<name>.permissionMode]
    #[arg(long, value_name = "MODE")]
    pub permission_mode: Option<String>,
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

    let profiles = choose_profiles(ctx, &config, &args)?;
    let total: u32 = profiles.iter().map(|(_, _, n)| *n).sum();
    if total > MAX_VARIANTS {
        return Err(Failure::usage(format!(
            "{total} sessions requested; at most {MAX_VARIANTS} at once"
        ))
        .into());
    }
    if args.branch.is_some() && total > 1 {
        return Err(
            Failure::usage("--branch names one branch; it cannot hold several variants")
                .hint("drop --branch; variants get agent/<name>-1, agent/<name>-2, …")
                .into(),
        );
    }

    let base = repo.resolve_base(args.base.as_deref())?;
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
    let prefix = config
        .string("agent.branchPrefix")
        .unwrap_or_else(|| "agent/".into());
    let root = repo.worktrees_root(&config)?;
    exclude_if_inside(ctx, &repo, &root)?;
    exclude_leaves(ctx, &repo, &profiles)?;

    let explicit = args.name.is_some();
    let base_name = match &args.name {
        Some(n) => n.clone(),
        None if !prompt.trim().is_empty() => names::slugify(&prompt),
        None => names::slugify(profiles[0].0.program.rsplit('/').next().unwrap_or("task")),
    };
    names::validate(&base_name)?;
    if let Some(b) = &args.branch {
        names::validate_branch(b)?;
    }

    let state = repo.state();
    state.ensure()?;
    warn_bypass(ctx, &state, &profiles)?;
    let me = ProcessRef::current();
    let repo_path = repo.main_workdir().unwrap_or(repo.common_dir()).to_owned();

    // Reserve names and write `starting` records, all under the lock.
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
            &profiles,
        )?;
        for plan in &plans {
            let spec = plan.profile.spec(plan.program.clone());
            let bindings = agents::Bindings {
                prompt: &prompt,
                prompt_file: &state.prompt_path(&plan.name),
                session_id: None,
            };
            let run = Run {
                n: 1,
                kind: RunKind::New,
                prompt: prompt.clone(),
                args: agents::bind(&spec, &spec.args, &bindings),
                resumed: false,
                log_offset: 0,
                started_at: None,
                ended_at: None,
                state: None,
                reason: None,
                exit: None,
                outcome: Outcome::default(),
                commit: None,
            };
            let record = Session {
                version: SCHEMA_VERSION,
                name: plan.name.clone(),
                group: plan.group.clone(),
                prompt: prompt.clone(),
                agent: spec,
                base: base.clone(),
                branch: plan.branch.clone(),
                branch_created: true,
                worktree: plan.worktree.clone(),
                repo: repo_path.clone(),
                state: State::Starting,
                reason: None,
                created_at: crate::time::now(),
                started_at: None,
                ended_at: None,
                timeout_secs: timeout.map(|t| t.as_secs().max(1)),
                stop_grace_secs: grace.as_secs(),
                processes: Processes {
                    creator: Some(me.clone()),
                    ..Processes::default()
                },
                exit: None,
                stop_requested: None,
                auto_commit,
                commit: None,
                runs: vec![run],
                agent_session_id: None,
                status: None,
                setup: None,
                ports: Vec::new(),
                included: Vec::new(),
                took_changes: None,
                worktree_locked: true,
            };
            state.write(&lock, &record)?;
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
    let mut started: Vec<Session> = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let result = if interrupted.load(Ordering::SeqCst) {
            let lock = state.lock()?;
            state.discard(&lock, &plan.name)?;
            Err(Failure::fatal("interrupted")
                .code(crate::error::code::INTERRUPTED)
                .into())
        } else {
            start_one(&repo, &state, plan, &prompt, &interrupted)
        };
        match result {
            Ok(session) => started.push(session),
            Err(err) => {
                // Not-yet-created reservations go too; started sessions keep running.
                let lock = state.lock()?;
                for later in &plans[i + 1..] {
                    state.discard(&lock, &later.name)?;
                }
                drop(lock);
                if !started.is_empty() {
                    print(ctx, format, &started)?;
                    let names: Vec<&str> = started.iter().map(|s| s.name.as_str()).collect();
                    ctx.warn(&format!(
                        "started {} before the failure; they keep running",
                        names.join(", ")
                    ))?;
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

fn read_prompt(args: &Args) -> Result<String> {
    if !args.message.is_empty() && !args.prompt.is_empty() {
        return Err(Failure::usage("give the task either with -m or as words, not both").into());
    }
    if let Some(file) = &args.file {
        if !args.prompt.is_empty() {
            return Err(
                Failure::usage("give the task either with -F or as words, not both").into(),
            );
        }
        let text = if file == Path::new("-") {
            std::io::read_to_string(std::io::stdin())
                .context("could not read the task from standard input")?
        } else {
            std::fs::read_to_string(file)
                .with_context(|| format!("could not read {}", file.display()))?
        };
        return Ok(text.trim_end().to_owned());
    }
    if !args.message.is_empty() {
        return Ok(args.message.join("\n\n"));
    }
    Ok(args.prompt.join(" "))
}

/// The profiles to run, each with its program resolved and a count.
fn choose_profiles(
    ctx: &Ctx<'_>,
    config: &Config,
    args: &Args,
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
        let profiles = agents::Profiles::load(config)?;
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
            .map(|p| conflict(repo, state, p))
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
    let conflict = last_conflict.unwrap_or_default();
    let mut failure = Failure::fatal(conflict);
    failure = if explicit {
        failure.hint("choose another --name")
    } else {
        failure.hint("choose a name with --name")
    };
    Err(failure.into())
}

/// Why a planned session cannot be created, if it cannot.
fn conflict(repo: &Repo, state: &StateDir, plan: &Plan) -> Result<Option<String>> {
    if state.exists(&plan.name) {
        return Ok(Some(format!(
            "a session named '{}' already exists",
            plan.name
        )));
    }
    if repo.branch_exists(&plan.branch)? {
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

/// Creates the worktree, writes the prompt, starts the supervisor and waits until the agent
/// runs (or could not start).
fn start_one(
    repo: &Repo,
    state: &StateDir,
    plan: &Plan,
    prompt: &str,
    interrupted: &AtomicBool,
) -> Result<Session> {
    let base = state.load(&plan.name)?.base.commit;
    let created = worktree::create(repo, &plan.name, &plan.branch, &plan.worktree, &base);
    let created = match created {
        Ok(()) if interrupted.load(Ordering::SeqCst) => {
            // Nothing has run in it yet: take the fresh checkout back out.
            worktree::discard_fresh(repo, &plan.name, &plan.branch, &plan.worktree, &base).and_then(
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
        let lock = state.lock()?;
        state.discard(&lock, &plan.name)?;
        return Err(err);
    }
    let session_dir = state.session_dir(&plan.name);
    std::fs::create_dir_all(&session_dir)?;
    std::fs::write(state.prompt_path(&plan.name), format!("{prompt}\n"))?;
    state.append_event(&Event {
        detail: Some(plan.worktree.to_string_lossy().into_owned()),
        ..Event::new(&plan.name, "created")
    })?;

    let child = match supervisor::spawn(repo.common_dir(), &plan.name, &plan.worktree) {
        Ok(child) => child,
        Err(err) => {
            // The worktree stays (it is registered and locked); the record says what happened.
            let reason = format!("could not start the supervisor: {err:#}");
            state.update(&plan.name, |s| {
                s.state = State::Failed;
                s.reason = Some(reason.clone());
                s.ended_at = Some(crate::time::now());
                Ok(())
            })?;
            let _ = worktree::unlock(repo.common_dir(), &plan.name, &plan.worktree);
            return Err(err);
        }
    };
    supervisor::wait_started(state, &plan.name, child)
}

fn print(ctx: &mut Ctx<'_>, format: Format, sessions: &[Session]) -> Result<()> {
    match format {
        Format::Json => {
            let doc = json!({ "version": JSON_VERSION, "sessions": sessions });
            writeln!(ctx.out, "{}", serde_json::to_string_pretty(&doc)?)?;
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
                let note = if state == State::Running {
                    String::new()
                } else {
                    format!(" — already {}", ui::state(state))
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
                writeln!(
                    ctx.out,
                    "  branch    {} (from {} @ {})",
                    s.branch,
                    s.base.short_name(),
                    session::short_id(&s.base.commit)
                )?;
            }
        }
    }
    Ok(())
}
