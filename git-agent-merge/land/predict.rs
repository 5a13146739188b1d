//! Step 3 of a merge: the merge is predicted in memory, without touching any worktree or
//! ref. It decides whether there is anything to do (already merged), whether it may be done
//! (conflicts, a fast-forward that is not one, upstream commits the target lacks, a checkout
//! of the target in the way) and, for `--dry-run`, what it would do ([`Plan`]).
//!
//! Reads only: nothing here writes a file, a ref or a session record.

use anyhow::Result;
use git_agent::error::Failure;
use git_agent::git::merging::Memory;
use git_agent::git::repo::Repo;
use git_agent::session::Session;
use gix::ObjectId;

use super::messages::commits_between;
use super::{Landed, Options, Plan, Refused, Strategy};
use crate::target::{self, Target};

/// What the prediction found.
pub(super) enum Predicted {
    /// The work is in the target already: nothing to merge.
    AlreadyIn(Landed),
    /// Conflicts, or not a fast-forward with `--ff-only`.
    Refused(Refused),
    /// It merges cleanly.
    Clean(Prediction),
}

/// A clean merge to make.
pub(super) struct Prediction {
    /// The commit holding the session's work (its uncommitted changes included).
    pub tip: ObjectId,
    /// The session's branch as it is.
    pub branch_tip: ObjectId,
    pub uncommitted: bool,
    /// The target's tree, and the merged tree predicted.
    pub target_tree: ObjectId,
    pub tree: ObjectId,
    /// The target can fast-forward to `tip`.
    pub fast_forward: bool,
    /// The session's commits the target lacks, oldest first.
    pub commits: Vec<String>,
    pub files: Vec<String>,
}

/// Predicts the merge of the session into the target.
pub(super) fn predict(
    repo: &Repo,
    mem: &Memory,
    s: &Session,
    target: &Target,
    strategy: Strategy,
    opts: &Options,
) -> Result<Predicted> {
    let result = mem.session_result(s)?;
    let tip = result.commit;
    guard_upstream(repo, mem, target, tip, strategy)?;

    let target_tree = mem.tree_of(target.tip)?;
    let prediction = mem.merge(target.tip, tip)?;
    if mem.is_ancestor(tip, target.tip)?
        || (prediction.is_clean() && prediction.tree == target_tree)
    {
        return Ok(Predicted::AlreadyIn(Landed {
            session: s.name.clone(),
            into: target.branch.clone(),
            strategy,
            commit: target.tip.to_string(),
            previous: target.tip.to_string(),
            commits: Vec::new(),
            removed: None,
            kept: None,
        }));
    }
    if !prediction.is_clean() {
        return Ok(Predicted::Refused(Refused {
            session: s.name.clone(),
            into: target.branch.clone(),
            why: format!("merging it into {} would conflict", target.branch),
            paths: prediction.conflicts,
            hints: vec![
                format!(
                    "resolve them in the agent's worktree: git agent sync {} (then merge again)",
                    s.name
                ),
                format!(
                    "or have the agent do it: git agent sync {} --ask-agent",
                    s.name
                ),
            ],
        }));
    }
    let fast_forward = mem.is_ancestor(target.tip, tip)?;
    if strategy == Strategy::FfOnly && !fast_forward && !opts.rebase_first {
        return Ok(Predicted::Refused(Refused {
            session: s.name.clone(),
            into: target.branch.clone(),
            why: format!(
                "not a fast-forward: {} has commits the agent's branch lacks",
                target.branch
            ),
            paths: Vec::new(),
            hints: vec![format!(
                "use --rebase, or bring {0} in first: git agent sync {1} --rebase",
                target.branch, s.name
            )],
        }));
    }
    let commits = commits_between(repo, target.tip, result.tip)?;
    let files = mem.changed_paths(target_tree, prediction.tree)?;
    if let Some(dir) = &target.checkout {
        target::check_checkout(dir, &target.branch, &files)?;
    }
    Ok(Predicted::Clean(Prediction {
        tip,
        branch_tip: result.tip,
        uncommitted: result.uncommitted,
        target_tree,
        tree: prediction.tree,
        fast_forward,
        commits,
        files,
    }))
}

/// `--dry-run`: what the merge would do.
pub(super) fn plan(
    mem: &Memory,
    s: &Session,
    target: &Target,
    strategy: Strategy,
    p: Prediction,
    opts: &Options,
) -> Result<Plan> {
    let (insertions, deletions) = mem.line_counts(p.target_tree, p.tree)?;
    Ok(Plan {
        session: s.name.clone(),
        into: target.branch.clone(),
        strategy,
        commits: p.commits,
        files: p.files,
        insertions,
        deletions,
        uncommitted: p.uncommitted,
        checkout: target.checkout.clone(),
        fast_forward: p.fast_forward,
        keep: opts.keep,
    })
}

/// Refuses when the target is behind its upstream and the agent's branch holds upstream
/// commits the target lacks: a squash or rebase would pass them off as the agent's work.
fn guard_upstream(
    repo: &Repo,
    mem: &Memory,
    target: &Target,
    tip: ObjectId,
    strategy: Strategy,
) -> Result<()> {
    if !matches!(strategy, Strategy::Squash | Strategy::Rebase) {
        return Ok(());
    }
    let Some(upstream) = git_agent::git::merging::upstream_of(repo, &target.branch) else {
        return Ok(());
    };
    let Ok(up) = mem.commit_of(&upstream) else {
        return Ok(());
    };
    let Some(shared) = mem.merge_base(tip, up)? else {
        return Ok(());
    };
    if mem.is_ancestor(shared, target.tip)? {
        return Ok(());
    }
    let short = upstream.trim_start_matches("refs/remotes/");
    Err(Failure::fatal(format!(
        "{} is behind {short}, and the agent's branch contains commits of {short} that {} lacks: \
         a {} would pass them off as the agent's work",
        target.branch,
        target.branch,
        strategy.as_str()
    ))
    .hint(format!(
        "bring {} up to date first (git merge --ff-only {short} where it is checked out), or use --fetch",
        target.branch
    ))
    .into())
}
