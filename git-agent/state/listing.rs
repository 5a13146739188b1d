//! Reading every record at once, and what to do with the ones that cannot be used:
//! [`Listing`], [`Problem`], quarantine of damaged records, and the too-new and stray reports.
//!
//! Owns the rule that a bad record is reported (and, if damaged, moved to `quarantine/`)
//! while the others keep working. Must not write records: only moves damaged ones aside.

use std::fs;

use anyhow::{Context as _, Result};

use super::{Event, LockGuard, Read, StateDir};
use crate::session::{SCHEMA_VERSION, Session};

/// A record that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `damaged` (moved to quarantine), `too-new` (left alone) or `stray` (not a record of
    /// ours: left alone).
    pub kind: &'static str,
    pub name: String,
    pub message: String,
}

/// All readable records, plus what was wrong with the others.
#[derive(Debug, Default)]
pub struct Listing {
    pub sessions: Vec<Session>,
    pub problems: Vec<Problem>,
}

impl StateDir {
    /// Moves a damaged record aside, re-checking under the lock that it is still damaged
    /// (and still a record: a regular file of `sessions/` with a valid name; see
    /// [`Read`](super::Read)).
    pub(super) fn quarantine(&self, name: &str, why: &str) -> Result<Problem> {
        let _lock = self.lock()?;
        match self.read(name)? {
            Read::Damaged(_) => {}
            Read::Stray(why) => return Ok(Self::stray(name, &why)),
            _ => {
                return Ok(Problem {
                    kind: "damaged",
                    name: name.into(),
                    message: String::new(),
                });
            }
        }
        let stamp = crate::time::now().as_second();
        let target = self.quarantine_dir().join(format!("{name}.json.{stamp}"));
        fs::rename(self.record_path(name), &target)
            .with_context(|| format!("could not move damaged record to {}", target.display()))?;
        let _ = self.append_event(&Event {
            detail: Some(why.to_owned()),
            ..Event::new(name, "quarantined")
        });
        Ok(Problem {
            kind: "damaged",
            name: name.into(),
            message: format!(
                "session record '{name}' is damaged ({why}); moved it to {}",
                target.display()
            ),
        })
    }

    pub(super) fn too_new(name: &str, version: u64) -> Problem {
        Problem {
            kind: "too-new",
            name: name.into(),
            message: format!(
                "session record '{name}' was written by a newer git-agent (schema {version}, this one reads {SCHEMA_VERSION}); left it alone"
            ),
        }
    }

    /// Something in `sessions/` that is not a record of ours.
    pub(super) fn stray(name: &str, why: &str) -> Problem {
        Problem {
            kind: "stray",
            name: name.into(),
            message: format!("sessions/{name}.json is not a session record ({why}); left it alone"),
        }
    }

    /// Names of all records (valid names of regular files), sorted.
    pub fn names(&self) -> Result<Vec<String>> {
        Ok(self
            .candidates()?
            .into_iter()
            .filter(|n| {
                crate::names::check(n).is_ok()
                    && fs::symlink_metadata(self.record_path(n)).is_ok_and(|m| m.is_file())
            })
            .collect())
    }

    /// Every `sessions/<x>.json` entry, whatever it is, sorted: what [`StateDir::load_all`]
    /// looks at (and reports when it is not a record).
    fn candidates(&self) -> Result<Vec<String>> {
        let dir = self.sessions_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("could not read {}", dir.display())),
        };
        let mut names = Vec::new();
        for entry in entries {
            let file_name = entry?.file_name();
            let file_name = file_name.to_string_lossy();
            if let Some(name) = file_name.strip_suffix(".json")
                && !name.starts_with('.')
            {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Every readable record, for a caller holding the state lock: damaged or unreadable ones
    /// are skipped here (quarantining them takes the lock; `load_all` does it).
    pub fn load_readable(&self, _lock: &LockGuard) -> Result<Vec<Session>> {
        let mut sessions = Vec::new();
        for name in self.candidates()? {
            if let Read::Ok(s) = self.read(&name)? {
                sessions.push(*s);
            }
        }
        Ok(sessions)
    }

    /// Loads every session; damaged records are quarantined and reported, not fatal.
    pub fn load_all(&self) -> Result<Listing> {
        let mut listing = Listing::default();
        for name in self.candidates()? {
            match self.read(&name)? {
                Read::Ok(s) => listing.sessions.push(*s),
                Read::Missing => {} // removed meanwhile
                Read::TooNew(v) => listing.problems.push(Self::too_new(&name, v)),
                Read::Stray(why) => listing.problems.push(Self::stray(&name, &why)),
                Read::Damaged(why) => {
                    let problem = self.quarantine(&name, &why)?;
                    if problem.message.is_empty() {
                        listing.sessions.push(self.load(&name)?);
                    } else {
                        listing.problems.push(problem);
                    }
                }
            }
        }
        Ok(listing)
    }

    /// The other records in `s`'s worktree (`new --in` makes sessions that share one): while
    /// there is one, the worktree and its branch are not `s`'s alone to remove or commit in.
    /// Unreadable records are skipped.
    pub fn sharing(&self, s: &Session) -> Result<Vec<Session>> {
        let mut others = Vec::new();
        for name in self.candidates()? {
            if name != s.name
                && let Read::Ok(o) = self.read(&name)?
                && o.worktree == s.worktree
            {
                others.push(*o);
            }
        }
        Ok(others)
    }

    /// Another session whose agent still works (or is queued to work) in `s`'s worktree
    /// (`new --in`), if one does: while it does, nobody commits or lands what the worktree
    /// holds, for its files may be half-written. Unreadable records are skipped.
    pub fn running_alongside(&self, s: &Session) -> Option<Session> {
        self.sharing(s)
            .unwrap_or_default()
            .into_iter()
            .find(|o| o.live_state().is_active())
    }

    /// The records of the named sessions, in that order; the first unknown name is an error.
    pub fn load_each(&self, names: &[String]) -> Result<Vec<Session>> {
        names.iter().map(|n| self.load(n)).collect()
    }
}
