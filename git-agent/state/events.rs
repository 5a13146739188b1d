//! `events.jsonl`: the append-only log of state changes of all sessions ([`Event`]).
//!
//! Owns the line format (part of the schema: `git agent events` prints it) and appending one
//! line with one `write`. Must not read or change session records.

use std::fs::OpenOptions;
use std::io::Write as _;

use anyhow::{Context as _, Result};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::StateDir;
use crate::session::State;

/// One line of `events.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub version: u32,
    pub time: Timestamp,
    /// The session; empty for what concerns the whole repository (`paused`, `unpaused`).
    pub session: String,
    /// What happened: `created`, `state`, `stop-requested`, `committed`, `removed`…
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Event {
    pub fn new(session: &str, event: &str) -> Self {
        Self {
            version: 1,
            time: crate::time::now(),
            session: session.to_owned(),
            event: event.to_owned(),
            state: None,
            detail: None,
        }
    }

    pub fn state(session: &str, state: State, detail: Option<String>) -> Self {
        Self {
            state: Some(state),
            detail,
            ..Self::new(session, "state")
        }
    }
}

impl StateDir {
    /// Moves session `name` into `to`: the record (with what `f` adds) under the lock, then
    /// the state event with `detail`.
    pub fn enter(
        &self,
        name: &str,
        to: State,
        detail: Option<String>,
        f: impl FnOnce(&mut crate::session::Session),
    ) -> Result<()> {
        self.update(name, |s| {
            s.state = to;
            f(s);
            Ok(())
        })?;
        self.append_event(&Event::state(name, to, detail))
    }

    /// Appends one event to `events.jsonl` (one `write`, so lines never interleave).
    pub fn append_event(&self, event: &Event) -> Result<()> {
        let path = self.events_path();
        let mut line = serde_json::to_vec(event)?;
        line.push(b'\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("could not open {}", path.display()))?;
        file.write_all(&line)
            .with_context(|| format!("could not write {}", path.display()))
    }
}
