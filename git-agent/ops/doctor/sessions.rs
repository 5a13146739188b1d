//! Doctor's checks of one session record against git and the filesystem: a creation or
//! removal that was interrupted, the repository or the worktree moved or gone, a worktree
//! that is not the session's, a `lost` run, our worktree lock left on an ended run.
//!
//! Owns the judging and the fixes of a single record. Never prints; never touches another
//! session's record or worktree, nor a worktree git-agent did not create for the session
//! (invariant 12).

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::processes::check_processes;
use super::worktrees::unknown_dir;
use super::{Finding, Options, attempt, same};
use crate::git::Worktree;
use crate::git::repo::Repo;
use crate::session::{Session, State, short_id};
use crate::state::StateDir;

/// What every session is checked against: the repository, its state, the worktrees git
/// knows, where the main worktree is now, and what was asked (`--fix`…).
#[derive(Clone, Copy)]
pub(super) struct Scan<'a> {
    pub(super) repo: &'a Repo,
    pub(super) state: &'a StateDir,
    pub(super) worktrees: &'a [Worktree],
    pub(super) main: Option<&'a Path>,
    pub(super) opts: &'a Options,
}

/// Every finding about one session (and its fix, with `--fix`). Worktrees to give to one
/// `git worktree repair` at the end are added to `repair_paths`.
pub(super) fn check_session(
    scan: Scan<'_>,
    s: &Session,
    findings: &mut Vec<Finding>,
    repair_paths: &mut Vec<PathBuf>,
) -> Result<()> {
    let (repo, state, worktrees) = (scan.repo, scan.state, scan.worktrees);
    let (main, opts) = (scan.main, scan.opts);
    let name = s.name.as_str();
    let live = s.live_state();
    if half_created(repo, state, s, opts, findings)?
        || removal_interrupted(state, s, opts, findings)?
    {
        return Ok(());
    }
    // The repository moved (the record remembers the old place).
    if let Some(main) = main
        && !same(&s.repo, main)
        && !s.repo.join(".git").exists()
    {
        repo_moved(scan, s, main, findings, repair_paths);
        return Ok(());
    }
    if not_ours(repo, state, s, main, opts, findings) {
        return Ok(());
    }
    if live == State::Lost {
        let mut f = Finding::new(
            "lost",
            Some(name),
            format!("{name}: recorded as running, but its supervisor is gone"),
        );
        f.fix = Some(
            "stop what is left of its agent and record the end (resume it with 'git agent resume')"
                .into(),
        );
        if let Some(reconnect) = super::remote::lost_fix(s) {
            f.fix = Some(reconnect);
        }
        // First: ending the run also takes back our worktree lock, which removing the entry
        // of a deleted worktree below needs.
        if opts.fix {
            attempt(&mut f, || {
                if super::remote::reconnect_lost(repo, state, s)? {
                    return Ok(());
                }
                crate::ops::stop::stop_session_for(
                    state,
                    s,
                    None,
                    Some("stopped by 'git agent doctor --fix'"),
                )
                .map(drop)
            });
        }
        findings.push(f);
    }
    let entry = worktrees.iter().find(|w| same(&w.path, &s.worktree));
    if !s.worktree.is_dir() {
        worktree_missing(scan, s, findings)?;
    } else if entry.is_none() {
        findings.push(unknown_dir(repo, name, &s.worktree, opts)?);
    }
    // A lost session's processes and lock are its own business until `--fix` ends it.
    if live == State::Lost {
        return Ok(());
    }
    // Locks left by a run that ended without taking them back (a gone checkout's entry is
    // unlocked and removed above).
    if !live.is_active()
        && s.worktree.is_dir()
        && let Some(w) = entry
        && w.locked.as_deref() == Some(crate::git::worktree::lock_reason(name).as_str())
    {
        let mut f = Finding::new(
            "stale-lock",
            Some(name),
            format!("{name}: its worktree is still locked for a run that ended"),
        );
        f.fix = Some("git worktree unlock".into());
        if opts.fix {
            attempt(&mut f, || {
                crate::git::worktree::unlock(repo.common_dir(), name, &s.worktree).map(drop)
            });
        }
        findings.push(f);
    }
    if !live.is_active() {
        check_processes(
            name,
            s.run_token.as_deref(),
            Some(&s.worktree),
            opts,
            findings,
        )?;
    }
    Ok(())
}

/// The repository moved: the session's worktree is followed to its new place if it moved
/// along and is one git-agent made for the session.
fn repo_moved(
    scan: Scan<'_>,
    s: &Session,
    main: &Path,
    findings: &mut Vec<Finding>,
    repair_paths: &mut Vec<PathBuf>,
) {
    let Scan {
        repo, state, opts, ..
    } = scan;
    let name = s.name.as_str();
    let old_parent = s.repo.parent().unwrap_or(&s.repo);
    let new_parent = main.parent().unwrap_or(main);
    let candidate = rebase_path(&s.worktree, old_parent, new_parent)
        .filter(|p| p.is_dir())
        .or_else(|| s.worktree.is_dir().then(|| s.worktree.clone()));
    let mut f = Finding::new(
        "repo-moved",
        Some(name),
        format!(
            "{name}: the repository moved from {} to {}",
            s.repo.display(),
            main.display()
        ),
    );
    // Only a worktree git-agent made for the session is followed (invariant 12): its
    // `.git` file names its admin directory, which must carry our mark.
    let why_not = candidate.as_ref().and_then(|wt| {
        let admin = std::fs::read_to_string(wt.join(".git")).ok().and_then(|t| {
            let g = PathBuf::from(t.trim().strip_prefix("gitdir:")?.trim());
            Some(repo.common_dir().join("worktrees").join(g.file_name()?))
        });
        match admin {
            Some(a) if a.is_dir() => {
                let mut moved = s.clone();
                moved.worktree = wt.clone();
                crate::git::worktree::not_ours(repo.common_dir(), Some(main), &moved, wt, Some(&a))
            }
            _ => Some("it is not a worktree of this repository".into()),
        }
    });
    match (candidate, why_not) {
        (Some(wt), None) => {
            f.fix = Some(format!(
                "git worktree repair {}; the record follows",
                wt.display()
            ));
            if opts.fix {
                let main = main.to_owned();
                attempt(&mut f, || {
                    state.update(name, |r| {
                        r.worktree = wt.clone();
                        r.repo = main.clone();
                        Ok(())
                    })
                });
                if f.fixed {
                    repair_paths.push(wt);
                }
            }
        }
        (Some(wt), Some(why)) => f
            .what
            .push_str(&format!("; {} is not followed: {why}", wt.display())),
        (None, _) => f.what.push_str(&format!(
            "; its worktree is not at {} any more",
            s.worktree.display()
        )),
    }
    findings.push(f);
}

/// A record pointing at a worktree git-agent did not create for it (the main checkout, one
/// another tool made): nothing there is the agent's; the record lets go of it. True if so.
fn not_ours(
    repo: &Repo,
    state: &StateDir,
    s: &Session,
    main: Option<&Path>,
    opts: &Options,
    findings: &mut Vec<Finding>,
) -> bool {
    let name = s.name.as_str();
    if s.worktree.is_dir()
        && let Some(why) =
            crate::git::worktree::not_ours(repo.common_dir(), main, s, &s.worktree, None)
    {
        let mut f = Finding::new(
            "worktree-not-ours",
            Some(name),
            format!(
                "{name}: its record points at {}, which is not a worktree git-agent created for it ({why})",
                s.worktree.display()
            ),
        );
        f.fix = Some(
            "leave the record without a worktree (that checkout and its files are untouched)"
                .into(),
        );
        if opts.fix {
            attempt(&mut f, || detach(repo, state, name));
        }
        findings.push(f);
        return true;
    }
    false
}

/// The session's worktree is not where its record says: moved (git knows the new place, and
/// the record follows) or gone (the branch keeps what was committed).
fn worktree_missing(scan: Scan<'_>, s: &Session, findings: &mut Vec<Finding>) -> Result<()> {
    let (repo, state, worktrees) = (scan.repo, scan.state, scan.worktrees);
    let (main, opts) = (scan.main, scan.opts);
    let name = s.name.as_str();
    let entry = worktrees.iter().find(|w| same(&w.path, &s.worktree));
    let on_branch: Vec<&Worktree> = worktrees
        .iter()
        .filter(|w| w.branch_name() == Some(s.branch.as_str()) && w.path.is_dir())
        .collect();
    let moved = on_branch.iter().find(|w| {
        crate::git::worktree::not_ours(
            repo.common_dir(),
            main,
            &moved_to(s, &w.path),
            &w.path,
            None,
        )
        .is_none()
    });
    if let Some(w) = moved {
        let mut f = Finding::new(
            "worktree-moved",
            Some(name),
            format!(
                "{name}: its worktree moved from {} to {}",
                s.worktree.display(),
                w.path.display()
            ),
        );
        f.fix = Some("the record follows it".into());
        if opts.fix {
            let path = w.path.clone();
            attempt(&mut f, || {
                state.update(name, |r| {
                    r.worktree = path.clone();
                    Ok(())
                })
            });
        }
        findings.push(f);
    } else {
        let keeps = match repo.branch_tip(&s.branch)? {
            Some(tip) => format!(
                "its branch {} keeps what was committed (at {})",
                s.branch,
                short_id(&tip.to_string())
            ),
            None => format!("its branch {} is gone too", s.branch),
        };
        let mut f = Finding::new(
            "worktree-gone",
            Some(name),
            format!(
                "{name}: its worktree {} is gone (deleted, or moved by hand); {keeps}",
                s.worktree.display()
            ),
        );
        // Its branch checked out somewhere git-agent did not create for it (the main
        // checkout…): never adopted, the work there is the user's.
        for w in &on_branch {
            if let Some(why) = crate::git::worktree::not_ours(
                repo.common_dir(),
                main,
                &moved_to(s, &w.path),
                &w.path,
                None,
            ) {
                f.what.push_str(&format!(
                    "; {} is checked out in {}, which is not its worktree ({why}) and is left alone",
                    s.branch,
                    w.path.display()
                ));
            }
        }
        if entry.is_none() {
            // Nothing inconsistent is left: only a record without its worktree.
            f.what.push_str(&format!(
                "; 'git agent rm {name}' archives the record (the branch stays; add --force if its work is not merged)"
            ));
            f.info = true;
        } else {
            f.fix = Some(format!(
                "git worktree remove {} (that entry only); if you moved it instead, run 'git worktree repair <new path>' first",
                s.worktree.display()
            ));
            if opts.fix {
                // Our own lock first (a run that ended while its checkout was gone left
                // it): git refuses to remove a locked entry.
                attempt(&mut f, || {
                    crate::git::worktree::unlock(repo.common_dir(), name, &s.worktree)?;
                    crate::git::worktree::remove(repo.common_dir(), &s.worktree)
                });
            }
        }
        findings.push(f);
    }
    Ok(())
}

/// `path` re-rooted from under `old` to under `new` (a repository and its sibling folders that
/// moved together).
fn rebase_path(path: &Path, old: &Path, new: &Path) -> Option<PathBuf> {
    Some(new.join(path.strip_prefix(old).ok()?))
}

/// `s` as if its record named `path` as its worktree (to judge a candidate for following).
fn moved_to(s: &Session, path: &Path) -> Session {
    let mut moved = s.clone();
    moved.worktree = path.to_owned();
    moved
}

/// Leaves a session's record without a worktree: it names the place git-agent would have
/// made it (if nothing is there), or nothing at all.
fn detach(repo: &Repo, state: &StateDir, name: &str) -> Result<()> {
    let default = repo
        .worktrees_root(&repo.config())
        .map(|root| root.join(name))
        .ok()
        .filter(|p| !p.exists())
        .unwrap_or_default();
    state.update(name, |r| {
        r.worktree = default.clone();
        r.worktree_id = None;
        r.worktree_locked = false;
        Ok(())
    })
}

/// A `git agent new` killed before the supervisor started: nothing ran in the worktree. If it
/// is still pristine, `--fix` takes back what that `new` made (invariant 4: no half-made
/// session stays behind); otherwise the session counts as lost.
fn half_created(
    repo: &Repo,
    state: &StateDir,
    s: &Session,
    opts: &Options,
    findings: &mut Vec<Finding>,
) -> Result<bool> {
    let interrupted = s.state == State::Starting
        && s.live_state() == State::Lost
        && s.processes.supervisor.is_none()
        && s.started_at.is_none()
        && s.runs.len() <= 1;
    if !interrupted {
        return Ok(false);
    }
    let pristine = !s.worktree.is_dir()
        || (crate::git::link::guard(s).is_ok()
            && crate::git::changes::status(&s.worktree, &s.left_out())
                .is_ok_and(|st| st.is_empty()));
    let branch_at_start = repo
        .branch_tip(&s.branch)?
        .is_none_or(|t| t == s.start_point());
    if !pristine || !branch_at_start {
        return Ok(false);
    }
    let what = "'git agent new' was interrupted before its agent started; nothing ran in it";
    let mut f = Finding::about("half-created", &s.name, what).with_fix(
        "take back what it made (the untouched worktree, the new branch where it was made, the record)",
    );
    if opts.fix {
        let registered = repo
            .worktree_list()?
            .iter()
            .any(|w| same(&w.path, &s.worktree));
        if registered {
            let _ = crate::git::worktree::unlock(repo.common_dir(), &s.name, &s.worktree);
            crate::git::worktree::remove(repo.common_dir(), &s.worktree)?;
        }
        if s.branch_created && repo.branch_tip(&s.branch)?.is_some() {
            repo.git()
                .args([
                    "update-ref",
                    "-d",
                    &format!("refs/heads/{}", s.branch),
                    s.start_point(),
                ])
                .run()?;
        }
        let lock = state.lock()?;
        crate::state::ports::release(state, &lock, &s.name)?;
        state.discard(&lock, &s.name)?;
        f.fixed = true;
    }
    findings.push(f);
    Ok(true)
}

/// A `git agent rm` killed after archiving the record but before taking it out of
/// `sessions/`: `--fix` finishes it.
fn removal_interrupted(
    state: &StateDir,
    s: &Session,
    opts: &Options,
    findings: &mut Vec<Finding>,
) -> Result<bool> {
    if s.worktree.is_dir() {
        return Ok(false);
    }
    let archived = state
        .load_archive()?
        .into_iter()
        .any(|a| a.name == s.name && a.removed.as_ref().is_some_and(|r| r.at >= s.created_at));
    if !archived {
        return Ok(false);
    }
    let what = "'git agent rm' was interrupted after archiving it";
    let mut f = Finding::about("removal-interrupted", &s.name, what)
        .with_fix("finish the removal (the archive has the record)");
    if opts.fix {
        let lock = state.lock()?;
        state.retire(&lock, &s.name)?;
        crate::state::ports::release(state, &lock, &s.name)?;
        f.fixed = true;
    }
    findings.push(f);
    Ok(true)
}
