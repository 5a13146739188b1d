//! Committing what an agent left uncommitted, so nothing sits in limbo after it exits.
//!
//! Rules: git's own `add -A` + `commit` run in the agent's worktree, so hooks run as usual; if
//! a hook (or anything else) refuses, the changes stay in the worktree and the record says why.
//! Nothing is committed while a merge, rebase, cherry-pick or revert is in progress, or when
//! HEAD has left the session's branch: that state belongs to whoever started it. What
//! `.worktreeinclude`/`.worktreelink` brought in (a copied `.env`, a linked `node_modules`)
//! is never committed, whatever the agent did to `.gitignore` or the index.
//!
//! Hooks: a commit we make in an agent's worktree runs the hooks the *main* worktree would run
//! ([`crate::git::hooks::trusted_hooks`]), never ones the agent could have written: a relative `core.hooksPath`
//! (`.githooks`, husky) would otherwise resolve inside the agent's worktree. When the run had
//! our write sandbox, the commit runs inside the same sandbox, so that a hook which runs the
//! project's own tools (which the agent may have changed) cannot write outside either.

use crate::git::{StatusEntry, WorktreeDir};
use crate::process::CommandFailed;
use crate::session::{CommitOutcome, Session};

/// The commit message for leftovers: a subject from the task, what happened, and trailers
/// that say which session and agent produced the work.
pub fn message(session: &Session, how: &str) -> String {
    let task = session
        .prompt
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut subject = if task.is_empty() {
        format!(
            "agent {}: work left by {}",
            session.name,
            session.short_agent()
        )
    } else {
        format!("agent {}: {task}", session.name)
    };
    if subject.chars().count() > 72 {
        subject = subject.chars().take(71).collect::<String>() + "…";
    }
    format!(
        "{subject}\n\nThe agent ({}) {how}; git-agent committed the changes it left\nuncommitted so that nothing is lost.\n\nGit-Agent-Session: {}\nGit-Agent-Profile: {}\n",
        session.short_agent(),
        session.name,
        session.agent.profile,
    )
}

/// Commits leftover changes in the session's worktree. `how` completes "The agent (x) …".
pub fn commit_leftovers(session: &Session, how: &str) -> CommitOutcome {
    match try_commit(session, how) {
        Ok(outcome) => outcome,
        Err(error) => CommitOutcome::Failed { error },
    }
}

fn describe(err: &anyhow::Error) -> String {
    match err.downcast_ref::<CommandFailed>() {
        Some(f) if !f.stderr.is_empty() => f.stderr.clone(),
        _ => format!("{err:#}"),
    }
}

fn try_commit(session: &Session, how: &str) -> Result<CommitOutcome, String> {
    let wt = &session.worktree;
    if !wt.is_dir() {
        return Ok(CommitOutcome::Skipped {
            reason: "the worktree is gone".into(),
        });
    }
    // The common dir as the main worktree knows it: the agent cannot rewrite that link.
    let common_dir = crate::git::in_dir(&session.repo)
        .args(["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .run()
        .map_err(|e| describe(&e))?;
    let common_dir = std::path::PathBuf::from(common_dir.trim_end_matches('\n'));
    if let Err(why) = crate::git::link::check_link(&common_dir, wt)
        .and_then(|()| crate::git::link::check_branch_files(&common_dir, &session.branch))
    {
        return Ok(CommitOutcome::Skipped {
            reason: format!("{why}; nothing was run in the worktree (see 'git agent doctor')"),
        });
    }
    let dir = WorktreeDir::new(wt);
    let git = |args: &[&str]| dir.git().args(args).run().map_err(|e| describe(&e));
    let git_dir = dir.git_dir().map_err(|e| describe(&e))?;
    if let Some(op) = crate::git::worktree_dir::operation_in(&git_dir) {
        return Ok(CommitOutcome::Skipped {
            reason: format!("{op} is in progress"),
        });
    }
    // Unreadable counts as "not on the branch", as detached does.
    let branch = dir.head().ok().and_then(|h| h.branch);
    if branch != Some(format!("refs/heads/{}", session.branch)) {
        return Ok(CommitOutcome::Skipped {
            reason: format!("HEAD is no longer on {}", session.branch),
        });
    }
    let left_out = session.left_out();
    let leaves = crate::git::changes::leaves_pathspecs(&left_out);
    let status = crate::git::changes::status(wt, &left_out).map_err(|e| describe(&e))?;
    if status.is_empty() {
        return Ok(CommitOutcome::Clean);
    }
    if status.iter().any(StatusEntry::is_unmerged) {
        return Ok(CommitOutcome::Skipped {
            reason: "there are unmerged paths".into(),
        });
    }
    let mut add_args = vec!["add", "-A", "--"];
    add_args.extend(leaves.iter().map(String::as_str));
    git(&add_args)?;
    // What was brought in stays out even if the agent staged it itself (`git add -A` of a
    // linked `node_modules`, which its `node_modules/` rule does not ignore).
    let brought: Vec<String> = (session.included.iter().chain(&session.linked))
        .map(|p| format!(":(literal){}", p.trim_end_matches('/')))
        .collect();
    if !brought.is_empty() {
        let mut reset_args = vec!["reset", "-q", "--"];
        reset_args.extend(brought.iter().map(String::as_str));
        git(&reset_args)?;
    }
    let mut commit = dir
        .git()
        .args(crate::git::hooks::trusted_hooks(&session.repo, &common_dir))
        .args(["commit", "-q", "-m", &message(session, how)])
        .env("GIT_EDITOR", "true");
    // In the sandbox only where it may move the branch: on a branch of the user's, whose
    // folder of refs the sandbox keeps closed, the commit runs as before (your hooks, still).
    if let Some(f) = session
        .sandbox
        .in_force
        .as_ref()
        .filter(|f| f.kind == "landlock")
        .filter(|_| {
            crate::sandbox::own_ref_folder(&session.branch, session.branch_ours()).is_some()
        })
    {
        let writable = crate::sandbox::commit_writable(&common_dir, session, &f.writable);
        commit = crate::sandbox::wrap(&commit, &writable).map_err(|e| describe(&e))?;
    }
    commit.run().map_err(|e| describe(&e))?;
    let sha = dir.head_commit().map_err(|e| describe(&e))?;
    Ok(CommitOutcome::Committed { sha })
}
