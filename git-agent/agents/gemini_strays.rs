//! Gemini's stray chat files, removed after each run of ours so that a second session in the
//! same directory (`git agent new --in NAME`) cannot make gemini delete the first one's
//! conversation.
//!
//! Gemini CLI 0.61.0, resumed headless (`--resume ID`) in a later minute than its chat file's
//! name, leaves a second file `session-<YYYY-MM-DDTHH-MM>-<id8>.jsonl` in
//! `<home>/.gemini/tmp/<slug>/chats/` that holds only the metadata line and the
//! `<session_context>` message; the conversation goes on in the original file. The next run of
//! ANOTHER session in that directory runs gemini's retention cleanup (on by default), which
//! takes the stray for a corrupt session and deletes every file ending in `-<id8>.jsonl`: the
//! real conversation too, after which `--resume ID` exits 42. (Reproduced with the real CLI:
//! `/work/notes/issue18-research.md`, "Data-loss bug".)
//!
//! Invariant: only a file that is certainly such a stray is removed, and only one of the
//! session that just ran. A file is removed when all of these hold, else it is kept:
//! - it is in the chats folder of the project gemini registered for the session's worktree
//!   (`projects.json`, the path as given or its real path), named `session-…-<id8>.jsonl`;
//! - every line parses as JSON, its metadata line and any `$set` of `sessionId` name exactly
//!   this session;
//! - it holds no `user` or `gemini` message (neither as a line nor inside a `$set` of
//!   `messages`) other than the `<session_context>` preamble, and no message of another type
//!   that is not `info`;
//! - another file of the same session in that folder does hold such a message (the file
//!   holding the conversation is never the one removed).
//!
//! The home is `GEMINI_CLI_HOME` (the profile's env first, then ours), else `HOME`, as gemini
//! reads it. Nothing here runs gemini or prints; errors only mean nothing is removed.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::session::AgentSpec;

/// Where gemini keeps its state for an agent run with `spec`: `<home>/.gemini`.
pub fn gemini_dir(spec: &AgentSpec) -> Option<PathBuf> {
    let var = |name: &str| {
        spec.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.is_empty())
    };
    let home = var("GEMINI_CLI_HOME").or_else(|| var("HOME"))?;
    Some(PathBuf::from(home).join(".gemini"))
}

/// Removes the stray chat files of gemini session `session_id` in the chats folder of
/// `worktree` (see the module doc for exactly which); returns the files removed.
pub fn remove_strays(gemini_dir: &Path, worktree: &Path, session_id: &str) -> Vec<PathBuf> {
    let Some(chats) = chats_dir(gemini_dir, worktree) else {
        return Vec::new();
    };
    // Gemini's ids are uuids; anything that could leave the folder or widen the match is not.
    let Some(id8) = session_id
        .get(..8)
        .filter(|s| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    else {
        return Vec::new();
    };
    let suffix = format!("-{id8}.jsonl");
    let Ok(entries) = std::fs::read_dir(&chats) else {
        return Vec::new();
    };
    let mut strays = Vec::new();
    let mut has_conversation = false;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("session-") || !name.ends_with(&suffix) {
            continue;
        }
        let path = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        match classify(&text, session_id) {
            Kind::Stray => strays.push(path),
            Kind::Conversation => has_conversation = true,
            Kind::Other => {}
        }
    }
    if !has_conversation {
        return Vec::new();
    }
    strays
        .into_iter()
        .filter(|p| std::fs::remove_file(p).is_ok())
        .collect()
}

/// The chats folder gemini uses for `worktree`, from its project registry.
fn chats_dir(gemini_dir: &Path, worktree: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(gemini_dir.join("projects.json")).ok()?;
    let registry: Value = serde_json::from_str(&text).ok()?;
    let projects = registry.get("projects")?.as_object()?;
    // Gemini keys by the resolved cwd; the cwd it gets from the kernel is the real path.
    let real = std::fs::canonicalize(worktree).ok();
    let slug = [Some(worktree), real.as_deref()]
        .into_iter()
        .flatten()
        .find_map(|p| projects.get(p.to_str()?)?.as_str())?;
    // A slug is one plain path component (gemini makes it from a basename).
    if slug.is_empty() || slug.starts_with('.') || slug.contains(['/', '\\']) {
        return None;
    }
    let chats = gemini_dir.join("tmp").join(slug).join("chats");
    chats.is_dir().then_some(chats)
}

/// What a chat file is, for one session.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// Of this session, with nothing but the session-context preamble.
    Stray,
    /// Of this session, holding a real message.
    Conversation,
    /// Another session's, or anything we cannot read with certainty.
    Other,
}

fn classify(text: &str, session_id: &str) -> Kind {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(Ok(meta)) = lines.next().map(serde_json::from_str::<Value>) else {
        return Kind::Other;
    };
    if meta.get("sessionId").and_then(Value::as_str) != Some(session_id) {
        return Kind::Other;
    }
    let mut real = false;
    for line in lines {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            return Kind::Other;
        };
        let messages: Vec<&Value> = match value.get("$set") {
            Some(set) => {
                if let Some(id) = set.get("sessionId")
                    && id.as_str() != Some(session_id)
                {
                    return Kind::Other;
                }
                match set.get("messages") {
                    Some(Value::Array(list)) => list.iter().collect(),
                    Some(_) => return Kind::Other,
                    None => Vec::new(),
                }
            }
            None => vec![&value],
        };
        for message in messages {
            match message_kind(message) {
                Some(true) => real = true,
                Some(false) => {}
                None => return Kind::Other,
            }
        }
    }
    if real {
        Kind::Conversation
    } else {
        Kind::Stray
    }
}

/// Whether a message is part of the conversation (`Some(true)`), gemini's own preamble or a
/// notice (`Some(false)`), or something we do not know (`None`).
fn message_kind(message: &Value) -> Option<bool> {
    match message.get("type")?.as_str()? {
        "user" => Some(!is_session_context(message.get("content")?)),
        "gemini" => Some(true),
        "info" => Some(false),
        _ => None,
    }
}

/// The `<session_context>` preamble gemini writes at the start of every chat file.
fn is_session_context(content: &Value) -> bool {
    let text = match content {
        Value::String(s) => s.as_str(),
        Value::Array(parts) if parts.len() == 1 => {
            match parts[0].get("text").and_then(Value::as_str) {
                Some(t) => t,
                None => return false,
            }
        }
        _ => return false,
    };
    text.starts_with("<session_context>") && text.trim_end().ends_with("</session_context>")
}

#[cfg(test)]
#[path = "gemini_strays_tests.rs"]
mod tests;
