//! Doctor's checks of git's lock files (`index.lock`, `HEAD.lock`, `refs/…/*.lock`) a killed
//! git left in the common directory and in our worktrees' admin directories, and the one
//! test of whether a git still works in the repository.
//!
//! Owns removing a lock file only when no git works in the repository and it is not fresh.
//! Never prints.

use std::path::{Path, PathBuf};

use super::{Finding, LEFT_BEHIND, Options, age, attempt, same};
use crate::git::repo::Repo;
use crate::session::Session;

/// The admin directories (`<common>/worktrees/<id>`) of worktrees git-agent made: marked, or
/// the entry of a session's recorded worktree.
fn our_admin_dirs(repo: &Repo, sessions: &[Session]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(repo.common_dir().join("worktrees")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|admin| {
            crate::git::worktree::marked_for(admin).is_some() || {
                let gitdir = std::fs::read_to_string(admin.join("gitdir")).unwrap_or_default();
                Path::new(gitdir.trim())
                    .parent()
                    .is_some_and(|wt| sessions.iter().any(|s| same(&s.worktree, wt)))
            }
        })
        .collect()
}

/// `*.lock` files directly in `dir`, and anywhere under its `refs/`.
fn lock_files(dir: &Path, out: &mut Vec<PathBuf>) {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>, deep: bool) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_file() && path.extension().is_some_and(|e| e == "lock") {
                out.push(path);
            } else if kind.is_dir() && (deep || entry.file_name() == "refs") {
                walk(&path, out, true);
            }
        }
    }
    walk(dir, out, false);
}

/// Git's lock files (`index.lock`, `HEAD.lock`, `packed-refs.lock`, `refs/…/*.lock`) in the
/// common directory and in our worktrees' admin directories, left by a git that was killed:
/// no git process works in the repository and they are not fresh. `--fix` removes them (git
/// itself says to, once no git runs).
pub(super) fn check_git_locks(
    repo: &Repo,
    sessions: &[Session],
    opts: &Options,
    findings: &mut Vec<Finding>,
) {
    let mut locks = Vec::new();
    lock_files(repo.common_dir(), &mut locks);
    for admin in our_admin_dirs(repo, sessions) {
        lock_files(&admin, &mut locks);
    }
    locks.retain(|l| age(l) >= LEFT_BEHIND);
    if locks.is_empty() {
        return;
    }
    let mut places: Vec<PathBuf> = vec![repo.common_dir().to_owned()];
    places.extend(repo.main_workdir().map(Path::to_owned));
    places.extend(sessions.iter().map(|s| s.worktree.clone()));
    if git_busy_in(&places) {
        return;
    }
    for lock in locks {
        let mut f = Finding::new(
            "stale-lock",
            None,
            format!(
                "{} was left by a git that is no longer running",
                lock.display()
            ),
        );
        f.fix = Some(format!("remove {}", lock.display()));
        if opts.fix {
            attempt(&mut f, || Ok(std::fs::remove_file(&lock)?));
        }
        findings.push(f);
    }
}

/// A git process (not git-agent) working in one of `places`: its working directory is
/// inside, or one of its arguments names it. This process and its ancestors do not count.
#[cfg(target_os = "linux")]
pub(super) fn git_busy_in(places: &[PathBuf]) -> bool {
    let stat_ppid = |pid: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let mut skip = vec![std::process::id()];
    while let Some(parent) = skip.last().and_then(|p| stat_ppid(*p)).filter(|p| *p > 1) {
        skip.push(parent);
    }
    let places: Vec<PathBuf> = places
        .iter()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if skip.contains(&pid) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_git = args
            .first()
            .and_then(|p| Path::new(p).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .is_some_and(|n| (n == "git" || n.starts_with("git-")) && !n.starts_with("git-agent"));
        if !is_git {
            continue;
        }
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
        let inside = places.iter().any(|p| {
            cwd.as_ref().is_some_and(|c| c.starts_with(p))
                || args
                    .iter()
                    .any(|a| a.contains(p.to_string_lossy().as_ref()))
        });
        if inside {
            return true;
        }
    }
    false
}

/// Elsewhere nothing tells: a lock is never judged left behind.
#[cfg(not(target_os = "linux"))]
pub(super) fn git_busy_in(_places: &[PathBuf]) -> bool {
    true
}
