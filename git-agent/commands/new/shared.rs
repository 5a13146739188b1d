//! `git agent new --in NAME`: another session in NAME's worktree and on NAME's branch. The
//! flags that would make or move a worktree or a branch are refused with it, before anything
//! is created (usage errors, exit 2; a runner, which configuration may choose, is fatal); the
//! user hears once that two sessions that may both edit share a checkout.

use anyhow::Result;

use super::Args;
use crate::commands::Ctx;
use crate::error::Failure;
use crate::git::repo::Repo;
use crate::ops::create::plan;
use crate::session::{RunnerRecord, Session};

/// NAME's record, once the flags that cannot go with `--in` are refused.
pub(super) fn owner(repo: &Repo, args: &Args, name: &str) -> Result<Session> {
    let refuse = |flag: &str, why: &str| -> anyhow::Error {
        Failure::usage(format!("--in and {flag} cannot be used together"))
            .hint(why.to_owned())
            .into()
    };
    if args.take_changes {
        return Err(refuse(
            "--take-changes",
            "the session works in NAME's checkout; move changes into it yourself, or drop --in",
        ));
    }
    if args.branch.is_some() {
        return Err(refuse(
            "--branch",
            "the session works on NAME's branch; drop --branch",
        ));
    }
    if args.base.is_some() {
        return Err(refuse(
            "--base",
            "the session starts from NAME's branch as it is; drop --base",
        ));
    }
    plan::shared_with(&repo.state(), name)
}

/// One session, run locally: one checkout holds one more agent, here.
pub(super) fn check(total: u32, runner: Option<&RunnerRecord>) -> Result<()> {
    if total > 1 {
        return Err(Failure::usage(
            "--in starts one session; it cannot hold several agents or variants",
        )
        .hint("start them one at a time, each with --in NAME")
        .into());
    }
    if let Some(r) = runner {
        return Err(Failure::fatal(format!(
            "--in runs beside NAME's agent on this machine, not with runner '{}'",
            r.label()
        ))
        .hint("drop --runner (or set agent.runner=local for this command)")
        .into());
    }
    Ok(())
}

/// Said once: both sessions may edit the same files.
pub(super) fn tell(ctx: &mut Ctx<'_>, owner: &Session, started: &[Session]) -> Result<()> {
    for s in started {
        writeln!(
            ctx.err,
            "note: {} and {} share the checkout at {}: both may edit it; neither sees the other's \
             edits coming",
            s.name,
            owner.name,
            owner.worktree.display()
        )?;
    }
    Ok(())
}
