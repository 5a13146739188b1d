//! `agent/watching`: the session the user is looking at in `git agent watch`, so that
//! notifications can leave it out (the user sees it change already).
//!
//! Format: one JSON object, written atomically (temporary file, rename) whenever watch's
//! selection changes, `{"session": "NAME", "process": {"pid": PID, "start": "…"}}` naming the
//! watch process (its pid and start time, so a reused pid is not taken for it). Watch removes
//! the file when it quits and when it shows no session. A file whose process is no longer alive
//! (watch was killed) means nothing: [`read`] returns `None` for it, as for a missing or
//! unreadable file. With two watches open, the last one to move its selection wins.
//! `crate::notify` reads it to hold the notices of the session on screen.
//!
//! Owns only this file: it neither locks the state nor reads the records.

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::StateDir;
use crate::procs::ProcessRef;

/// The content of `agent/watching`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watching {
    /// The session shown.
    pub session: String,
    /// The `watch` process showing it.
    pub process: ProcessRef,
}

fn path(state: &StateDir) -> PathBuf {
    state.root().join("watching")
}

/// Records that this process shows `session` (replacing any earlier record).
pub fn write(state: &StateDir, session: &str) -> Result<()> {
    let value = Watching {
        session: session.to_owned(),
        process: ProcessRef::current(),
    };
    super::write_atomically(state.root(), &path(state), &value)
}

/// Removes the record if it is this process's (another watch's stays).
pub fn clear(state: &StateDir) {
    if read(state).is_some_and(|w| w.process == ProcessRef::current()) {
        // Best effort: a file left behind names a dead pid, which readers ignore.
        let _ = std::fs::remove_file(path(state));
    }
}

/// The session a live `watch` shows, if any.
pub fn read(state: &StateDir) -> Option<Watching> {
    let text = std::fs::read(path(state)).ok()?;
    let watching: Watching = serde_json::from_slice(&text).ok()?;
    watching.process.is_alive().then_some(watching)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_read_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::at(dir.path());
        std::fs::create_dir_all(state.root()).unwrap();
        assert_eq!(read(&state), None);
        write(&state, "fix-login").unwrap();
        assert_eq!(
            read(&state),
            Some(Watching {
                session: "fix-login".into(),
                process: ProcessRef::current()
            })
        );
        clear(&state);
        assert_eq!(read(&state), None);
        assert!(!path(&state).exists());
    }

    #[test]
    fn a_dead_watchers_record_means_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::at(dir.path());
        std::fs::create_dir_all(state.root()).unwrap();
        // Far above any pid_max: no such process.
        std::fs::write(path(&state), r#"{"session": "x", "pid": 2147483000}"#).unwrap();
        assert_eq!(read(&state), None);
    }
}
