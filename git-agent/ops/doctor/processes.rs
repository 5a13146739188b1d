//! Doctor's checks of processes: ones git-agent started that outlived their session
//! (`--reap` stops them) and ones working in a session's worktree without our mark (only
//! mentioned, never touched).
//!
//! Owns signalling processes tagged with a session's run token, and no other. Never prints.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::{Finding, Options};
use crate::session::Session;
use crate::state::StateDir;

/// Processes of removed sessions that are still around.
pub(super) fn check_strays_of_removed(
    state: &StateDir,
    sessions: &[Session],
    opts: &Options,
    findings: &mut Vec<Finding>,
) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for s in state.load_archive()? {
        if sessions.iter().any(|l| l.name == s.name) || !seen.insert(s.name.clone()) {
            continue;
        }
        for p in crate::procs::find(s.run_token.as_deref(), None) {
            findings.push(stray(&s.name, p, opts));
        }
    }
    Ok(())
}

fn stray(name: &str, p: crate::procs::Found, opts: &Options) -> Finding {
    let mut f = Finding::new(
        "stray-process",
        Some(name),
        format!(
            "{name}: process {} ({}) was started by its agent and outlived the session",
            p.pid, p.command
        ),
    );
    f.fix = Some("--reap stops it (SIGTERM, then SIGKILL)".into());
    if opts.reap {
        crate::procs::terminate(std::slice::from_ref(&p), Duration::from_secs(5));
        f.fixed = true;
    }
    f
}

pub(super) fn check_processes(
    name: &str,
    token: Option<&str>,
    worktree: Option<&Path>,
    opts: &Options,
    findings: &mut Vec<Finding>,
) -> Result<()> {
    for p in crate::procs::find(token, worktree) {
        if p.tagged {
            findings.push(stray(name, p, opts));
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
