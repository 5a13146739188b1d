//! `git agent doctor [--fix] [--reap]`: find what crashes, moves and other tools left
//! inconsistent, explain it, and (with `--fix`) put it right without losing anything.
//!
//! What it looks at:
//! - records whose worktree is gone: moved (git knows the new place: the record follows) or
//!   deleted (the branch keeps what was committed; `--fix` deregisters that one worktree);
//! - the repository moved, taking (or not) its worktrees along: `--fix` runs
//!   `git worktree repair` with the explicit new paths and updates the records;
//! - directories of ours that git no longer knows, and prunable entries of ours;
//! - `lost` sessions (`--fix` stops what is left and records the end);
//! - damaged records in `quarantine/` (`--fix` rebuilds a record from the worktree and branch
//!   git still has) and records from a newer git-agent;
//! - processes we started that outlived their session (`--reap` stops them; a process we did
//!   not start is only mentioned, never touched);
//! - locks left behind: our `git worktree lock` on a session that no longer runs, and git's
//!   lock files in the common directory and our worktrees' admin directories when no git
//!   works in the repository;
//! - entries of `.git/worktrees/` a killed `git worktree add` of ours left half made;
//! - records pointing at a worktree git-agent did not create for the session (the main
//!   checkout, another tool's): never followed or adopted; `--fix` lets go of it.
//!
//! Never a repository-wide `git worktree prune`; only the entries named here. Fixes run in
//! an order that cannot dead-end (git's stale locks first, our worktree lock before removing
//! an entry), and one that fails is reported while the others still run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use serde_json::json;

use super::{Ctx, JSON_VERSION};
use crate::repo::Repo;
use crate::session::{Session, State, short_id};
use crate::state::StateDir;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fix what can be fixed without losing anything
    #[arg(long)]
    pub fix: bool,
    /// Stop processes git-agent started that outlived their session
    #[arg(long)]
    pub reap: bool,
    /// Print the findings as JSON
    #[arg(long)]
    pub json: bool,
}

/// One thing found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// `worktree-gone`, `worktree-moved`, `repo-moved`, `unknown-worktree`, `prunable`,
    /// `lost`, `quarantined`, `too-new`, `stray` (in `sessions/`, not a record), `stray-process`,
    /// `foreign-process`, `stale-lock`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub what: String,
    /// What `--fix` (or `--reap`) does about it; `None`: nothing to do, or nothing we may do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    pub fixed: bool,
    /// Why `--fix` could not do it (the other fixes still ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    /// Only informative: not a problem to fix.
    pub info: bool,
}

impl Finding {
    fn new(kind: &'static str, session: Option<&str>, what: String) -> Self {
        Self {
            kind,
            session: session.map(str::to_owned),
            what,
            fix: None,
            fixed: false,
            failed: None,
            info: false,
        }
    }
}

/// A worktree git knows about.
#[derive(Debug, Default, Clone)]
struct Registered {
    path: PathBuf,
    branch: Option<String>,
    prunable: bool,
    locked: Option<String>,
}

fn registered(repo: &Repo) -> Result<Vec<Registered>> {
    let out = crate::worktree::serialized(
        repo.common_dir(),
        repo.git().args(["worktree", "list", "--porcelain", "-z"]),
    )?;
    let mut list = Vec::new();
    let mut cur: Option<Registered> = None;
    for field in out.split('\0') {
        if let Some(p) = field.strip_prefix("worktree ") {
            list.extend(cur.take());
            cur = Some(Registered {
                path: PathBuf::from(p),
                ..Registered::default()
            });
        } else if let Some(c) = cur.as_mut() {
            if let Some(b) = field.strip_prefix("branch refs/heads/") {
                c.branch = Some(b.to_owned());
            } else if field.starts_with("prunable") {
                c.prunable = true;
            } else if field == "locked" {
                c.locked = Some(String::new());
            } else if let Some(r) = field.strip_prefix("locked ") {
                c.locked = Some(r.to_owned());
            }
        }
    }
    list.extend(cur);
    Ok(list)
}

fn same(a: &Path, b: &Path) -> bool {
    a == b
        || std::fs::canonicalize(a)
            .ok()
            .zip(std::fs::canonicalize(b).ok())
            .is_some_and(|(x, y)| x == y)
}

/// `path` re-rooted from under `old` to under `new` (a repository and its sibling folders that
/// moved together).
fn rebase_path(path: &Path, old: &Path, new: &Path) -> Option<PathBuf> {
    Some(new.join(path.strip_prefix(old).ok()?))
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = Repo::discover(&ctx.cwd)?;
    let state = repo.state();
    let listing = state.load_all()?;
    let mut findings = Vec::new();
    let main = repo.main_workdir().map(Path::to_owned);
    // First what makes git itself fail (and so every fix after it): lock files a killed git
    // left, admin directories a killed `git worktree add` left half made.
    check_git_locks(&repo, &listing.sessions, &args, &mut findings);
    let half_made = check_half_made_entries(&repo, &state, &args, &mut findings)?;
    let worktrees = if half_made {
        // `git worktree list` dies on such an entry: the rest waits until it is gone.
        None
    } else {
        Some(registered(&repo)?)
    };

    for problem in &listing.problems {
        // Damaged records were moved to quarantine/ just now; those are looked at below.
        if problem.kind == "damaged" {
            continue;
        }
        findings.push(Finding::new(
            problem.kind,
            Some(&problem.name),
            problem.message.clone(),
        ));
    }

    if let Some(worktrees) = &worktrees {
        let mut repair_paths = Vec::new();
        for s in &listing.sessions {
            // One session's trouble does not stop the others being looked at (and fixed).
            if let Err(e) = check_session(
                &repo,
                &state,
                s,
                worktrees,
                main.as_deref(),
                &args,
                &mut findings,
                &mut repair_paths,
            ) {
                let mut f = Finding::new(
                    "check-failed",
                    Some(&s.name),
                    format!("{}: could not be checked", s.name),
                );
                f.failed = Some(crate::error::Report::from_error(&e).message);
                findings.push(f);
            }
        }
        if args.fix && !repair_paths.is_empty() {
            crate::worktree::serialized(
                repo.common_dir(),
                repo.git().args(["worktree", "repair"]).args(&repair_paths),
            )?;
        }
        check_unknown_worktrees(&repo, &listing.sessions, worktrees, &args, &mut findings)?;
        check_quarantine(
            &repo,
            &state,
            &listing.sessions,
            worktrees,
            &args,
            &mut findings,
        )?;
    }
    check_strays_of_removed(&state, &listing.sessions, &args, &mut findings)?;

    let open = findings.iter().filter(|f| !f.info && !f.fixed).count();
    if args.json {
        let doc = json!({"version": JSON_VERSION, "findings": findings, "problems": open});
        ctx.write_json(&doc)?;
    } else {
        for f in &findings {
            let mark = if f.info {
                "·"
            } else if f.fixed {
                "✓"
            } else {
                "✗"
            };
            writeln!(ctx.out, "{mark} {}", f.what)?;
            match (&f.fix, f.fixed) {
                (Some(fix), true) => writeln!(ctx.out, "    fixed: {fix}")?,
                (Some(fix), false) => writeln!(ctx.out, "    --fix: {fix}")?,
                (None, _) => {}
            }
            if let Some(why) = &f.failed {
                writeln!(ctx.out, "    could not fix it: {why}")?;
            }
        }
        let fixable = findings
            .iter()
            .filter(|f| !f.info && !f.fixed && f.fix.is_some() && f.failed.is_none())
            .count();
        if open == 0 {
            writeln!(ctx.out, "No problems found.")?;
        } else if fixable > 0 {
            let flag = if findings
                .iter()
                .any(|f| f.kind == "stray-process" && !f.fixed)
            {
                "--fix (--reap for processes)"
            } else {
                "--fix"
            };
            writeln!(
                ctx.out,
                "{open} problem(s); 'git agent doctor {flag}' takes care of {fixable}."
            )?;
        } else {
            writeln!(ctx.out, "{open} problem(s).")?;
        }
    }
    Ok(if open == 0 { 0 } else { 1 })
}

#[allow(clippy::too_many_arguments)]
fn check_session(
    repo: &Repo,
    state: &StateDir,
    s: &Session,
    worktrees: &[Registered],
    main: Option<&Path>,
    args: &Args,
    findings: &mut Vec<Finding>,
    repair_paths: &mut Vec<PathBuf>,
) -> Result<()> {
    let name = s.name.as_str();
    let live = s.live_state();
    if half_created(repo, state, s, args, findings)?
        || removal_interrupted(state, s, args, findings)?
    {
        return Ok(());
    }
    // The repository moved (the record remembers the old place).
    if let Some(main) = main
        && !same(&s.repo, main)
        && !s.repo.join(".git").exists()
    {
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
                    crate::worktree::not_ours(repo.common_dir(), Some(main), &moved, wt, Some(&a))
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
                if args.fix {
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
        return Ok(());
    }
    // A record pointing at a worktree git-agent did not create for it (the main checkout, one
    // another tool made): nothing there is the agent's; the record lets go of it.
    if s.worktree.is_dir()
        && let Some(why) = crate::worktree::not_ours(repo.common_dir(), main, s, &s.worktree, None)
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
        if args.fix {
            attempt(&mut f, || detach(repo, state, name));
        }
        findings.push(f);
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
        // First: ending the run also takes back our worktree lock, which removing the entry
        // of a deleted worktree below needs.
        if args.fix {
            attempt(&mut f, || {
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
        let on_branch: Vec<&Registered> = worktrees
            .iter()
            .filter(|w| w.branch.as_deref() == Some(&s.branch) && w.path.is_dir())
            .collect();
        let moved = on_branch.iter().find(|w| {
            crate::worktree::not_ours(
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
            if args.fix {
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
                if let Some(why) = crate::worktree::not_ours(
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
                if args.fix {
                    // Our own lock first (a run that ended while its checkout was gone left
                    // it): git refuses to remove a locked entry.
                    attempt(&mut f, || {
                        crate::worktree::unlock(repo.common_dir(), name, &s.worktree)?;
                        crate::worktree::remove(repo.common_dir(), &s.worktree)
                    });
                }
            }
            findings.push(f);
        }
    } else if entry.is_none() {
        findings.push(unknown_dir(repo, name, &s.worktree, args)?);
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
        && w.locked.as_deref() == Some(crate::worktree::lock_reason(name).as_str())
    {
        let mut f = Finding::new(
            "stale-lock",
            Some(name),
            format!("{name}: its worktree is still locked for a run that ended"),
        );
        f.fix = Some("git worktree unlock".into());
        if args.fix {
            attempt(&mut f, || {
                crate::worktree::unlock(repo.common_dir(), name, &s.worktree).map(drop)
            });
        }
        findings.push(f);
    }
    if !live.is_active() {
        check_processes(
            name,
            s.run_token.as_deref(),
            Some(&s.worktree),
            args,
            findings,
        )?;
    }
    Ok(())
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

/// Runs one fix; a failure is reported on the finding and the other fixes still run.
fn attempt(f: &mut Finding, fix: impl FnOnce() -> Result<()>) {
    match fix() {
        Ok(()) => f.fixed = true,
        Err(e) => f.failed = Some(crate::error::Report::from_error(&e).message),
    }
}

/// A `git agent new` killed before the supervisor started: nothing ran in the worktree. If it
/// is still pristine, `--fix` takes back what that `new` made (invariant 4: no half-made
/// session stays behind); otherwise the session counts as lost.
fn half_created(
    repo: &Repo,
    state: &StateDir,
    s: &Session,
    args: &Args,
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
        || (crate::sandbox::guard(s).is_ok()
            && crate::changes::status(&s.worktree, &s.left_out()).is_ok_and(|st| st.is_empty()));
    let branch_at_base = repo
        .branch_tip(&s.branch)?
        .is_none_or(|t| t == s.base.commit);
    if !pristine || !branch_at_base {
        return Ok(false);
    }
    let mut f = Finding::new(
        "half-created",
        Some(&s.name),
        format!(
            "{}: 'git agent new' was interrupted before its agent started; nothing ran in it",
            s.name
        ),
    );
    f.fix = Some("take back what it made (the untouched worktree, the new branch at the base commit, the record)".into());
    if args.fix {
        let registered = registered(repo)?.iter().any(|w| same(&w.path, &s.worktree));
        if registered {
            let _ = crate::worktree::unlock(repo.common_dir(), &s.name, &s.worktree);
            crate::worktree::remove(repo.common_dir(), &s.worktree)?;
        }
        if s.branch_created && repo.branch_tip(&s.branch)?.is_some() {
            repo.git()
                .args([
                    "update-ref",
                    "-d",
                    &format!("refs/heads/{}", s.branch),
                    &s.base.commit,
                ])
                .run()?;
        }
        let lock = state.lock()?;
        crate::ports::release(state, &lock, &s.name)?;
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
    args: &Args,
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
    let mut f = Finding::new(
        "removal-interrupted",
        Some(&s.name),
        format!(
            "{}: 'git agent rm' was interrupted after archiving it",
            s.name
        ),
    );
    f.fix = Some("finish the removal (the archive has the record)".into());
    if args.fix {
        let lock = state.lock()?;
        state.retire(&lock, &s.name)?;
        crate::ports::release(state, &lock, &s.name)?;
        f.fixed = true;
    }
    findings.push(f);
    Ok(true)
}

/// A directory of ours that git does not know as a worktree.
fn unknown_dir(repo: &Repo, name: &str, dir: &Path, args: &Args) -> Result<Finding> {
    let mut f = Finding::new(
        "unknown-worktree",
        Some(name),
        format!("{name}: git no longer knows its worktree {}", dir.display()),
    );
    let gitdir = std::fs::read_to_string(dir.join(".git"))
        .ok()
        .and_then(|t| t.strip_prefix("gitdir:").map(|p| PathBuf::from(p.trim())));
    if gitdir.as_ref().is_some_and(|g| g.is_dir()) {
        f.fix = Some(format!("git worktree repair {}", dir.display()));
        if args.fix {
            crate::worktree::serialized(
                repo.common_dir(),
                repo.git().args(["worktree", "repair"]).arg(dir),
            )?;
            f.fixed = true;
        }
    } else {
        f.what.push_str(
            "; its files are untouched, but git cannot take it back: copy what you need out of it",
        );
    }
    Ok(f)
}

/// Directories in our worktree folder, and prunable entries there, that no record claims.
fn check_unknown_worktrees(
    repo: &Repo,
    sessions: &[Session],
    worktrees: &[Registered],
    args: &Args,
    findings: &mut Vec<Finding>,
) -> Result<()> {
    let Ok(root) = repo.worktrees_root(&repo.config()) else {
        return Ok(());
    };
    let claimed = |p: &Path| sessions.iter().any(|s| same(&s.worktree, p));
    if let Ok(entries) = std::fs::read_dir(&root) {
        for entry in entries.flatten() {
            let dir = entry.path();
            if !dir.join(".git").is_file() || claimed(&dir) {
                continue;
            }
            if worktrees.iter().any(|w| same(&w.path, &dir)) {
                let mut f = Finding::new(
                    "unknown-worktree",
                    None,
                    format!(
                        "{} is a worktree in git-agent's folder without a session record",
                        dir.display()
                    ),
                );
                f.info = true;
                findings.push(f);
            } else {
                let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
                let mut f = unknown_dir(repo, name.as_deref().unwrap_or("?"), &dir, args)?;
                f.session = None;
                findings.push(f);
            }
        }
    }
    for w in worktrees {
        if w.prunable && w.path.starts_with(&root) && !claimed(&w.path) {
            let mut f = Finding::new(
                "prunable",
                None,
                format!("git still lists {}, which is gone", w.path.display()),
            );
            f.fix = Some(format!(
                "git worktree remove {} (that entry only)",
                w.path.display()
            ));
            if args.fix {
                crate::worktree::remove(repo.common_dir(), &w.path)?;
                f.fixed = true;
            }
            findings.push(f);
        }
    }
    Ok(())
}

/// Damaged records: explained, and rebuilt from git where git still has the session.
fn check_quarantine(
    repo: &Repo,
    state: &StateDir,
    sessions: &[Session],
    worktrees: &[Registered],
    args: &Args,
    findings: &mut Vec<Finding>,
) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(state.quarantine_dir()) else {
        return Ok(());
    };
    let prefix = repo
        .config()
        .string("agent.branchPrefix")
        .unwrap_or_else(|| "agent/".into());
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for file in files {
        let fname = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let Some((name, _stamp)) = fname.split_once(".json.") else {
            continue;
        };
        if name.ends_with(".rebuilt") || fname.ends_with(".rebuilt") {
            continue;
        }
        let mut f = Finding::new(
            "quarantined",
            Some(name),
            format!(
                "{name}: its record was damaged and is kept in {}",
                file.display()
            ),
        );
        if sessions.iter().any(|s| s.name == name) {
            f.what.push_str(" (a newer record of that name exists)");
            f.info = true;
            findings.push(f);
            continue;
        }
        let branch = format!("{prefix}{name}");
        // Rebuilt only around a worktree git-agent made for that name (invariant 12): marked
        // for it, or unmarked but in our worktrees folder; never the main checkout.
        let root = repo.worktrees_root(&repo.config()).ok();
        let wt = worktrees.iter().find(|w| {
            w.branch.as_deref() == Some(branch.as_str())
                && !repo.main_workdir().is_some_and(|m| same(m, &w.path))
                && crate::worktree::admin_dir(repo.common_dir(), &w.path).is_some_and(|a| {
                    match crate::worktree::marked_for(&a) {
                        Some(owner) => owner == name,
                        None => root.as_ref().is_some_and(|r| w.path.starts_with(r)),
                    }
                })
        });
        match (wt, repo.branch_tip(&branch)?) {
            (Some(w), Some(_)) => {
                f.fix = Some(format!(
                    "rebuild a record from its worktree {} and branch {branch}",
                    w.path.display()
                ));
                if args.fix {
                    rebuild(repo, state, name, &branch, &w.path)?;
                    let mut done = file.clone().into_os_string();
                    done.push(".rebuilt");
                    std::fs::rename(&file, PathBuf::from(done))?;
                    f.fixed = true;
                }
            }
            _ => f
                .what
                .push_str("; git has no worktree on its branch to rebuild it from"),
        }
        findings.push(f);
    }
    Ok(())
}

/// A minimal record for a session git still has: stopped, its task unknown.
fn rebuild(repo: &Repo, state: &StateDir, name: &str, branch: &str, worktree: &Path) -> Result<()> {
    let main_head = repo.git().args(["rev-parse", "HEAD"]).run()?;
    let base = repo
        .git()
        .args([
            "merge-base",
            main_head.trim(),
            &format!("refs/heads/{branch}"),
        ])
        .run()
        .map(|b| b.trim().to_owned())
        .unwrap_or_else(|_| main_head.trim().to_owned());
    let base_ref = repo
        .gix()
        .head_name()
        .ok()
        .flatten()
        .map(|n| n.as_bstr().to_string());
    let now = crate::time::now();
    let record = json!({
        "version": crate::session::SCHEMA_VERSION,
        "name": name,
        "prompt": "(unknown: the record was damaged; rebuilt by git agent doctor)",
        "agent": {"profile": "unknown", "source": "recovered", "program": "", "args": [], "prompt_via": "arg"},
        "base": {"ref": base_ref, "commit": base},
        "branch": branch,
        "branch_created": true,
        "worktree": worktree,
        "repo": repo.main_workdir().unwrap_or(repo.common_dir()),
        "state": "stopped",
        "reason": "rebuilt by git agent doctor from a damaged record",
        "created_at": now,
        "ended_at": now,
        "stop_grace_secs": 10,
        "auto_commit": true,
    });
    let mut session: Session = serde_json::from_value(record)?;
    session.changes = crate::changes::of(repo, &session)
        .ok()
        .map(|c| crate::changes::Changes { at: Some(now), ..c });
    let lock = state.lock()?;
    state.write(&lock, &session)
}

/// Processes of removed sessions that are still around.
fn check_strays_of_removed(
    state: &StateDir,
    sessions: &[Session],
    args: &Args,
    findings: &mut Vec<Finding>,
) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for s in state.load_archive()? {
        if sessions.iter().any(|l| l.name == s.name) || !seen.insert(s.name.clone()) {
            continue;
        }
        for p in crate::procs::find(s.run_token.as_deref(), None) {
            findings.push(stray(&s.name, p, args));
        }
    }
    Ok(())
}

fn stray(name: &str, p: crate::procs::Found, args: &Args) -> Finding {
    let mut f = Finding::new(
        "stray-process",
        Some(name),
        format!(
            "{name}: process {} ({}) was started by its agent and outlived the session",
            p.pid, p.command
        ),
    );
    f.fix = Some("--reap stops it (SIGTERM, then SIGKILL)".into());
    if args.reap {
        crate::procs::terminate(std::slice::from_ref(&p), Duration::from_secs(5));
        f.fixed = true;
    }
    f
}

fn check_processes(
    name: &str,
    token: Option<&str>,
    worktree: Option<&Path>,
    args: &Args,
    findings: &mut Vec<Finding>,
) -> Result<()> {
    for p in crate::procs::find(token, worktree) {
        if p.tagged {
            findings.push(stray(name, p, args));
        } else {
            let mut f = Finding::new(
                "foreign-process",
                Some(name),
                format!(
                    "{name}: process {} ({}) works in its worktree without the mark of the agent's run (yours, or one that shed it); git-agent never touches it",
                    p.pid, p.command
                ),
            );
            f.info = true;
            findings.push(f);
        }
    }
    Ok(())
}

/// How old a git lock file or a half-made worktree entry must be before it counts as left
/// behind (a git that is still working renews neither).
const LEFT_BEHIND: Duration = Duration::from_secs(10);

fn age(path: &Path) -> Duration {
    path.symlink_metadata()
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|m| m.elapsed().ok())
        .unwrap_or_default()
}

/// The admin directories (`<common>/worktrees/<id>`) of worktrees git-agent made: marked, or
/// the entry of a session's recorded worktree.
fn our_admin_dirs(repo: &Repo, sessions: &[Session]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(repo.common_dir().join("worktrees")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|admin| {
            crate::worktree::marked_for(admin).is_some() || {
                let gitdir = std::fs::read_to_string(admin.join("gitdir")).unwrap_or_default();
                Path::new(gitdir.trim())
                    .parent()
                    .is_some_and(|wt| sessions.iter().any(|s| same(&s.worktree, wt)))
            }
        })
        .collect()
}

/// `*.lock` files directly in `dir`, and anywhere under its `refs/`.
fn lock_files(dir: &Path, out: &mut Vec<PathBuf>) {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>, deep: bool) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_file() && path.extension().is_some_and(|e| e == "lock") {
                out.push(path);
            } else if kind.is_dir() && (deep || entry.file_name() == "refs") {
                walk(&path, out, true);
            }
        }
    }
    walk(dir, out, false);
}

/// Git's lock files (`index.lock`, `HEAD.lock`, `packed-refs.lock`, `refs/…/*.lock`) in the
/// common directory and in our worktrees' admin directories, left by a git that was killed:
/// no git process works in the repository and they are not fresh. `--fix` removes them (git
/// itself says to, once no git runs).
fn check_git_locks(repo: &Repo, sessions: &[Session], args: &Args, findings: &mut Vec<Finding>) {
    let mut locks = Vec::new();
    lock_files(repo.common_dir(), &mut locks);
    for admin in our_admin_dirs(repo, sessions) {
        lock_files(&admin, &mut locks);
    }
    locks.retain(|l| age(l) >= LEFT_BEHIND);
    if locks.is_empty() {
        return;
    }
    let mut places: Vec<PathBuf> = vec![repo.common_dir().to_owned()];
    places.extend(repo.main_workdir().map(Path::to_owned));
    places.extend(sessions.iter().map(|s| s.worktree.clone()));
    if git_busy_in(&places) {
        return;
    }
    for lock in locks {
        let mut f = Finding::new(
            "stale-lock",
            None,
            format!(
                "{} was left by a git that is no longer running",
                lock.display()
            ),
        );
        f.fix = Some(format!("remove {}", lock.display()));
        if args.fix {
            attempt(&mut f, || Ok(std::fs::remove_file(&lock)?));
        }
        findings.push(f);
    }
}

/// A git process (not git-agent) working in one of `places`: its working directory is
/// inside, or one of its arguments names it. This process and its ancestors do not count.
#[cfg(target_os = "linux")]
fn git_busy_in(places: &[PathBuf]) -> bool {
    let stat_ppid = |pid: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let mut skip = vec![std::process::id()];
    while let Some(parent) = skip.last().and_then(|p| stat_ppid(*p)).filter(|p| *p > 1) {
        skip.push(parent);
    }
    let places: Vec<PathBuf> = places
        .iter()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if skip.contains(&pid) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_git = args
            .first()
            .and_then(|p| Path::new(p).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .is_some_and(|n| (n == "git" || n.starts_with("git-")) && !n.starts_with("git-agent"));
        if !is_git {
            continue;
        }
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
        let inside = places.iter().any(|p| {
            cwd.as_ref().is_some_and(|c| c.starts_with(p))
                || args
                    .iter()
                    .any(|a| a.contains(p.to_string_lossy().as_ref()))
        });
        if inside {
            return true;
        }
    }
    false
}

/// Elsewhere nothing tells: a lock is never judged left behind.
#[cfg(not(target_os = "linux"))]
fn git_busy_in(_places: &[PathBuf]) -> bool {
    true
}

/// Entries of `<common>/worktrees/` that a killed `git worktree add` left half made (no
/// `commondir`, `gitdir` or `HEAD`): git dies on them ("failed to read …/commondir"). One of
/// ours (named after a session, marked, or pointing into our worktrees folder) is removed by
/// `--fix`, that entry only (never `git worktree prune`), with the checkout folder git had
/// just made for it if that holds nothing but its `.git` file. True if one is left.
fn check_half_made_entries(
    repo: &Repo,
    state: &StateDir,
    args: &Args,
    findings: &mut Vec<Finding>,
) -> Result<bool> {
    let Ok(entries) = std::fs::read_dir(repo.common_dir().join("worktrees")) else {
        return Ok(false);
    };
    let half: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|a| a.is_dir())
        .filter(|a| {
            ["commondir", "gitdir", "HEAD"]
                .iter()
                .any(|f| !a.join(f).is_file())
        })
        .collect();
    if half.is_empty() {
        return Ok(false);
    }
    let mut names: Vec<String> = state
        .load_all()?
        .sessions
        .into_iter()
        .map(|s| s.name)
        .collect();
    names.extend(state.load_archive()?.into_iter().map(|s| s.name));
    let root = repo.worktrees_root(&repo.config()).ok();
    let mut left = false;
    for admin in half {
        let id = admin
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let checkout = std::fs::read_to_string(admin.join("gitdir"))
            .ok()
            .and_then(|g| Path::new(g.trim()).parent().map(Path::to_owned));
        // git names the entry after the checkout's folder, adding a number if taken.
        let ours = crate::worktree::marked_for(&admin).is_some()
            || names.iter().any(|n| {
                *n == id
                    || id
                        .strip_prefix(n.as_str())
                        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            })
            || checkout
                .as_ref()
                .zip(root.as_ref())
                .is_some_and(|(c, r)| c.starts_with(r));
        let mut f = Finding::new(
            "half-made-worktree",
            None,
            format!(
                "{} is a worktree entry a killed 'git worktree add' left half made (git fails on it)",
                admin.display()
            ),
        );
        if !ours {
            f.what.push_str(&format!(
                "; git-agent did not make it: if no 'git worktree add' is running, remove that folder yourself (rm -r {})",
                admin.display()
            ));
            left = true;
            findings.push(f);
            continue;
        }
        f.fix = Some(format!("remove {} (that entry only)", admin.display()));
        let busy = age(&admin) < LEFT_BEHIND || git_busy_in(&[repo.common_dir().to_owned()]);
        if busy {
            f.what
                .push_str("; a git may still be making it: try again in a moment");
            left = true;
        } else if args.fix {
            attempt(&mut f, || {
                // Serialized with our own `git worktree add`s.
                let _serialized = state.worktree_lock()?;
                std::fs::remove_dir_all(&admin)?;
                if let Some(c) = &checkout {
                    let only_dot_git = std::fs::read_dir(c)
                        .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
                        .is_ok_and(|n| n.len() == 1 && n[0] == ".git");
                    let points_here = std::fs::read_to_string(c.join(".git")).is_ok_and(|t| {
                        t.trim()
                            .strip_prefix("gitdir:")
                            .is_some_and(|g| same(Path::new(g.trim()), &admin))
                    });
                    if only_dot_git && points_here {
                        std::fs::remove_file(c.join(".git"))?;
                        std::fs::remove_dir(c)?;
                    }
                }
                Ok(())
            });
            left |= !f.fixed;
        } else {
            left = true;
        }
        findings.push(f);
    }
    Ok(left)
}
