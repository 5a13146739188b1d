//! Steps 1–2 of a merge, and the shared checks of the commands that take a session's work
//! (`sync`, `--apply`, `pr`): the session is held against `send`, its agent is idle, its
//! worktree is not mid-operation, the target is resolved (fetched first with `--fetch`), and
//! what is uncommitted is committed on its branch.
//!
//! Refuses before anything moves. Commits only on the session's own branch (with git, hooks
//! run); never touches the target.

use anyhow::Result;
use git_agent::commands::Ctx;
use git_agent::error::Failure;
use git_agent::git::repo::Repo;
use git_agent::session::{CommitOutcome, Session, State, short_id};
use git_agent::state::LockGuard;

use super::{Options, Strategy};
use crate::target::{self, Target};

/// Holds the session from the first check to the end of the merge (removal included), so no
/// `send` starts a run that the cleanup would then stop: a send meanwhile is refused, naming
/// this merge. A dry run holds nothing.
pub(super) fn hold(repo: &Repo, name: &str, opts: &Options) -> Result<Option<LockGuard>> {
    if opts.dry_run {
        return Ok(None);
    }
    Ok(Some(
        repo.state()
            .hold(name, "git agent merge", true)?
            .map_err(|h| anyhow::anyhow!(h))?,
    ))
}

/// Refuses a session whose agent is still at it, or while another session's agent works (or
/// waits its turn to work) in the same worktree (`new --in`): its files may be half-written,
/// and the branch they share is not done.
pub fn ensure_idle(repo: &Repo, s: &Session, verb: &str) -> Result<()> {
    idle(s, verb)?;
    match repo.state().running_alongside(s) {
        Some(other) => Err(Failure::fatal(format!(
            "the agent of '{}' is still running ({}) in the worktree of '{}'",
            other.name,
            other.live_state(),
            s.name
        ))
        .hint(format!(
            "wait for it (git agent wait {0}) or stop it (git agent stop {0}), then {verb} again",
            other.name
        ))
        .into()),
        None => Ok(()),
    }
}

fn idle(s: &Session, verb: &str) -> Result<()> {
    match s.live_state() {
        State::Lost => Err(Failure::fatal(format!(
            "the supervisor of '{}' is gone (the session is lost)",
            s.name
        ))
        .hint(format!(
            "record its end with 'git agent stop {0}', then {verb} again",
            s.name
        ))
        .into()),
        live if live.is_active() => Err(Failure::fatal(format!(
            "the agent of '{}' is still running ({live})",
            s.name
        ))
        .hint(format!(
            "wait for it (git agent wait {0}) or stop it (git agent stop {0}), then {verb} again",
            s.name
        ))
        .into()),
        _ => Ok(()),
    }
}

/// Step 1: the agent is idle and no git operation is in progress in its worktree (a dry run
/// only needs the former).
pub(super) fn ensure_ready(repo: &Repo, s: &Session, opts: &Options) -> Result<()> {
    ensure_idle(repo, s, "merge")?;
    if !opts.dry_run
        && let Some(op) = git_agent::git::WorktreeDir::new(&s.worktree).operation()
    {
        return Err(Failure::fatal(format!(
            "{op} is in progress in the worktree of '{}'",
            s.name
        ))
        .hint(format!(
            "finish or abort it there first: cd {}",
            s.worktree.display()
        ))
        .into());
    }
    Ok(())
}

/// The strategy asked for, else the configured one.
pub(super) fn strategy(repo: &Repo, opts: &Options) -> Result<Strategy> {
    match opts.strategy {
        Some(st) => Ok(st),
        None => Strategy::configured(repo),
    }
}

/// The target branch, resolved again after `--fetch` updated its upstream.
pub(super) fn target(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    s: &Session,
    opts: &Options,
) -> Result<Target> {
    let target = target::resolve(repo, s, opts.into.as_deref())?;
    if !opts.fetch {
        return Ok(target);
    }
    fetch_upstream(ctx, repo, &target.branch)?;
    target::resolve(repo, s, opts.into.as_deref())
}

/// Commits what is uncommitted in the session's worktree; refuses if that is impossible
/// (a hook refused, an operation is in progress, HEAD left the branch).
pub fn commit_leftovers(ctx: &mut Ctx<'_>, s: &Session, before: &str) -> Result<()> {
    // Nothing of ours runs in a worktree whose git link its agent rewrote.
    git_agent::git::link::guard(s)?;
    match git_agent::commit::commit_leftovers(s, &format!("left changes uncommitted {before}")) {
        CommitOutcome::Committed { sha } => {
            writeln!(
                ctx.err,
                "Committed what was uncommitted in the worktree of {}: {}",
                s.name,
                short_id(&sha)
            )?;
            Ok(())
        }
        CommitOutcome::Clean | CommitOutcome::Disabled => Ok(()),
        CommitOutcome::Skipped { reason } if reason == "the worktree is gone" => Ok(()),
        CommitOutcome::Skipped { reason } => Err(Failure::fatal(format!(
            "cannot take the work of '{}' as it is: {reason}",
            s.name
        ))
        .hint(format!(
            "finish that in its worktree first: cd {}",
            s.worktree.display()
        ))
        .into()),
        CommitOutcome::Failed { error } => Err(Failure::fatal(format!(
            "could not commit what is uncommitted in the worktree of '{}': {}",
            s.name,
            error.trim()
        ))
        .hint(format!(
            "commit it yourself: git -C {} commit -a",
            s.worktree.display()
        ))
        .into()),
    }
}

/// `--fetch`: updates the target's upstream from its remote.
fn fetch_upstream(ctx: &mut Ctx<'_>, repo: &Repo, branch: &str) -> Result<()> {
    let config = repo.config();
    let (Some(remote), Some(merge)) = (
        config.string(&format!("branch.{branch}.remote")),
        config.string(&format!("branch.{branch}.merge")),
    ) else {
        return Err(
            Failure::fatal(format!("--fetch: {branch} has no upstream to fetch"))
                .hint(format!(
                    "set one with: git branch --set-upstream-to=<remote>/<branch> {branch}"
                ))
                .into(),
        );
    };
    writeln!(ctx.err, "Fetching {merge} from {remote}…")?;
    repo.git()
        .args([
            "fetch",
            "--quiet",
            "--no-recurse-submodules",
            &remote,
            &merge,
        ])
        .env("GIT_TERMINAL_PROMPT", "0")
        .run()
        .map_err(|e| Failure::fatal(format!("could not fetch from '{remote}': {e:#}")))?;
    Ok(())
}
