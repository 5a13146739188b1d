//! The state directory's locks: the state lock, the worktree-add lock, per-session removal
//! locks and holds, all OS file locks (`flock`) released by the kernel when the holder dies.
//!
//! Owns how locks are opened, waited for and reported (`fatal: could not lock …`). Must not
//! parse or write records: callers take a lock, then use [`super::StateDir`]'s record methods.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use super::{StateDir, no_such_session};
use crate::error::Failure;

/// How long a command waits for another one to release the state lock.
const LOCK_TIMEOUT: Duration = Duration::from_secs(20);

/// Proof that the state lock is held; dropping it releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
}

impl StateDir {
    /// Takes the state lock, waiting for other git-agent commands to finish their update.
    pub fn lock(&self) -> Result<LockGuard> {
        self.lock_file("lock", LOCK_TIMEOUT)
    }

    /// Serializes `git worktree add` among our own processes: concurrent adds in one
    /// repository read each other's half-written admin directories and fail (git 2.47:
    /// "failed to read `.git/worktrees/<other>/commondir`"). Separate from the state lock so
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

    /// Takes lock `file_name` if it is free; `None` if somebody holds it.
    pub(super) fn try_lock_file(&self, file_name: &str) -> Result<Option<LockGuard>> {
        let path = self.root.join(file_name);
        let file = open_lock(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(held(file))),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("could not lock {}", path.display()))
            }
        }
    }

    pub(super) fn lock_file(&self, file_name: &str, timeout: Duration) -> Result<LockGuard> {
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
        Ok(held(file))
    }
}

/// The guard of a lock just taken, which names us as its holder for a process that waits for
/// it in vain (best effort: the lock is what counts).
fn held(file: std::fs::File) -> LockGuard {
    let _ = file
        .set_len(0)
        .and_then(|()| writeln!(&file, "{}", std::process::id()));
    LockGuard { _file: file }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock taken without waiting names its holder too, so a command that waits for it in
    /// vain names the right process, not an earlier holder.
    #[test]
    fn a_lock_taken_without_waiting_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::at(dir.path());
        std::fs::create_dir_all(state.root()).unwrap();
        std::fs::write(state.root().join("x.lock"), "1\n").unwrap();
        let guard = state.try_lock_file("x.lock").unwrap().expect("free");
        assert_eq!(
            std::fs::read_to_string(state.root().join("x.lock")).unwrap(),
            format!("{}\n", std::process::id())
        );
        assert!(state.try_lock_file("x.lock").unwrap().is_none());
        drop(guard);
    }
}
