//! Doctor's checks of damaged records (in `quarantine/`): explained, and rebuilt from the
//! worktree and branch git still has for the session.
//!
//! Owns writing a rebuilt record; rebuilds only around a worktree git-agent made for that
//! name (invariant 12), never the main checkout. Never prints.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;

use super::{Finding, Options, Registered, same};
use crate::git::repo::Repo;
use crate::session::Session;
use crate::state::StateDir;

/// Damaged records: explained, and rebuilt from git where git still has the session.
pub(super) fn check_quarantine(
    repo: &Repo,
    state: &StateDir,
    sessions: &[Session],
    worktrees: &[Registered],
    opts: &Options,
    findings: &mut Vec<Finding>,
) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(state.quarantine_dir()) else {
        return Ok(());
    };
    let prefix = repo
        .config()
        .string("agent.branchPrefix")
        .unwrap_or_else(|| "agent/".into());
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for file in files {
        let fname = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let Some((name, _stamp)) = fname.split_once(".json.") else {
            continue;
        };
        if name.ends_with(".rebuilt") || fname.ends_with(".rebuilt") {
            continue;
        }
        let mut f = Finding::new(
            "quarantined",
            Some(name),
            format!(
                "{name}: its record was damaged and is kept in {}",
                file.display()
            ),
        );
        if sessions.iter().any(|s| s.name == name) {
            f.what.push_str(" (a newer record of that name exists)");
            f.info = true;
            findings.push(f);
            continue;
        }
        let branch = format!("{prefix}{name}");
        // Rebuilt only around a worktree git-agent made for that name (invariant 12): marked
        // for it, or unmarked but in our worktrees folder; never the main checkout.
        let root = repo.worktrees_root(&repo.config()).ok();
        let wt = worktrees.iter().find(|w| {
            w.branch.as_deref() == Some(branch.as_str())
                && !repo.main_workdir().is_some_and(|m| same(m, &w.path))
                && crate::git::worktree::admin_dir(repo.common_dir(), &w.path).is_some_and(|a| {
                    match crate::git::worktree::marked_for(&a) {
                        Some(owner) => owner == name,
                        None => root.as_ref().is_some_and(|r| w.path.starts_with(r)),
                    }
                })
        });
        match (wt, repo.branch_tip(&branch)?) {
            (Some(w), Some(_)) => {
                f.fix = Some(format!(
                    "rebuild a record from its worktree {} and branch {branch}",
                    w.path.display()
                ));
                if opts.fix {
                    rebuild(repo, state, name, &branch, &w.path)?;
                    let mut done = file.clone().into_os_string();
                    done.push(".rebuilt");
                    std::fs::rename(&file, PathBuf::from(done))?;
                    f.fixed = true;
                }
            }
            _ => f
                .what
                .push_str("; git has no worktree on its branch to rebuild it from"),
        }
        findings.push(f);
    }
    Ok(())
}

/// A minimal record for a session git still has: stopped, its task unknown.
fn rebuild(repo: &Repo, state: &StateDir, name: &str, branch: &str, worktree: &Path) -> Result<()> {
    let main_head = repo.git().args(["rev-parse", "HEAD"]).run()?;
    let base = repo
        .git()
        .args([
            "merge-base",
            main_head.trim(),
            &format!("refs/heads/{branch}"),
        ])
        .run()
        .map(|b| b.trim().to_owned())
        .unwrap_or_else(|_| main_head.trim().to_owned());
    let base_ref = repo
        .gix()
        .head_name()
        .ok()
        .flatten()
        .map(|n| n.as_bstr().to_string());
    let now = crate::time::now();
    let record = json!({
        "version": crate::session::SCHEMA_VERSION,
        "name": name,
        "prompt": "(unknown: the record was damaged; rebuilt by git agent doctor)",
        "agent": {"profile": "unknown", "source": "recovered", "program": "", "args": [], "prompt_via": "arg"},
        "base": {"ref": base_ref, "commit": base},
        "branch": branch,
        "branch_created": true,
        "worktree": worktree,
        "repo": repo.main_workdir().unwrap_or(repo.common_dir()),
        "state": "stopped",
        "reason": "rebuilt by git agent doctor from a damaged record",
        "created_at": now,
        "ended_at": now,
        "stop_grace_secs": 10,
        "auto_commit": true,
    });
    let mut session: Session = serde_json::from_value(record)?;
    session.changes = crate::git::changes::of(repo, &session)
        .ok()
        .map(|c| crate::git::changes::Changes { at: Some(now), ..c });
    let lock = state.lock()?;
    state.write(&lock, &session)
}
