//! The environment the supervisor gives what it starts: the agent (`GIT_AGENT_*`, ports,
//! the profile's own variables) and setup/run commands (the same, plus Kilo's names).
//!
//! Owns only the building of these lists: it reads the session record, never writes it, and
//! starts nothing.

use std::path::Path;

use crate::session::{Run, RunKind, Session};
use crate::state::StateDir;

/// The environment every agent gets on top of its (scrubbed) inherited one.
pub fn agent_env(state: &StateDir, s: &Session, run: &Run) -> Vec<(String, String)> {
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let mut env = vec![
        ("GIT_AGENT_NAME".to_owned(), s.name.clone()),
        ("GIT_AGENT_WORKTREE".to_owned(), path(&s.worktree)),
        ("GIT_AGENT_REPO".to_owned(), path(&s.repo)),
        ("GIT_AGENT_BRANCH".to_owned(), s.branch.clone()),
        ("GIT_AGENT_BASE".to_owned(), s.base.commit.clone()),
        (
            "GIT_AGENT_BASE_REF".to_owned(),
            s.base.ref_name.clone().unwrap_or_default(),
        ),
        ("GIT_AGENT_PROMPT".to_owned(), run.prompt.clone()),
        (
            "GIT_AGENT_PROMPT_FILE".to_owned(),
            path(&state.run_prompt_path(&s.name, run.n)),
        ),
        ("GIT_AGENT_TASK".to_owned(), s.prompt.clone()),
        ("GIT_AGENT_RUN".to_owned(), run.n.to_string()),
        (
            "GIT_AGENT_STATUS_FILE".to_owned(),
            path(&state.status_path(&s.name)),
        ),
    ];
    // Tags what the agent (and the setup hook, which runs here too) starts; `exec` and
    // `run` leave it out (see `procs::TOKEN_VAR`).
    if let Some(token) = &s.run_token {
        env.push((crate::procs::TOKEN_VAR.to_owned(), token.clone()));
    }
    if let Some(g) = &s.group {
        env.push(("GIT_AGENT_GROUP".to_owned(), g.id.clone()));
        env.push(("GIT_AGENT_VARIANT".to_owned(), g.index.to_string()));
    }
    env.extend(crate::state::ports::env(&s.ports));
    env.extend(s.agent.env.iter().cloned());
    env
}

/// The environment of setup and run commands: the agent's, plus the names Kilo's run
/// script uses.
pub fn command_env(state: &StateDir, s: &Session) -> Vec<(String, String)> {
    let fallback;
    let run = match s.run() {
        Some(r) => r,
        None => {
            fallback = Run::new(1, RunKind::New, s.prompt.clone(), Vec::new(), false);
            &fallback
        }
    };
    let mut env = agent_env(state, s, run);
    env.push((
        "WORKTREE_PATH".to_owned(),
        s.worktree.to_string_lossy().into_owned(),
    ));
    env.push((
        "REPO_PATH".to_owned(),
        s.repo.to_string_lossy().into_owned(),
    ));
    env
}
