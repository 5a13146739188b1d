//! Doctor's check of sessions whose agent runs on another machine (the SSH runner): a run
//! whose connection was lost while the remote session may still run (`ssh-lost`). `--fix`
//! reconnects it, as `git agent resume` does: a new run whose supervisor follows the remote
//! session to its end and fetches its branch back; the agent over there is never started
//! again for it, nor told anything.
//!
//! Without `--fix` nothing is touched and the remote machine is not contacted (an
//! unreachable host never slows the doctor down). Never prints.

use super::{Finding, Options, attempt};
use crate::git::repo::Repo;
use crate::session::{RunKind, RunnerRecord, Session, State};

/// What a reconnecting run records as its prompt (the remote agent is told nothing).
const RECONNECTED: &str = "Reconnected by 'git agent doctor --fix' after the connection was \
lost: following the remote session to its end.";

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
