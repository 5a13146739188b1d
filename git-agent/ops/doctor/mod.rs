//! What `git agent doctor [--fix] [--reap]` checks: find what crashes, moves and other tools left
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
//!   checkout, another tool's): never followed or adopted; `--fix` lets go of it;
//! - containers of ours (labelled with this repository) whose session no longer runs
//!   (`--fix` removes them);
//! - SSH sessions whose connection was lost while the remote session may still run
//!   (`--fix` reconnects them, as `resume` does; the agent is never started again);
//! - notification settings it cannot read (`agent.notify`, `agent.notify.on`,
//!   `agent.notifyTimeout`).
//!
//! Never a repository-wide `git worktree prune`; only the entries named here. Fixes run in
//! an order that cannot dead-end (git's stale locks first, our worktree lock before removing
//! an entry), and one that fails is reported while the others still run.
//!
//! This module and its files (one per group of checks: `sessions`, `worktrees`, `records`,
//! `locks`, `processes`, `containers`, `remote`, `notify`) find and fix; the command renders.
//! Nothing here prints or imports `commands` or `cli`.

mod containers;
mod locks;
mod notify;
mod processes;
mod records;
mod remote;
mod sessions;
mod worktrees;

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use crate::git::repo::Repo;

/// What the doctor may do besides looking.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Fix what can be fixed without losing anything.
    pub fix: bool,
    /// Stop processes git-agent started that outlived their session.
    pub reap: bool,
}

/// One thing found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// `worktree-gone`, `worktree-moved`, `repo-moved`, `unknown-worktree`, `prunable`,
    /// `lost`, `quarantined`, `too-new`, `stray` (in `sessions/`, not a record), `stray-process`,
    /// `foreign-process`, `stale-lock`, `stray-container`, `ssh-lost`, `notify-config`.
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
    pub(super) fn new(kind: &'static str, session: Option<&str>, what: String) -> Self {
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

    /// A finding about session `name`: `what` follows its name.
    pub(super) fn about(kind: &'static str, name: &str, what: &str) -> Self {
        Self::new(kind, Some(name), format!("{name}: {what}"))
    }

    /// What `--fix` would do about it.
    pub(super) fn with_fix(self, fix: &str) -> Self {
        Self {
            fix: Some(fix.to_owned()),
            ..self
        }
    }
}

pub(super) fn same(a: &Path, b: &Path) -> bool {
    a == b
        || std::fs::canonicalize(a)
            .ok()
            .zip(std::fs::canonicalize(b).ok())
            .is_some_and(|(x, y)| x == y)
}

/// Runs one fix; a failure is reported on the finding and the other fixes still run.
pub(super) fn attempt(f: &mut Finding, fix: impl FnOnce() -> Result<()>) {
    match fix() {
        Ok(()) => f.fixed = true,
        Err(e) => f.failed = Some(crate::error::Report::from_error(&e).message),
    }
}

/// How old a git lock file or a half-made worktree entry must be before it counts as left
/// behind (a git that is still working renews neither).
pub(super) const LEFT_BEHIND: Duration = Duration::from_secs(10);

pub(super) fn age(path: &Path) -> Duration {
    path.symlink_metadata()
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|m| m.elapsed().ok())
        .unwrap_or_default()
}

/// Everything found (and, with `opts`, fixed), in the order the checks ran.
pub fn check(repo: &Repo, opts: &Options) -> Result<Vec<Finding>> {
    let state = repo.state();
    let listing = state.load_all()?;
    let mut findings = Vec::new();
    let main = repo.main_workdir().map(Path::to_owned);
    // First what makes git itself fail (and so every fix after it): lock files a killed git
    // left, admin directories a killed `git worktree add` left half made.
    locks::check_git_locks(repo, &listing.sessions, opts, &mut findings);
    let half_made = worktrees::check_half_made_entries(repo, &state, opts, &mut findings)?;
    let worktrees = if half_made {
        // `git worktree list` dies on such an entry: the rest waits until it is gone.
        None
    } else {
        Some(repo.worktree_list()?)
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
            let scan = sessions::Scan {
                repo,
                state: &state,
                worktrees,
                main: main.as_deref(),
                opts,
            };
            if let Err(e) = sessions::check_session(scan, s, &mut findings, &mut repair_paths) {
                let mut f = Finding::new(
                    "check-failed",
                    Some(&s.name),
                    format!("{}: could not be checked", s.name),
                );
                f.failed = Some(crate::error::Report::from_error(&e).message);
                findings.push(f);
            }
        }
        if opts.fix && !repair_paths.is_empty() {
            crate::git::repo::serialized(
                repo.common_dir(),
                repo.git().args(["worktree", "repair"]).args(&repair_paths),
            )?;
        }
        worktrees::check_unknown_worktrees(
            repo,
            &listing.sessions,
            worktrees,
            opts,
            &mut findings,
        )?;
        records::check_quarantine(
            repo,
            &state,
            &listing.sessions,
            worktrees,
            opts,
            &mut findings,
        )?;
    }
    processes::check_strays_of_removed(&state, &listing.sessions, opts, &mut findings)?;
    containers::check_containers(&state, &listing.sessions, opts, &mut findings)?;
    remote::check_disconnected(repo, &listing.sessions, opts, &mut findings);
    notify::check_settings(&repo.config(), &mut findings);
    Ok(findings)
}
