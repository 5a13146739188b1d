//! Review rounds: comments on an agent's result, kept as plain files any agent (or person)
//! can read, and sent back to the agent as one message.
//!
//! Each round is `sessions/<name>/reviews/NNN.md`:
//!
//! ````markdown
//! ---
//! round: 1
//! session: fix-login
//! status: open
//! created: 2026-11-21T10:00:00Z
//! ---
//! ## src/login.rs:42
//!
//! ```diff
//! @@ -40,6 +40,8 @@ fn login() {
//! +    if password == stored {
//! ```
//!
//! Use a constant-time comparison here.
//!
//! ## General
//!
//! Also add a test.
//! ````
//!
//! A section is `## PATH:LINE` (a line of the new version), `## PATH` (the whole file) or
//! `## General`; it may quote the hunk it refers to, then the comment text. At most one round is
//! `open` (collecting comments); `--send` turns it `sent` (with the time and the run that
//! received it) and the next comment opens a new round.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use jiff::Timestamp;

use crate::error::Failure;
use crate::state::StateDir;

/// One comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// The file, if the comment is about one.
    pub path: Option<String>,
    /// The line in the new version of the file.
    pub line: Option<u32>,
    /// The diff hunk the line is in, as the reviewer saw it.
    pub hunk: Option<String>,
    pub text: String,
}

impl Comment {
    /// `src/login.rs:42`, `src/login.rs` or `General`.
    pub fn location(&self) -> String {
        match (&self.path, self.line) {
            (Some(p), Some(l)) => format!("{p}:{l}"),
            (Some(p), None) => p.clone(),
            _ => "General".into(),
        }
    }

    /// Parses `PATH:LINE`, `PATH` or `-`/`general` into (path, line).
    pub fn parse_location(location: &str) -> Result<(Option<String>, Option<u32>)> {
        let location = location.trim();
        if location.is_empty() || location == "-" || location.eq_ignore_ascii_case("general") {
            return Ok((None, None));
        }
        if let Some((path, line)) = location.rsplit_once(':')
            && let Ok(n) = line.parse::<u32>()
        {
            if path.is_empty() || n == 0 {
                return Err(Failure::usage(format!("invalid comment location '{location}'"))
                    .hint("use PATH:LINE (a line of the new version), PATH, or - for a general comment")
                    .into());
            }
            return Ok((Some(path.to_owned()), Some(n)));
        }
        Ok((Some(location.to_owned()), None))
    }
}

/// The line that opens a comment a reviewing agent wrote (`review --ai`), so the round file
/// and the message the agent gets say whose it is; it is part of the comment's text, so
/// a round reads back exactly.
pub fn reviewer_mark(profile: &str, mode: &str) -> String {
    format!("_From the reviewer ({profile}, {mode})._")
}

impl Comment {
    /// The reviewing agent that wrote this comment (`codex, read-only`), if one did.
    pub fn reviewer(&self) -> Option<&str> {
        self.text
            .lines()
            .next()?
            .strip_prefix("_From the reviewer (")?
            .strip_suffix(")._")
    }
}

/// Whether a round still collects comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Open,
    Sent,
}

/// One review round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    pub n: u32,
    pub session: String,
    pub status: Status,
    pub created: Timestamp,
    pub sent: Option<Timestamp>,
    /// The run of the session that received it.
    pub run: Option<u32>,
    pub comments: Vec<Comment>,
}

/// A code fence long enough not to be closed by anything inside `text`.
fn fence_for(text: &str) -> String {
    let longest = text
        .lines()
        .map(|l| l.trim_start().chars().take_while(|c| *c == '`').count())
        .max()
        .unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

impl Round {
    pub fn new(n: u32, session: &str) -> Self {
        Self {
            n,
            session: session.to_owned(),
            status: Status::Open,
            created: crate::time::now(),
            sent: None,
            run: None,
            comments: Vec::new(),
        }
    }

    /// The comments, as markdown sections.
    pub fn body(&self) -> String {
        let mut out = String::new();
        for c in &self.comments {
            out.push_str(&format!("## {}\n\n", c.location()));
            if let Some(hunk) = c.hunk.as_deref().filter(|h| !h.trim().is_empty()) {
                let fence = fence_for(hunk);
                out.push_str(&format!("{fence}diff\n{}\n{fence}\n\n", hunk.trim_end()));
            }
            // A comment line that reads like a section header is escaped (Markdown shows `\#`
            // as `#`), so the file reads back exactly.
            for line in c.text.trim_end().lines() {
                if line.starts_with("## ") || line.starts_with("\\## ") {
                    out.push('\\');
                }
                out.push_str(line);
                out.push('\n');
            }
            out.push('\n');
        }
        out
    }

    /// The file's whole text.
    pub fn to_markdown(&self) -> String {
        let status = match self.status {
            Status::Open => "open",
            Status::Sent => "sent",
        };
        let mut head = format!(
            "---\nround: {}\nsession: {}\nstatus: {status}\ncreated: {}\n",
            self.n, self.session, self.created
        );
        if let Some(t) = self.sent {
            head.push_str(&format!("sent: {t}\n"));
        }
        if let Some(r) = self.run {
            head.push_str(&format!("run: {r}\n"));
        }
        head.push_str("---\n");
        head + &self.body()
    }

    /// The message the agent gets.
    pub fn message(&self) -> String {
        format!(
            "Review comments on your changes (review round {}). Address each of them in this \
             worktree, then finish.\n\n{}",
            self.n,
            self.body().trim_end()
        )
    }

    /// Parses a round file.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| -> anyhow::Error {
            Failure::fatal(format!("damaged review round: {why}")).into()
        };
        let rest = text.strip_prefix("---\n").ok_or_else(|| bad("no header"))?;
        let (head, body) = rest
            .split_once("\n---\n")
            .ok_or_else(|| bad("unterminated header"))?;
        let mut round = Round::new(0, "");
        let mut saw_created = false;
        for line in head.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "round" => round.n = value.parse().map_err(|_| bad("round number"))?,
                "session" => round.session = value.to_owned(),
                "status" => {
                    round.status = match value {
                        "open" => Status::Open,
                        "sent" => Status::Sent,
                        _ => return Err(bad("status")),
                    };
                }
                "created" => {
                    round.created = value.parse().map_err(|_| bad("created"))?;
                    saw_created = true;
                }
                "sent" if !value.is_empty() => {
                    round.sent = Some(value.parse().map_err(|_| bad("sent"))?);
                }
                "run" if !value.is_empty() => {
                    round.run = Some(value.parse().map_err(|_| bad("run"))?);
                }
                _ => {}
            }
        }
        if !saw_created {
            return Err(bad("no creation time"));
        }
        round.comments = parse_body(body)?;
        Ok(round)
    }
}

/// The sections of a round's body.
fn parse_body(body: &str) -> Result<Vec<Comment>> {
    let mut comments: Vec<Comment> = Vec::new();
    let mut fence: Option<String> = None;
    let mut hunk: Vec<&str> = Vec::new();
    let mut text: Vec<&str> = Vec::new();
    let mut current: Option<Comment> = None;
    let finish =
        |current: &mut Option<Comment>, text: &mut Vec<&str>, comments: &mut Vec<Comment>| {
            if let Some(mut c) = current.take() {
                c.text = text.join("\n").trim().to_owned();
                comments.push(c);
            }
            text.clear();
        };
    for line in body.lines() {
        if let Some(f) = &fence {
            if line.trim() == f.as_str() {
                fence = None;
                if let Some(c) = &mut current {
                    c.hunk = Some(hunk.join("\n"));
                }
                hunk.clear();
            } else {
                hunk.push(line);
            }
            continue;
        }
        if let Some(location) = line.strip_prefix("## ") {
            finish(&mut current, &mut text, &mut comments);
            let (path, line) = Comment::parse_location(location)?;
            current = Some(Comment {
                path,
                line,
                hunk: None,
                text: String::new(),
            });
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("```")
            && text.iter().all(|l| l.trim().is_empty())
            && current.as_ref().is_some_and(|c| c.hunk.is_none())
        {
            let ticks: String = trimmed.chars().take_while(|c| *c == '`').collect();
            fence = Some(ticks);
            continue;
        }
        if current.is_some() {
            text.push(
                line.strip_prefix('\\')
                    .filter(|l| l.starts_with("## ") || l.starts_with("\\## "))
                    .unwrap_or(line),
            );
        }
    }
    finish(&mut current, &mut text, &mut comments);
    Ok(comments)
}

/// Where a session's rounds live.
pub fn dir(state: &StateDir, name: &str) -> PathBuf {
    state.session_dir(name).join("reviews")
}

fn path(state: &StateDir, name: &str, n: u32) -> PathBuf {
    dir(state, name).join(format!("{n:03}.md"))
}

/// Every round of a session, oldest first.
pub fn list(state: &StateDir, name: &str) -> Result<Vec<Round>> {
    let Ok(entries) = std::fs::read_dir(dir(state, name)) else {
        return Ok(Vec::new());
    };
    let mut rounds = Vec::new();
    for entry in entries.flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "md") {
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("could not read {}", p.display()))?;
            rounds.push(Round::parse(&text).with_context(|| format!("in {}", p.display()))?);
        }
    }
    rounds.sort_by_key(|r| r.n);
    Ok(rounds)
}

/// The round collecting comments, if any.
pub fn open_round(state: &StateDir, name: &str) -> Result<Option<Round>> {
    Ok(list(state, name)?
        .into_iter()
        .rev()
        .find(|r| r.status == Status::Open))
}

/// Writes a round (atomically).
pub fn save(state: &StateDir, round: &Round) -> Result<PathBuf> {
    let dir = dir(state, &round.session);
    std::fs::create_dir_all(&dir)?;
    let target = path(state, &round.session, round.n);
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    std::io::Write::write_all(&mut tmp, round.to_markdown().as_bytes())?;
    tmp.persist(&target)
        .with_context(|| format!("could not write {}", target.display()))?;
    Ok(target)
}

/// Adds comments to the open round (opening a new one if needed); returns it and its file.
pub fn add(state: &StateDir, name: &str, comments: Vec<Comment>) -> Result<(Round, PathBuf)> {
    let _lock = state.lock()?;
    let mut round = match open_round(state, name)? {
        Some(r) => r,
        None => {
            let next = list(state, name)?.last().map_or(1, |r| r.n + 1);
            Round::new(next, name)
        }
    };
    round.comments.extend(comments);
    let file = save(state, &round)?;
    Ok((round, file))
}

/// Marks a round sent to run `run`.
pub fn mark_sent(state: &StateDir, round: &Round, run: u32) -> Result<Round> {
    let mut sent = round.clone();
    sent.status = Status::Sent;
    sent.sent = Some(crate::time::now());
    sent.run = Some(run);
    save(state, &sent)?;
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_markdown() {
        let mut round = Round::new(3, "fix-login");
        round.comments = vec![
            Comment {
                path: Some("src/login.rs".into()),
                line: Some(42),
                hunk: Some(
                    "@@ -40,2 +40,3 @@\n+    if password == stored {\n```inner fence```".into(),
                ),
                text: "Use a constant-time comparison.\n\n## not a header inside? it is text"
                    .into(),
            },
            Comment {
                path: None,
                line: None,
                hunk: None,
                text: "Also add a test.".into(),
            },
            Comment {
                path: Some("README.md".into()),
                line: None,
                hunk: None,
                text: "Typo.".into(),
            },
        ];
        let text = round.to_markdown();
        let back = Round::parse(&text).unwrap();
        assert_eq!(back.n, 3);
        assert_eq!(back.session, "fix-login");
        assert_eq!(back.comments.len(), 3, "{text}");
        assert_eq!(
            back.comments[0].text, round.comments[0].text,
            "a '## ' line in a comment is kept"
        );
        assert_eq!(back.comments[0].hunk, round.comments[0].hunk);
        assert_eq!(back.comments[0].line, Some(42));
        assert_eq!(back.comments[1].text, "Also add a test.");
        assert_eq!(back.comments[2].location(), "README.md");
        assert!(
            round
                .message()
                .starts_with("Review comments on your changes (review round 3)")
        );
    }

    #[test]
    fn locations() {
        assert_eq!(
            Comment::parse_location("a/b.rs:12").unwrap(),
            (Some("a/b.rs".into()), Some(12))
        );
        assert_eq!(
            Comment::parse_location("a/b.rs").unwrap(),
            (Some("a/b.rs".into()), None)
        );
        assert_eq!(Comment::parse_location("-").unwrap(), (None, None));
        assert_eq!(
            Comment::parse_location("C:weird").unwrap(),
            (Some("C:weird".into()), None)
        );
        assert!(Comment::parse_location("a.rs:0").is_err());
        assert!(Round::parse("no header").is_err());
    }

    #[test]
    fn a_reviewers_comment_says_whose_it_is() {
        let mut round = Round::new(1, "s");
        round.comments.push(Comment {
            path: Some("a.rs".into()),
            line: Some(2),
            hunk: Some("@@ -1 +1,2 @@\n+x".into()),
            text: format!("{}\n\nUse a constant.", reviewer_mark("codex", "read-only")),
        });
        let back = Round::parse(&round.to_markdown()).unwrap();
        assert_eq!(back.comments, round.comments);
        assert_eq!(back.comments[0].reviewer(), Some("codex, read-only"));
        assert!(
            back.message()
                .contains("_From the reviewer (codex, read-only)._")
        );
    }
}
