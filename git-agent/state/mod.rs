//! The state directory `<git-common-dir>/agent/`, shared by every worktree of a repository.
//!
//! ```text
//! agent/
//!   lock                      held (flock) by every state change; short critical sections
//!   worktree.lock             held while `git worktree add` runs (git races with itself)
//!   locks/<name>.lock         held while session <name> is removed (or merge builds in it)
//!   locks/<name>.hold         held by `merge` from its first check to its end, and by
//!                             `send` while it starts a run: no run starts under a merge
//!   events.jsonl              append-only log of state changes of all sessions
//!   sessions/<name>.json      one record per session (see `session/`)
//!   sessions/<name>/log       the agent's stdout and stderr
//!   sessions/<name>/prompt.md the task as given (prompt-<n>.md: the prompt of run n)
//!   sessions/<name>/queue/    follow-ups waiting for the current run to end
//!   sessions/<name>/status    what the agent reports about itself (GIT_AGENT_STATUS_FILE)
//!   sessions/<name>/supervisor.log  the supervisor's own diagnostics
//!   archive/                  records of removed sessions, never silently deleted
//!   quarantine/               records that failed to parse, moved aside
//!   plans/<name>.json         running plans (see `plans.rs`)
//!   watching                  the session `git agent watch` shows (see `watching.rs`)
//!   notify.log, notify-skipped    notifications' (owned by `crate::notify`)
//! ```
//!
//! Invariants (DESIGN.md §5.5):
//! - Records are written atomically (temporary file in the same directory, fsync, rename)
//!   while holding `lock`, so a reader never sees a half-written record and two writers never
//!   lose each other's update (use [`StateDir::update`] for read-modify-write).
//! - Reads take no lock.
//! - A record that fails to parse is moved to `quarantine/` and reported; the others keep
//!   working. A record from a newer schema is reported and left untouched.
//! - Every entry point that takes a session name checks it ([`crate::names::validate`]), so
//!   no name reaches a path outside `sessions/`; only a regular file `sessions/<name>.json`
//!   with a valid name is ever read as a record or moved to quarantine. Anything else there
//!   (a folder `v1.json/`, a file with an invalid name) is reported and left alone.
//! - The lock is an OS file lock (`flock`), released by the kernel when its holder dies, so a
//!   crashed command never leaves a stale lock behind.
//!
//! This folder owns the directory and its files: paths, reading and writing records
//! (here), locks (`locks.rs`), loading every record and quarantine (`listing.rs`), the
//! archive (`archive.rs`), the event log (`events.rs`), what `watch` shows (`watching.rs`), the commit-keyed cache
//! (`cache.rs`), reserved ports (`ports.rs`), review rounds (`rounds.rs`) and the status file
//! an agent reports through (`status.rs`). It must not run git or agents (`ports.rs` only
//! binds 127.0.0.1 to see a port is free), nor decide what a session's state means (that is
//! [`crate::session`]).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::error::Failure;
use crate::session::{SCHEMA_VERSION, Session};

mod archive;
pub mod cache;
mod events;
mod listing;
mod locks;
pub mod plans;
pub mod ports;
pub mod rounds;
pub mod status;
pub mod watching;

pub use events::Event;
pub use listing::{Listing, Problem};
pub use locks::LockGuard;

/// The state directory of one repository.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// What [`StateDir::read`] found under a name.
enum Read {
    Missing,
    Ok(Box<Session>),
    TooNew(u64),
    Damaged(String),
    /// Not a record: an invalid name, or not a regular file (why).
    Stray(String),
}

impl StateDir {
    /// The state directory of the repository whose common git directory is `common_dir`.
    pub fn at(common_dir: &Path) -> Self {
        Self {
            root: common_dir.join("agent"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn sessions_dir(&self) -> PathBuf {
        self.root.join("sessions")
    }

    pub fn archive_dir(&self) -> PathBuf {
        self.root.join("archive")
    }

    pub fn quarantine_dir(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    pub fn events_path(&self) -> PathBuf {
        self.root.join("events.jsonl")
    }

    pub fn record_path(&self, name: &str) -> PathBuf {
        self.sessions_dir().join(format!("{name}.json"))
    }

    /// Per-session files: log, prompt, supervisor diagnostics.
    pub fn session_dir(&self, name: &str) -> PathBuf {
        self.sessions_dir().join(name)
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.session_dir(name).join("log")
    }

    pub fn prompt_path(&self, name: &str) -> PathBuf {
        self.session_dir(name).join("prompt.md")
    }

    /// The prompt of run `n` (run 1 is the task, `prompt.md`).
    pub fn run_prompt_path(&self, name: &str, n: u32) -> PathBuf {
        if n <= 1 {
            self.prompt_path(name)
        } else {
            self.session_dir(name).join(format!("prompt-{n}.md"))
        }
    }

    /// Follow-ups waiting for the current run to end (`git agent send --queue`).
    pub fn queue_dir(&self, name: &str) -> PathBuf {
        self.session_dir(name).join("queue")
    }

    /// Present while `git agent pause` holds the queue and automatic retries.
    pub fn paused_path(&self) -> PathBuf {
        self.root.join("paused")
    }

    pub fn supervisor_log_path(&self, name: &str) -> PathBuf {
        self.session_dir(name).join("supervisor.log")
    }

    /// The file an agent may write its status to (`GIT_AGENT_STATUS_FILE`).
    pub fn status_path(&self, name: &str) -> PathBuf {
        self.session_dir(name).join("status")
    }

    /// Creates the directory layout.
    pub fn ensure(&self) -> Result<()> {
        for dir in [
            self.sessions_dir(),
            self.archive_dir(),
            self.quarantine_dir(),
        ] {
            fs::create_dir_all(&dir)
                .with_context(|| format!("could not create {}", dir.display()))?;
        }
        Ok(())
    }

    fn read(&self, name: &str) -> Result<Read> {
        if let Err(e) = crate::names::check(name) {
            return Ok(Read::Stray(e.message));
        }
        let path = self.record_path(name);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => {}
            Ok(m) if m.is_dir() => return Ok(Read::Stray("it is a folder".into())),
            Ok(_) => return Ok(Read::Stray("it is not a regular file".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Read::Missing),
            Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
        }
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Read::Missing),
            Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
        };
        let value: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => return Ok(Read::Damaged(e.to_string())),
        };
        if let Some(v) = value.get("version").and_then(serde_json::Value::as_u64)
            && v > u64::from(SCHEMA_VERSION)
        {
            return Ok(Read::TooNew(v));
        }
        match serde_json::from_value::<Session>(value) {
            Ok(s) if s.name == name => Ok(Read::Ok(Box::new(s))),
            Ok(s) => Ok(Read::Damaged(format!("it names session '{}'", s.name))),
            Err(e) => Ok(Read::Damaged(e.to_string())),
        }
    }

    /// Loads one session. Missing, damaged and too-new records are errors for the user.
    /// [`StateDir::load`] for a caller about to act on the derived state: a session that looks
    /// `lost` is read again over a short while before it is taken for lost, because a
    /// supervisor writes the end of a run and then exits, and a record read just before that
    /// end, checked just after the exit, looks lost. Only a session that really is lost pays
    /// the wait.
    pub fn load_settled(&self, name: &str) -> Result<Session> {
        let mut s = self.load(name)?;
        for pause_ms in [0, 20, 50, 100, 200] {
            if s.live_state() != crate::session::State::Lost {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(pause_ms));
            s = self.load(name)?;
        }
        Ok(s)
    }

    pub fn load(&self, name: &str) -> Result<Session> {
        crate::names::validate(name)?;
        match self.read(name)? {
            Read::Ok(s) => Ok(*s),
            Read::Missing => Err(no_such_session(name)),
            Read::TooNew(v) => Err(Failure::fatal(Self::too_new(name, v).message)
                .hint("upgrade git-agent to work with this session")
                .into()),
            Read::Damaged(why) => {
                let problem = self.quarantine(name, &why)?;
                if problem.message.is_empty() {
                    return self.load(name);
                }
                if problem.kind == "stray" {
                    return Err(Failure::fatal(problem.message).into());
                }
                Err(Failure::fatal(problem.message)
                    .hint("'git agent doctor' can rebuild it from the worktree and branch")
                    .into())
            }
            Read::Stray(why) => Err(Failure::fatal(Self::stray(name, &why).message)
                .hint(format!(
                    "it is not git-agent's; move it out of {}",
                    self.sessions_dir().display()
                ))
                .into()),
        }
    }

    /// True if a record (readable or not) exists under this name (never for an invalid name).
    pub fn exists(&self, name: &str) -> bool {
        crate::names::check(name).is_ok()
            && (self.record_path(name).exists() || self.session_dir(name).exists())
    }

    /// Writes a record atomically. Requires the lock.
    pub fn write(&self, _lock: &LockGuard, session: &Session) -> Result<()> {
        crate::names::validate(&session.name)?;
        write_atomically(
            &self.sessions_dir(),
            &self.record_path(&session.name),
            session,
        )
    }

    /// Read-modify-write of one record under the lock. `f` sees the current record.
    pub fn update<R>(&self, name: &str, f: impl FnOnce(&mut Session) -> Result<R>) -> Result<R> {
        let lock = self.lock()?;
        let mut session = self.load(name)?;
        if session.version > SCHEMA_VERSION {
            return Err(Failure::fatal(Self::too_new(name, session.version.into()).message).into());
        }
        let result = f(&mut session)?;
        self.write(&lock, &session)?;
        Ok(result)
    }

    /// Deletes a record and its files. Only for a session whose creation failed before
    /// anything of value existed (invariant 4: a failed creation leaves no record).
    pub fn discard(&self, _lock: &LockGuard, name: &str) -> Result<()> {
        crate::names::validate(name)?;
        let record = self.record_path(name);
        if record.exists() {
            fs::remove_file(&record)
                .with_context(|| format!("could not remove {}", record.display()))?;
        }
        let dir = self.session_dir(name);
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .with_context(|| format!("could not remove {}", dir.display()))?;
        }
        Ok(())
    }
}

/// Writes `value` to `path` atomically: a temporary file in `dir`, synced, then renamed.
fn write_atomically(dir: &Path, path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .with_context(|| format!("could not create a temporary file in {}", dir.display()))?;
    serde_json::to_writer_pretty(&mut tmp, value)?;
    tmp.write_all(b"\n")?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("could not write {}", path.display()))?;
    Ok(())
}

/// The error for an unknown session name.
pub fn no_such_session(name: &str) -> anyhow::Error {
    Failure::fatal(format!("no session named '{name}'"))
        .hint("see 'git agent list' for the sessions of this repository")
        .into()
}
