//! Doctor's check of containers: ones of ours (labelled with this repository) whose session
//! no longer runs, left by a crash; `--fix` removes them. A container without our label for
//! this repository is never looked at.
//!
//! Only engines a session of this repository used are asked (a user who never ran an agent
//! in a container never waits for a Docker daemon here). Never prints.

use std::collections::BTreeSet;

use anyhow::Result;

use super::{Finding, Options, attempt};
use crate::runner::container::Engine;
use crate::session::{RunnerRecord, Session, State};
use crate::state::StateDir;

/// Leftover containers of ours.
pub(super) fn check_containers(
    state: &StateDir,
    sessions: &[Session],
    opts: &Options,
    findings: &mut Vec<Finding>,
) -> Result<()> {
    let archived = state.load_archive().unwrap_or_default();
    let engines: BTreeSet<(String, Option<String>)> = sessions
        .iter()
        .chain(&archived)
        .filter_map(|s| match &s.runner {
            Some(RunnerRecord::Container(c)) => Some((c.engine.clone(), c.host.clone())),
            _ => None,
        })
        .collect();
    let repo = state.root().parent().unwrap_or(state.root());
    for (program, host) in engines {
        let engine = Engine::new(&program, host.as_deref());
        let ours = match engine.ours(repo, None) {
            Ok(ours) => ours,
            Err(e) => {
                let mut f = Finding::new(
                    "container-check",
                    None,
                    format!("could not list the {program} containers of this repository"),
                );
                f.failed = Some(crate::error::Report::from_error(&e).message);
                f.info = true;
                findings.push(f);
                continue;
            }
        };
        for c in ours {
            // A running session's container is its own; a lost one's goes with its `lost` fix.
            let owner = sessions.iter().find(|s| s.name == c.session);
            if owner.is_some_and(|s| {
                let live = s.live_state();
                live.is_active() || live == State::Lost
            }) {
                continue;
            }
            // A clone's container without its session (left by `rm --force`): only its
            // clone may hold the agent's work, and nothing here can take it back. The user
            // copies it out and removes it.
            if owner.is_none() && c.clone {
                findings.push(Finding::new(
                    "stray-container",
                    Some(&c.session),
                    format!(
                        "{}: {program} container {} outlived its session and may hold its agent's clone (copy /git-agent out of it: {program} cp {}:/git-agent DIR; then {program} rm {})",
                        c.session,
                        crate::session::short_id(&c.id),
                        crate::session::short_id(&c.id),
                        crate::session::short_id(&c.id),
                    ),
                ));
                continue;
            }
            let mut f = Finding::new(
                "stray-container",
                Some(&c.session),
                format!(
                    "{}: {program} container {} ({}) outlived its session",
                    c.session,
                    crate::session::short_id(&c.id),
                    if c.running { "running" } else { "stopped" },
                ),
            )
            .with_fix(&format!("remove it ({program} rm -f)"));
            if opts.fix {
                // Its session's runner removes it: a clone's work is kept before it goes.
                attempt(&mut f, || match owner.filter(|s| s.runner.is_some()) {
                    Some(s) => crate::runner::for_session(state, s).clean_up(),
                    None => engine.remove(std::slice::from_ref(&c.id)),
                });
            }
            findings.push(f);
        }
    }
    Ok(())
}
