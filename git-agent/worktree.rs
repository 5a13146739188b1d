//! Creating agent worktrees with git (so `post-checkout` hooks run), and undoing a failed
//! creation without losing anything (invariant 4: no branch or record left behind).

use std::path::Path;

use anyhow::Result;

use crate::error::Failure;
use crate::process::{Cmd, CommandFailed};
use crate::repo::Repo;

/// The lock reason we put on worktrees whose agent runs, so `git worktree prune` and
/// `git worktree remove` leave them alone, and so we recognise our own locks.
pub fn lock_reason(name: &str) -> String {
    format!("git-agent: agent '{name}' is running")
}

/// `git worktree add --lock -b BRANCH PATH COMMIT`. On failure the branch, if git created it
/// and it still points at `commit`, is deleted again (compare-and-delete: nothing is lost).
pub fn create(repo: &Repo, name: &str, branch: &str, path: &Path, commit: &str) -> Result<()> {
    let existed = repo.branch_exists(branch)?;
    let out = repo
        .git()
        .args([
            "worktree",
            "add",
            "--lock",
            "--reason",
            &lock_reason(name),
            "-b",
            branch,
        ])
        .arg(path)
        .arg(commit)
        .output()?;
    if out.status.success() {
        return Ok(());
    }
    if !existed && repo.branch_exists(branch)? {
        let _ = repo
            .git()
            .args(["update-ref", "-d", &format!("refs/heads/{branch}"), commit])
            .run();
    }
    let failed = CommandFailed {
        command: "git worktree add".into(),
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).trim_end().to_owned(),
    };
    Err(Failure::fatal(format!(
        "could not create the worktree at '{}'",
        path.display()
    ))
    .hint("nothing was started; the current checkout is untouched")
    .hint(
        failed
            .stderr
            .lines()
            .last()
            .unwrap_or_default()
            .trim_start_matches("fatal: ")
            .to_owned(),
    )
    .into())
}

/// Releases our lock on a worktree (only if the lock is ours).
pub fn unlock(common_dir: &Path, name: &str, path: &Path) -> Result<bool> {
    let git_dir = Cmd::git_in(path)
        .args(["rev-parse", "--absolute-git-dir"])
        .run()?;
    let locked = Path::new(git_dir.trim()).join("locked");
    match std::fs::read_to_string(&locked) {
        Ok(reason) if reason.trim() == lock_reason(name) => {}
        _ => return Ok(false),
    }
    Cmd::git()
        .arg("--git-dir")
        .arg(common_dir)
        .current_dir(common_dir)
        .args(["worktree", "unlock"])
        .arg(path)
        .run()?;
    Ok(true)
}
