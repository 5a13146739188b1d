//! Follow-ups: the next run of a session (`git agent send`, or a queued message the
//! supervisor delivers when a run ends) and the queue of messages waiting for it.
//!
//! Owns the run's prompt file and the session's queue folder. It prepares a run in the
//! record it is given but never writes the record nor starts a process: callers do, under
//! the state lock (see `enqueue`).

use anyhow::{Context as _, Result};

use crate::agents::{self, Bindings};
use crate::session::{Run, RunKind, Session, State};
use crate::state::StateDir;

/// Builds the next run of a session for a follow-up `message`: the agent's own conversation
/// is resumed when the profile can, otherwise it gets the original task plus the message.
/// Writes the run's prompt file.
pub fn followup_run(state: &StateDir, s: &Session, message: &str, kind: RunKind) -> Result<Run> {
    let n = u32::try_from(s.runs.len())
        .unwrap_or(u32::MAX)
        .saturating_add(1);
    let prompt_file = state.run_prompt_path(&s.name, n);
    let session_id = s.agent_session_id.as_deref();
    let (prompt, template, resumed) = match agents::resume_template(&s.agent, session_id) {
        Some(template) => (message.to_owned(), template.to_vec(), true),
        // Its own arguments take up the conversation it was made to (`fork`), if any.
        None => (
            format!("{}\n\nFollow-up:\n{message}", s.prompt),
            s.agent.args.clone(),
            s.conversation.is_some() && s.runs.first().is_some_and(|r| r.resumed),
        ),
    };
    std::fs::create_dir_all(state.session_dir(&s.name))?;
    std::fs::write(&prompt_file, format!("{prompt}\n"))
        .with_context(|| format!("could not write {}", prompt_file.display()))?;
    let args = agents::bind(
        &s.agent,
        &template,
        &Bindings {
            prompt: &prompt,
            prompt_file: &prompt_file,
            session_id,
        },
    );
    Ok(Run::new(n, kind, prompt, args, resumed))
}

/// Puts `run` in place as the session's next run, ready for a supervisor to start it.
pub fn prepare_next(s: &mut Session, run: Run) {
    s.runs.push(run);
    s.state = State::Starting;
    s.reason = None;
    s.exit = None;
    s.commit = None;
    s.started_at = None;
    s.ended_at = None;
    s.stop_requested = None;
    s.status = None;
}

/// Queued follow-ups, oldest first.
fn queued(state: &StateDir, name: &str) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(state.queue_dir(name)) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files
}

/// Adds a follow-up to the queue. Requires the state lock (the supervisor decides under the
/// same lock whether to deliver it or end the session).
pub fn enqueue(
    state: &StateDir,
    _lock: &crate::state::LockGuard,
    name: &str,
    message: &str,
) -> Result<usize> {
    let dir = state.queue_dir(name);
    std::fs::create_dir_all(&dir)?;
    let stamp = crate::time::now().as_nanosecond();
    std::fs::write(dir.join(format!("{stamp:032}.md")), message)?;
    Ok(queued(state, name).len())
}

/// Removes and returns the oldest queued follow-up.
pub(super) fn dequeue(state: &StateDir, name: &str) -> Result<Option<String>> {
    let Some(path) = queued(state, name).into_iter().next() else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path)?;
    std::fs::remove_file(&path)?;
    Ok(Some(text))
}

/// Drops every queued follow-up (the user stopped the agent); returns how many.
pub(super) fn drop_queue(state: &StateDir, name: &str) -> usize {
    let files = queued(state, name);
    for f in &files {
        let _ = std::fs::remove_file(f);
    }
    files.len()
}
