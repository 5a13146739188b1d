//! `git agent merge NAME`: one session's work onto its target.
//!
//! The pipeline, in order; any step that refuses leaves everything as it was:
//! 1. The agent must not be running (`git agent stop` / `wait`).
//! 2. What is uncommitted in its worktree is committed on its branch (with git: hooks run).
//! 3. The merge is predicted in memory; conflicts refuse (exit 1) with the paths, and are
//!    resolved in the agent's worktree (`git agent sync`), never in yours.
//! 4. The new tip of the target is built where nobody works: for squash and merge, in the
//!    agent's worktree with its HEAD detached at the target (its branch is put back after), or
//!    a temporary worktree if the agent's is gone; for rebase, by rebasing the agent's branch
//!    in its worktree. Git makes every commit, so hooks run; no editor ever opens.
//! 5. `--verify` runs the verify command right there, on exactly what will land.
//! 6. The target moves by fast-forward only ([`crate::target::advance`]).
//! 7. The session is marked merged and removed (worktree gone, branch kept) unless `--keep`,
//!    through the same safe removal as `git agent rm`.
//!
//! One file per concern, in the order of the steps: [`model`] (options and results, the
//! `--json` documents), [`prepare`] (steps 1–2), [`predict`] (step 3, in memory),
//! [`workspace`] and [`build`] (step 4), [`verify`] (step 5), [`finish`] (steps 6–7), and
//! [`messages`] (the commit message and commit lists). [`merge_one`] only calls them in
//! order; each step's module doc says what it may touch.
//!
//! This module owns landing one session; it never resolves conflicts, fetches nothing but
//! the target's upstream (`--fetch`), and moves no branch but the target (by fast-forward)
//! and, for rebase, the session's own.

mod build;
mod finish;
mod messages;
mod model;
mod predict;
mod prepare;
mod verify;
mod workspace;

use anyhow::Result;
use git_agent::commands::Ctx;
use git_agent::git::merging::Memory;
use git_agent::git::repo::Repo;

pub use self::build::{rebase_branch, unmerged_paths};
pub use self::messages::subject;
pub use self::model::{Landed, Options, Plan, Refused, Step, Strategy};
use self::predict::Predicted;
pub use self::prepare::{commit_leftovers, ensure_idle};

/// Merges one session. `ctx.out` gets the result line; progress goes to `ctx.err`.
pub fn merge_one(ctx: &mut Ctx<'_>, repo: &Repo, name: &str, opts: &Options) -> Result<Step> {
    let _hold = prepare::hold(repo, name, opts)?;
    let s = repo.state().load(name)?;
    // 1. The agent is not running; nothing is half done in its worktree.
    prepare::ensure_ready(repo, &s, opts)?;
    let strategy = prepare::strategy(repo, opts)?;
    let target = prepare::target(ctx, repo, &s, opts)?;
    // 2. What is uncommitted is committed on its branch.
    if !opts.dry_run {
        commit_leftovers(ctx, &s, "before a merge")?;
    }
    // Landed already, with a session sharing its branch (a dry run predicts instead: it
    // commits nothing left in the worktree).
    if !opts.dry_run
        && let Some(landed) = finish::recorded(repo, &s, &target)?
    {
        return finish::already_merged(ctx, repo, &s, landed, opts);
    }
    // 3. The merge, predicted in memory.
    let mem = Memory::new(repo);
    let p = match predict::predict(repo, &mem, &s, &target, strategy, opts)? {
        Predicted::Clean(p) => p,
        Predicted::Refused(refused) => return Ok(Step::Refused(refused)),
        Predicted::AlreadyIn(landed) => {
            return finish::already_merged(ctx, repo, &s, landed, opts);
        }
    };
    if opts.dry_run {
        return predict::plan(&mem, &s, &target, strategy, p, opts).map(Step::Planned);
    }
    // 4–5. The new tip, built where nobody works, verified there.
    let new = match build::build(ctx, repo, &s, &target, strategy, &p, opts)? {
        Ok(new) => new,
        Err(refused) => return Ok(Step::Refused(refused)),
    };
    // 6. The target moves by fast-forward.
    let landed = finish::advance(ctx, repo, &s, &target, strategy, new, opts)?;
    // 7. Recorded, and removed unless --keep.
    finish::finish(ctx, repo, &s, landed, opts).map(Step::Merged)
}
