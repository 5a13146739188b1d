//! Step 4 of a merge: the new tip of the target is built where nobody works, by git (hooks
//! run, no editor opens). Squash and merge commits are made in a [`Workspace`] at the
//! target; rebase rebases the agent's branch in its own worktree (left mid-rebase on a
//! conflict, for `git agent sync` to finish). Step 5 (`--verify`) runs right there.
//!
//! Makes commits and, for rebase, moves only the session's own branch (put back if verify
//! fails). Never moves the target: that is step 6 ([`crate::target::advance`]).

use std::path::Path;

use anyhow::Result;
use git_agent::commands::Ctx;
use git_agent::error::Failure;
use git_agent::git::repo::Repo;
use git_agent::session::Session;
use gix::ObjectId;

use super::messages::message;
use super::predict::Prediction;
use super::verify::{self, verify_here};
use super::workspace::Workspace;
use super::{Options, Refused, Strategy};
use crate::target::{Target, git};

/// Says what is about to be merged.
fn announce(
    ctx: &mut Ctx<'_>,
    s: &Session,
    target: &Target,
    strategy: Strategy,
    p: &Prediction,
) -> Result<()> {
    let (commits, files) = (&p.commits, &p.files);
    writeln!(
        ctx.err,
        "Merging {} into {} ({}): {} commit{}, {} file{} changed",
        s.name,
        target.branch,
        strategy.as_str(),
        commits.len(),
        if commits.len() == 1 { "" } else { "s" },
        files.len(),
        if files.len() == 1 { "" } else { "s" },
    )?;
    Ok(())
}

/// Builds the new tip of the target with the strategy, and verifies it with `--verify`:
/// `Err(Refused)` on a conflict or a failed verify, with nothing moved.
pub(super) fn build(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    s: &Session,
    target: &Target,
    strategy: Strategy,
    p: &Prediction,
    opts: &Options,
) -> Result<Result<ObjectId, Refused>> {
    // Trusted (and asked) before anything is touched.
    let verify_cmd = verify::command(ctx, repo, s, opts)?;
    let verify_cmd = verify_cmd.as_ref();
    announce(ctx, s, target, strategy, p)?;
    // While the agent's worktree is used to build the result (its HEAD detached, or its
    // branch rebased), no `send` may start the agent there; released before the removal.
    let _busy = repo.state().removal_lock(&s.name)?;
    match strategy {
        Strategy::Squash | Strategy::Merge => {
            let build = Build {
                s,
                target,
                tip: p.tip,
                msg: message(s, opts, &p.commits, strategy == Strategy::Squash),
                strategy,
                verify_cmd,
            };
            build_commit(ctx, repo, &build)
        }
        Strategy::Rebase | Strategy::FfOnly => {
            rebase_and_verify(ctx, repo, s, target, p, verify_cmd)
        }
    }
}

/// Rebase and ff-only: the agent's branch, rebased onto the target unless it fast-forwards,
/// verified in its worktree; put back as it was if verify fails.
fn rebase_and_verify(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    s: &Session,
    target: &Target,
    p: &Prediction,
    verify_cmd: Option<&verify::Command>,
) -> Result<Result<ObjectId, Refused>> {
    let new = if p.fast_forward {
        Ok(p.tip)
    } else {
        rebase_branch(repo, s, target.tip, &target.branch)?
    };
    match (new, verify_cmd) {
        (Ok(new), Some(cmd)) if s.worktree.is_dir() => {
            match verify_here(ctx, repo, s, &s.worktree, cmd)? {
                None => Ok(Ok(new)),
                Some(refused) => {
                    if new != p.branch_tip {
                        // Put the branch back as it was before the rebase.
                        git(&s.worktree)
                            .args(["reset", "--quiet", "--keep", &p.branch_tip.to_string()])
                            .run()?;
                    }
                    Ok(Err(Refused {
                        into: target.branch.clone(),
                        ..refused
                    }))
                }
            }
        }
        (Ok(_), Some(_)) => Err(Failure::fatal(format!(
            "the worktree of '{}' is gone; there is nowhere to verify",
            s.name
        ))
        .into()),
        (new, _) => Ok(new),
    }
}

/// Conflicted paths in a worktree mid-merge or mid-rebase.
pub fn unmerged_paths(dir: &Path) -> Vec<String> {
    git(dir)
        .args(["diff", "--name-only", "--diff-filter=U", "-z"])
        .run()
        .map(|out| {
            out.split('\0')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A squash or merge commit to build.
struct Build<'a> {
    s: &'a Session,
    target: &'a Target,
    tip: ObjectId,
    msg: String,
    strategy: Strategy,
    verify_cmd: Option<&'a verify::Command>,
}

/// Builds the squash or merge commit in a workspace at the target; verifies it there.
fn build_commit(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    b: &Build<'_>,
) -> Result<Result<ObjectId, Refused>> {
    let Build {
        s,
        target,
        tip,
        ref msg,
        strategy,
        verify_cmd,
    } = *b;
    let mut ws = Workspace::open(repo, s, target.tip)?;
    let built = (|| -> Result<Result<ObjectId, Refused>> {
        let tip = tip.to_string();
        let merged = if strategy == Strategy::Squash {
            git(&ws.dir)
                .args(["merge", "--squash", "--no-autostash", "--quiet", &tip])
                .run()
                .and_then(|_| {
                    git(&ws.dir)
                        .args(["commit", "--quiet", "--cleanup=whitespace", "-F", "-"])
                        .run_with_input(msg.as_bytes())
                })
        } else {
            git(&ws.dir)
                .args([
                    "merge",
                    "--no-ff",
                    "--no-autostash",
                    "--quiet",
                    "--cleanup=whitespace",
                    "-m",
                    msg,
                    &tip,
                ])
                .run()
        };
        if let Err(e) = merged {
            let paths = unmerged_paths(&ws.dir);
            if !paths.is_empty() {
                return Ok(Err(Refused {
                    session: s.name.clone(),
                    into: target.branch.clone(),
                    why: "the merge conflicts".into(),
                    paths,
                    hints: vec![format!(
                        "resolve them in the agent's worktree: git agent sync {}",
                        s.name
                    )],
                }));
            }
            return Err(Failure::fatal(format!(
                "git could not make the {} commit: {e:#}",
                strategy.as_str()
            ))
            .hint("a hook may have refused it; nothing was merged")
            .into());
        }
        let head = git(&ws.dir).args(["rev-parse", "HEAD"]).run()?;
        let new = ObjectId::from_hex(head.trim().as_bytes())?;
        if let Some(cmd) = verify_cmd
            && let Some(refused) = verify_here(ctx, repo, s, &ws.dir, cmd)?
        {
            return Ok(Err(Refused {
                into: target.branch.clone(),
                ..refused
            }));
        }
        Ok(Ok(new))
    })();
    ws.restore()?;
    built
}

/// Rebases the agent's branch onto the target in its worktree. On conflict the worktree is
/// left mid-rebase for whoever resolves it.
pub fn rebase_branch(
    repo: &Repo,
    s: &Session,
    onto: ObjectId,
    onto_name: &str,
) -> Result<Result<ObjectId, Refused>> {
    if !s.worktree.is_dir() {
        return Err(Failure::fatal(format!(
            "the worktree of '{}' is gone; a rebase needs it",
            s.name
        ))
        .hint("use --squash or --merge, which do not")
        .into());
    }
    let orig_head = git(&s.worktree).args(["rev-parse", "HEAD"]).run()?;
    let rebased = git(&s.worktree)
        .args(["rebase", "--no-autostash", "--quiet", &onto.to_string()])
        .run();
    if let Err(e) = rebased {
        let paths = unmerged_paths(&s.worktree);
        if paths.is_empty() {
            // Not a conflict: take it back if git left a rebase behind.
            let _ = git(&s.worktree).args(["rebase", "--abort"]).run();
            return Err(Failure::fatal(format!("git rebase failed: {e:#}"))
                .hint("nothing was changed")
                .into());
        }
        // The rebase left in progress is ours: `sync --continue`/`--abort` may finish it.
        repo.state().update(&s.name, |r| {
            r.sync_pending = Some(git_agent::session::SyncPending {
                how: "rebase".into(),
                onto: onto.to_string(),
                orig_head: orig_head.trim().to_owned(),
            });
            Ok(())
        })?;
        let wt = s.worktree.display();
        return Ok(Err(Refused {
            session: s.name.clone(),
            into: onto_name.to_owned(),
            why: format!("rebasing onto {onto_name} stopped at a conflict"),
            paths,
            hints: vec![
                format!("the rebase is left in progress in {wt}:"),
                format!(
                    "resolve the files, 'git add' them and run 'git -C {wt} rebase --continue',"
                ),
                format!("or take it back with 'git -C {wt} rebase --abort',"),
                format!(
                    "or let the agent do it: git agent sync {} --rebase --ask-agent",
                    s.name
                ),
            ],
        }));
    }
    let head = git(&s.worktree).args(["rev-parse", "HEAD"]).run()?;
    Ok(Ok(ObjectId::from_hex(head.trim().as_bytes())?))
}
