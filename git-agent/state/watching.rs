//! `agent/watching`: the session the user is looking at in `git agent watch`, so that
//! notifications can leave it out (the user sees it change already).
//!
//! Format: one JSON object, written atomically (temporary file, rename) whenever watch's
//! selection changes, `{"session": "NAME", "pid": PID}` with `pid` the watch process. Watch
//! removes the file when it quits and when it shows no session. A file whose `pid` is no longer
//! alive (watch was killed) means nothing: [`read`] returns `None` for it, as for a missing or
//! unreadable file. With two watches open, the last one to move its selection wins.
//!
//! Owns only this file: it neither locks the state nor reads the records.

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::StateDir;

/// The content of `agent/watching`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watching {
    /// The session shown.
    pub session: String,
    /// The `watch` process showing it.
    pub pid: u32,
}

fn path(state: &StateDir) -> PathBuf {
    state.root().join("watching")
}

/// Records that this process shows `session` (replacing any earlier record).
pub fn write(state: &StateDir, session: &str) -> Result<()> {
    let value = Watching {
        session: session.to_owned(),
        pid: std::process::id(),
    };
    super::write_atomically(state.root(), &path(state), &value)
}

/// Removes the record if it is this process's (another watch's stays).
pub fn clear(state: &StateDir) {
    if read(state).is_some_and(|w| w.pid == std::process::id()) {
        // Best effort: a file left behind names a dead pid, which readers ignore.
        let _ = std::fs::remove_file(path(state));
    }
}

/// The session a live `watch` shows, if any.
pub fn read(state: &StateDir) -> Option<Watching> {
    let text = std::fs::read(path(state)).ok()?;
    let watching: Watching = serde_json::from_slice(&text).ok()?;
    let pid = i32::try_from(watching.pid).ok()?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
        .is_ok()
        .then_some(watching)
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
                pid: std::process::id()
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
