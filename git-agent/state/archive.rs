//! `archive/`: where removed sessions go, record and files, never silently deleted.
//!
//! Owns moving a removed session out of `sessions/` ([`StateDir::archive`],
//! [`StateDir::retire`]) and reading the archived records back. Must not decide whether a
//! session may be removed: that is the removal operation's job, before it calls these.

use std::fs;

use anyhow::{Context as _, Result};

use super::{LockGuard, StateDir, write_atomically};
use crate::session::Session;

impl StateDir {
    /// Records of removed sessions, from `archive/`.
    pub fn load_archive(&self) -> Result<Vec<Session>> {
        let dir = self.archive_dir();
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut sessions = Vec::new();
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json")
                && let Ok(text) = fs::read_to_string(&path)
                && let Ok(s) = serde_json::from_str::<Session>(&text)
            {
                sessions.push(s);
            }
        }
        Ok(sessions)
    }

    /// Moves a removed session to `archive/`: its record (as given, with `removed` filled in)
    /// is written there first, then its files follow and its live record goes
    /// ([`StateDir::retire`]). Requires the lock.
    pub fn archive(&self, lock: &LockGuard, record: &Session) -> Result<()> {
        crate::names::validate(&record.name)?;
        let dir = self.archive_dir();
        std::fs::create_dir_all(&dir)?;
        let stamp = crate::time::now().as_second();
        write_atomically(
            &dir,
            &unused(&dir, &format!("{}.{stamp}", record.name), ".json"),
            record,
        )?;
        crate::faults::point("rm:archived");
        self.retire(lock, &record.name)
    }

    /// The second half of [`StateDir::archive`] (also what `doctor --fix` finishes after an
    /// interrupted removal): the session's files move to `archive/`, its live record goes.
    pub fn retire(&self, _lock: &LockGuard, name: &str) -> Result<()> {
        crate::names::validate(name)?;
        let files = self.session_dir(name);
        if files.exists() {
            let stamp = crate::time::now().as_second();
            let dest = unused(&self.archive_dir(), &format!("{name}.{stamp}"), "");
            fs::rename(&files, &dest)
                .with_context(|| format!("could not archive {}", files.display()))?;
        }
        let record = self.record_path(name);
        fs::remove_file(&record).with_context(|| format!("could not remove {}", record.display()))
    }
}

/// `dir/<stem><ext>`, or `dir/<stem>-2<ext>`, `-3`… if that is taken: a session (or plan) of
/// the same name removed in the same second must not replace the one archived before it.
pub(super) fn unused(dir: &std::path::Path, stem: &str, ext: &str) -> std::path::PathBuf {
    let mut path = dir.join(format!("{stem}{ext}"));
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("{stem}-{n}{ext}"));
        n += 1;
    }
    path
}
