//! Doctor's check of sessions whose agent runs on another machine (the SSH runner): a run
//! whose connection was lost while the remote session may still run (`ssh-lost`), and the
//! fix of a `lost` one (its supervisor here gone). `--fix` reconnects it, as `git agent
//! resume` does: a new run whose supervisor follows the remote session to its end and
//! fetches its branch back; the agent over there is never stopped, started again, nor told
//! anything.
//!
//! Without `--fix` nothing is touched and the remote machine is not contacted (an
//! unreachable host never slows the doctor down). Never prints.

use anyhow::Result;

use super::{Finding, Options, attempt};
use crate::git::repo::Repo;
use crate::session::{RunKind, RunnerRecord, Session, State};
use crate::state::StateDir;

/// What a reconnecting run records as its prompt (the remote agent is told nothing).
const RECONNECTED: &str = "Reconnected by 'git agent doctor --fix': following the remote \
session to its end.";

/// SSH sessions that lost their connection.
pub(super) fn check_disconnected(
    repo: &Repo,
    sessions: &[Session],
    opts: &Options,
    findings: &mut Vec<Finding>,
) {
    for s in sessions {
        let Some(RunnerRecord::Ssh(r)) = &s.runner else {
            continue;
        };
        let (Some(remote), Some(_)) = (&r.remote_name, r.disconnected) else {
            continue;
        };
        // A live run follows it (or reconnects now); a lost one is `lost`'s business.
        let live = s.live_state();
        if live.is_active() || live == State::Lost {
            continue;
        }
        let mut f = Finding::about(
            "ssh-lost",
            &s.name,
            &format!(
                "the connection to {} was lost; its session '{remote}' there may still run, \
                 and what it made since is not here",
                r.host
            ),
        );
        if !s.worktree.is_dir() {
            f.what.push_str(&format!(
                "; its worktree {} is gone, so it cannot be followed here",
                s.worktree.display()
            ));
            findings.push(f);
            continue;
        }
        f = f.with_fix(
            "reconnect: follow the remote session to its end and fetch its branch back \
             (its agent is not started again)",
        );
        if opts.fix {
            attempt(&mut f, || {
                crate::ops::send::deliver_as(repo, &s.name, RECONNECTED, false, RunKind::Resume)
                    .map(drop)
            });
        }
        findings.push(f);
    }
}

/// What `--fix` does about a `lost` session whose agent runs on another machine, if it is
/// one (`None`: stop it, as any other).
pub(super) fn lost_fix(s: &Session) -> Option<String> {
    match &s.runner {
        Some(RunnerRecord::Ssh(r)) if r.remote_name.is_some() && s.worktree.is_dir() => {
            Some(format!(
                "record the end here and reconnect to its session on {} (its agent there goes on)",
                r.host
            ))
        }
        _ => None,
    }
}

/// The fix of [`lost_fix`]: false, with nothing done, where it does not apply.
pub(super) fn reconnect_lost(repo: &Repo, state: &StateDir, s: &Session) -> Result<bool> {
    if lost_fix(s).is_none() {
        return Ok(false);
    }
    let why = "its supervisor was lost; 'git agent doctor --fix' reconnects to its agent";
    if !crate::ops::stop::let_go_lost(state, s, why)? {
        return Ok(false);
    }
    crate::ops::send::deliver_as(repo, &s.name, RECONNECTED, false, RunKind::Resume)?;
    Ok(true)
}
