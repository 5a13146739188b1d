//! Aider: one markdown history per checkout, `<git toplevel>/.aider.chat.history.md`
//! (another file with `--chat-history-file`), appended by every run; no ids.
//!
//! `# aider chat started at …` opens a run, `#### ` lines are the user's message, `> ` lines
//! are aider's own notes, anything else is the assistant's reply. `--restore-chat-history`
//! restores the whole file, so the conversation *is* the file: a directory has one when its
//! file holds at least one user line.
//!
//! A carry copies the file into the target's root (never over a different one) and resumes
//! with the profile's resume line (which has `--restore-chat-history`).

use std::path::Path;

use anyhow::{Context as _, Result};

use super::{Carried, Cli, Conversation, Role, Turn, modified};

pub(super) const HISTORY: &str = ".aider.chat.history.md";

/// `dir`'s history file, or `file` (relative to `dir`), if it holds a conversation.
pub(super) fn latest(dir: &Path, file: Option<&Path>) -> Result<Option<Conversation>> {
    let file = dir.join(file.unwrap_or(Path::new(HISTORY)));
    if !file.is_file() {
        return Ok(None);
    }
    let Some(first) = turns(&file)?.into_iter().find(|t| t.role == Role::User) else {
        return Ok(None);
    };
    Ok(Some(Conversation {
        cli: Cli::Aider,
        id: None,
        dir: dir.to_owned(),
        updated: modified(&file),
        file: Some(file),
        first_message: Some(first.text),
    }))
}

pub(super) fn carry(conv: &Conversation, to: &Path, resume: &[String]) -> Result<Carried> {
    let file = super::need_file(conv)?;
    let target = to.join(HISTORY);
    let mut made = Vec::new();
    if target != file && super::copy_keeping(file, &target)? {
        made.push(target);
    }
    Ok(Carried {
        first_args: resume.to_vec(),
        made,
    })
}

pub(super) fn turns(file: &Path) -> Result<Vec<Turn>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("could not read {}", file.display()))?;
    Ok(parse(&text))
}

/// The user's messages and the assistant's replies of a history, in order.
pub(super) fn parse(text: &str) -> Vec<Turn> {
    let mut turns = Vec::new();
    let mut role = None;
    let mut current = String::new();
    let mut flush = |role: Option<Role>, current: &mut String| {
        if let Some(role) = role {
            turns.extend(Turn::new(role, std::mem::take(current)));
        }
        current.clear();
    };
    for line in text.lines() {
        let (this, content) = if let Some(user) = line.strip_prefix("#### ") {
            (Some(Role::User), user)
        } else if line.starts_with("> ") || line == ">" || line.starts_with("# aider chat started")
        {
            // Aider's notes and run headers end a reply but are no part of one.
            flush(role.take(), &mut current);
            continue;
        } else {
            (Some(Role::Assistant), line)
        };
        if this != role {
            flush(role, &mut current);
            role = this;
        }
        // Markdown line breaks: aider ends lines with two spaces.
        current.push_str(content.trim_end());
        current.push('\n');
    }
    flush(role, &mut current);
    turns
}
