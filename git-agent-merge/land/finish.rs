//! Steps 6–7 of a merge: the target moves by fast-forward only ([`crate::target::advance`]),
//! the merge is recorded on the session and in the event log, and the session is removed
//! (worktree gone, branch kept) through the same safe removal as `git agent rm`, unless
//! `--keep`. A removal that refuses keeps the session and says why; the merge stands.
//!
//! Moves only the target, to the commit step 4 built; removes nothing `rm` would not.

use anyhow::Result;
use git_agent::commands::Ctx;
use git_agent::git::repo::Repo;
use git_agent::ops::remove;
use git_agent::session::{Merged, Session, short_id};
use git_agent::state::Event;
use gix::ObjectId;

use super::messages::commits_between;
use super::{Landed, Options, Step, Strategy};
use crate::target::{self, Target};

/// Nothing to merge: says so and finishes as if merged (a dry run only reports it).
pub(super) fn already_merged(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    s: &Session,
    landed: Landed,
    opts: &Options,
) -> Result<Step> {
    if opts.dry_run {
        return Ok(Step::AlreadyMerged(landed));
    }
    writeln!(
        ctx.err,
        "{}: its work is already in {}; nothing to merge",
        s.name, landed.into
    )?;
    finish(ctx, repo, s, landed, opts).map(Step::AlreadyMerged)
}

/// The landing recorded when `s`'s branch, as it is now, was merged into `target` already
/// (with another session sharing it, `new --in`): merging it again lands nothing.
pub(super) fn recorded(repo: &Repo, s: &Session, target: &Target) -> Result<Option<Landed>> {
    let Some(m) = s.merged.as_ref() else {
        return Ok(None);
    };
    let tip = repo.branch_tip(&s.branch)?.map(|t| t.to_string());
    let landed = s.live_state() == git_agent::session::State::Merged
        && m.into == target.branch
        && tip.as_deref() == Some(m.branch_tip.as_str());
    Ok(landed.then(|| Landed {
        session: s.name.clone(),
        into: m.into.clone(),
        strategy: Strategy::named(&m.strategy),
        commit: m.commit.clone(),
        previous: m.previous.clone(),
        commits: Vec::new(),
        removed: None,
        kept: None,
    }))
}

/// Step 6: moves the target to `new` and says so (on stderr with `--json`).
pub(super) fn advance(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    s: &Session,
    target: &Target,
    strategy: Strategy,
    new: ObjectId,
    opts: &Options,
) -> Result<Landed> {
    let why = format!("git agent merge: {} ({})", s.name, strategy.as_str());
    target::advance(repo, target, new, &why)?;
    let landed_commits = commits_between(repo, target.tip, new)?;
    let landed = Landed {
        session: s.name.clone(),
        into: target.branch.clone(),
        strategy,
        commit: new.to_string(),
        previous: target.tip.to_string(),
        commits: landed_commits,
        removed: None,
        kept: None,
    };
    let subject = repo
        .git()
        .args(["log", "-1", "--format=%s", &landed.commit])
        .run()
        .unwrap_or_default();
    // With --json, stdout is the document only.
    let out: &mut dyn std::io::Write = if opts.json { ctx.err } else { ctx.out };
    writeln!(
        out,
        "Merged {} into {} ({}): {} {}",
        s.name,
        target.branch,
        strategy.as_str(),
        short_id(&landed.commit),
        subject.trim()
    )?;
    Ok(landed)
}

/// Records the merge, then removes the session unless `--keep`.
pub(super) fn finish(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    s: &Session,
    mut landed: Landed,
    opts: &Options,
) -> Result<Landed> {
    let state = repo.state();
    let record = Merged {
        into: landed.into.clone(),
        strategy: landed.strategy.as_str().to_owned(),
        commit: landed.commit.clone(),
        previous: landed.previous.clone(),
        branch_tip: repo
            .branch_tip(&s.branch)?
            .map(|t| t.to_string())
            .unwrap_or_default(),
        at: git_agent::time::now(),
    };
    let detail = format!(
        "into {} ({}) {}",
        landed.into,
        landed.strategy.as_str(),
        short_id(&landed.commit)
    );
    // The sessions sharing its worktree and branch (`new --in`) landed with it: each is
    // marked merged, so `list` and `clean` see them so, and merging one later lands nothing.
    let sharers: Vec<Session> = state
        .sharing(s)?
        .into_iter()
        .filter(|o| o.branch == s.branch)
        .collect();
    for o in std::iter::once(s).chain(&sharers) {
        state.update(&o.name, |r| {
            r.merged = Some(record.clone());
            Ok(())
        })?;
        let with = if o.name == s.name {
            String::new()
        } else {
            format!(" (with {})", s.name)
        };
        state.append_event(&Event {
            detail: Some(format!("{detail}{with}")),
            ..Event::new(&o.name, "merged")
        })?;
    }
    if opts.keep {
        return Ok(landed);
    }
    let current = state.load(&s.name)?;
    let remove_opts = remove::Options {
        reason: "merged".into(),
        ..remove::Options::default()
    };
    match remove::remove(
        repo,
        &current,
        &remove_opts,
        &format!("git agent rm --force {}", s.name),
    ) {
        Ok(outcome) => {
            let tip = outcome
                .branch_tip
                .as_deref()
                .map(|t| format!(" at {}", short_id(t)))
                .unwrap_or_default();
            let path = git_agent::ui::short_path(&outcome.worktree, &ctx.cwd);
            match &outcome.worktree_kept {
                // Another session still uses it (`new --in`): only the record went.
                Some(why) => writeln!(
                    ctx.err,
                    "Removed {}; its worktree {path} left alone ({why}); branch {} kept{tip}",
                    s.name, outcome.branch
                )?,
                None => writeln!(
                    ctx.err,
                    "Removed its worktree {path}; branch {} kept{tip}",
                    outcome.branch
                )?,
            }
            landed.removed = Some(Box::new(outcome));
        }
        Err(e) => {
            let report = git_agent::error::Report::from_error(&e);
            ctx.warn(&format!("kept {}: {}", s.name, report.message))?;
            landed.kept = Some(report.message);
        }
    }
    Ok(landed)
}
