//! Branches a plan owns: creating its integration branch (never over an existing one), and
//! finding on it the commit that landed a session (from the `Git-Agent-Session` trailer
//! `git agent merge` writes), which is how a landing that was not recorded (its recorder
//! killed) is found again.
//!
//! Must not move a branch that exists: creation is `update-ref` against the null id.

use anyhow::Result;

use super::repo::Repo;
use crate::error::Failure;

/// Creates `refs/heads/<branch>` at `commit`; fails if it exists.
pub fn create_branch(repo: &Repo, branch: &str, commit: &str, why: &str) -> Result<()> {
    let zero = "0".repeat(commit.len());
    repo.git()
        .args([
            "update-ref",
            "-m",
            why,
            &format!("refs/heads/{branch}"),
            commit,
            &zero,
        ])
        .run()
        .map_err(|e| {
            Failure::fatal(format!("could not create the branch {branch}: {e:#}"))
                .hint("it may exist already: see git branch --list")
        })?;
    Ok(())
}

/// Deletes `refs/heads/<branch>` if it still points at `commit` (nothing landed on it since).
pub fn delete_branch_at(repo: &Repo, branch: &str, commit: &str) -> Result<()> {
    repo.git()
        .args(["update-ref", "-d", &format!("refs/heads/{branch}"), commit])
        .run()?;
    Ok(())
}

/// The commit on `branch` (after `since`) whose message names session `session` in a
/// `Git-Agent-Session` trailer.
pub fn find_trailer(
    repo: &Repo,
    branch: &str,
    since: &str,
    session: &str,
) -> Result<Option<String>> {
    let Some(tip) = repo.branch_tip(branch)? else {
        return Ok(None);
    };
    let out = repo
        .git()
        .args([
            "log",
            "--format=%H%x00%(trailers:key=Git-Agent-Session,valueonly,separator=%x01)",
            "-z",
            &format!("{since}..{tip}"),
        ])
        .run()?;
    Ok(out
        .split('\0')
        .collect::<Vec<_>>()
        .chunks(2)
        .find(|pair| {
            pair.get(1)
                .is_some_and(|t| t.split('\x01').any(|v| v.trim() == session))
        })
        .map(|pair| pair[0].trim().to_owned()))
}
