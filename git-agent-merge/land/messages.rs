//! The words a merge writes into history: the subject and message of the commit that lands
//! a session (task, what the agent said it did, squashed commits, `Git-Agent-*` trailers),
//! and the one-line commit lists shown and returned.
//!
//! Owns text only; makes no commit and moves no ref (that is [`super::build`]).

use anyhow::Result;
use git_agent::git::repo::Repo;
use git_agent::session::Session;
use gix::ObjectId;

use super::Options;

/// `git log --format='%h %s' from..to`, oldest first.
pub(super) fn commits_between(repo: &Repo, from: ObjectId, to: ObjectId) -> Result<Vec<String>> {
    let out = repo
        .git()
        .args([
            "log",
            "--reverse",
            "--format=%h %s",
            &format!("{from}..{to}"),
        ])
        .run()?;
    Ok(out.lines().map(str::to_owned).collect())
}

/// The subject of a commit made from a session: the task's first line.
pub fn subject(s: &Session) -> String {
    let task = s
        .prompt
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(&s.name);
    if task.chars().count() > 72 {
        task.chars().take(71).collect::<String>() + "…"
    } else {
        task.to_owned()
    }
}

/// The message of the commit that lands a session: `--message`, else the task and what the
/// agent said it did; then the commits it squashes, and trailers naming the session.
pub(super) fn message(s: &Session, opts: &Options, commits: &[String], squash: bool) -> String {
    let mut text = match &opts.message {
        Some(m) => m.trim().to_owned(),
        None => {
            let mut t = subject(s);
            let rest: Vec<&str> = s.prompt.trim().lines().skip(1).collect();
            let rest = rest.join("\n");
            if !rest.trim().is_empty() {
                t.push_str("\n\n");
                t.push_str(rest.trim());
            }
            if let Some(summary) = s.summary() {
                t.push_str("\n\n");
                t.push_str(&summary);
            }
            t
        }
    };
    if squash && commits.len() > 1 {
        text.push_str("\n\nSquashed commits:\n");
        for c in commits {
            text.push_str(&format!("- {c}\n"));
        }
    }
    format!(
        "{}\n\nGit-Agent-Session: {}\nGit-Agent-Profile: {}\n",
        text.trim_end(),
        s.name,
        s.agent.profile
    )
}
