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
//!   sessions/<name>.json      one record per session (see `session.rs`)
//!   sessions/<name>/log       the agent's stdout and stderr
//!   sessions/<name>/prompt.md the task as given (prompt-<n>.md: the prompt of run n)
//!   sessions/<name>/queue/    follow-ups waiting for the current run to end
//!   sessions/<name>/status    what the agent reports about itself (GIT_AGENT_STATUS_FILE)
//!   sessions/<name>/supervisor.log  the supervisor's own diagnostics
//!   archive/                  records of removed sessions, never silently deleted
//!   quarantine/               records that failed to parse, moved aside
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

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::Failure;
use crate::session::{SCHEMA_VERSION, Session, State};

/// How long a command waits for another one to release the state lock.
const LOCK_TIMEOUT: Duration = Duration::from_secs(20);

/// The state directory of one repository.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// Proof that the state lock is held; dropping it releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
}

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

/// One line of `events.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub version: u32,
    pub time: Timestamp,
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

    /// Takes the state lock, waiting for other git-agent commands to finish their update.
    pub fn lock(&self) -> Result<LockGuard> {
        self.lock_file("lock", LOCK_TIMEOUT)
    }

    /// Serializes `git worktree add` among our own processes: concurrent adds in one
    /// repository read each other's half-written admin directories and fail (git 2.47:
    /// "failed to read .git/worktrees/<other>/commondir"). Separate from the state lock so
    /// a slow checkout never holds up record updates.
    pub fn worktree_lock(&self) -> Result<LockGuard> {
        // A checkout with a slow post-checkout hook may take minutes.
        self.lock_file("worktree.lock", Duration::from_secs(900))
    }

    /// Makes removing session `name` exclusive (`rm` and `clean` racing for the same
    /// session): held for the whole removal. Taken before the state or worktree lock, never
    /// while holding one. Fails with "no session named" if the session is already gone.
    pub fn removal_lock(&self, name: &str) -> Result<LockGuard> {
        if !self.exists(name) {
            return Err(no_such_session(name));
        }
        // Outside the session's folder, which moves to the archive with the removal.
        std::fs::create_dir_all(self.root.join("locks"))?;
        let guard = self.lock_file(&format!("locks/{name}.lock"), LOCK_TIMEOUT)?;
        // Whoever held it before us may have removed the session meanwhile.
        if !self.exists(name) {
            return Err(no_such_session(name));
        }
        Ok(guard)
    }

    /// Holds session `name` against new runs of its agent: `merge` holds it from its first
    /// check to its end (its cleanup would stop a run started meanwhile), `send` while it
    /// starts one. `what` names the holder to the others (`git agent merge`). With `wait`,
    /// waits for the holder like the other locks; without, `Ok(Err(holder))` says who holds
    /// it. Fails with "no session named" if the session is gone.
    pub fn hold(
        &self,
        name: &str,
        what: &str,
        wait: bool,
    ) -> Result<std::result::Result<LockGuard, String>> {
        if !self.exists(name) {
            return Err(no_such_session(name));
        }
        std::fs::create_dir_all(self.root.join("locks"))?;
        let path = self.root.join(format!("locks/{name}.hold"));
        let mut file = open_lock(&path)?;
        let deadline = Instant::now() + LOCK_TIMEOUT;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if wait && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = match holder.trim().split_once(' ') {
                        Some((pid, what)) => format!("'{what}', pid {pid}"),
                        None => "another git-agent command".to_owned(),
                    };
                    if wait {
                        return Err(Failure::fatal(format!("'{name}' is held by {holder}"))
                            .hint("wait for it to finish; the hold ends when that process exits")
                            .into());
                    }
                    return Ok(Err(holder));
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("could not lock {}", path.display()));
                }
            }
        }
        let _ = file
            .set_len(0)
            .and_then(|()| writeln!(&file, "{} {what}", std::process::id()));
        if !self.exists(name) {
            return Err(no_such_session(name));
        }
        Ok(Ok(LockGuard { _file: file }))
    }

    fn lock_file(&self, file_name: &str, timeout: Duration) -> Result<LockGuard> {
        self.ensure()?;
        let path = self.root.join(file_name);
        let mut file = open_lock(&path)?;
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(2);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = holder.trim();
                    let who = if holder.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {holder})")
                    };
                    return Err(Failure::fatal(format!(
                        "could not lock '{}': another git-agent command holds it{who}",
                        path.display()
                    ))
                    .hint("wait for it to finish; the lock is released when that process exits")
                    .into());
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("could not lock {}", path.display()));
                }
            }
        }
        // Record the holder for the message above; best effort, the lock is what counts.
        let _ = file
            .set_len(0)
            .and_then(|()| writeln!(&file, "{}", std::process::id()));
        Ok(LockGuard { _file: file })
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

    /// Moves a damaged record aside, re-checking under the lock that it is still damaged
    /// (and still a record: a regular file of `sessions/` with a valid name; see [`Read`]).
    fn quarantine(&self, name: &str, why: &str) -> Result<Problem> {
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

    fn too_new(name: &str, version: u64) -> Problem {
        Problem {
            kind: "too-new",
            name: name.into(),
            message: format!(
                "session record '{name}' was written by a newer git-agent (schema {version}, this one reads {SCHEMA_VERSION}); left it alone"
            ),
        }
    }

    /// Something in `sessions/` that is not a record of ours.
    fn stray(name: &str, why: &str) -> Problem {
        Problem {
            kind: "stray",
            name: name.into(),
            message: format!("sessions/{name}.json is not a session record ({why}); left it alone"),
        }
    }

    /// Loads one session. Missing, damaged and too-new records are errors for the user.
    /// [`StateDir::load`] for a caller about to act on the derived state: a session that looks
    /// `lost` is read once more, because a supervisor writes the end of a run and then exits,
    /// and a record read just before that end, checked just after the exit, looks lost.
    pub fn load_settled(&self, name: &str) -> Result<Session> {
        let s = self.load(name)?;
        if s.live_state() == crate::session::State::Lost {
            return self.load(name);
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

    /// The records of the named sessions, in that order; the first unknown name is an error.
    pub fn load_each(&self, names: &[String]) -> Result<Vec<Session>> {
        names.iter().map(|n| self.load(n)).collect()
    }

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

    /// Writes a record atomically. Requires the lock.
    pub fn write(&self, _lock: &LockGuard, session: &Session) -> Result<()> {
        crate::names::validate(&session.name)?;
        write_atomically(
            &self.sessions_dir(),
            &self.record_path(&session.name),
            session,
        )
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
            &dir.join(format!("{}.{stamp}.json", record.name)),
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
            let dest = self.archive_dir().join(format!("{name}.{stamp}"));
            fs::rename(&files, &dest)
                .with_context(|| format!("could not archive {}", files.display()))?;
        }
        let record = self.record_path(name);
        fs::remove_file(&record).with_context(|| format!("could not remove {}", record.display()))
    }
}

/// Writes `session` to `path` atomically: a temporary file in `dir`, synced, then renamed.
fn write_atomically(dir: &Path, path: &Path, session: &Session) -> Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .with_context(|| format!("could not create a temporary file in {}", dir.display()))?;
    serde_json::to_writer_pretty(&mut tmp, session)?;
    tmp.write_all(b"\n")?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("could not write {}", path.display()))?;
    Ok(())
}

impl StateDir {
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

/// Opens (creating) a lock file without truncating it: a lock is held on the open file.
fn open_lock(path: &std::path::Path) -> Result<std::fs::File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("could not open {}", path.display()))
}

/// The error for an unknown session name.
pub fn no_such_session(name: &str) -> anyhow::Error {
    Failure::fatal(format!("no session named '{name}'"))
        .hint("see 'git agent list' for the sessions of this repository")
        .into()
}
