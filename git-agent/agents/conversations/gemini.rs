//! Gemini CLI: `<store>/projects.json` maps a directory (as `path.resolve` gives it, not
//! the real path) to a slug; its chats are `<store>/tmp/<slug>/chats/session-<time>-<id8>.jsonl`.
//!
//! A chat file starts with `{sessionId, projectHash, startTime, lastUpdated, kind}`; then
//! message lines `{id, type: user|gemini|info, content}` and `{"$set": {…}}` patches (a
//! `messages` array, a newer `lastUpdated`). A resume leaves a *stray* file holding only the
//! metadata and gemini's `<session_context>` message: files with no real user or gemini
//! message are skipped, and files are grouped by `sessionId` (newest `lastUpdated` wins).
//! The slug is never computed (collisions make it `slug-1`…): read from `projects.json`, or
//! from the `.project_root` marker of each slug directory.
//!
//! A carry copies nothing: `--session-file <original file>` makes gemini import it as a new
//! session of the directory it runs in, leaving the original file untouched.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Result;
use serde_json::Value;

use super::{Carried, Cli, Conversation, Role, Stores, Turn, json_lines, modified};

/// The slug directory of `dir`, if gemini ever ran there.
fn project_dir(stores: &Stores, dir: &Path) -> Option<PathBuf> {
    let tmp = stores.gemini.join("tmp");
    let wanted = [dir.to_owned(), super::real(dir)];
    let registry: Value = std::fs::read_to_string(stores.gemini.join("projects.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    for path in &wanted {
        if let Some(slug) = registry["projects"][path.to_string_lossy().as_ref()].as_str()
            && !slug.is_empty()
            && !slug.contains('/')
        {
            return Some(tmp.join(slug));
        }
    }
    std::fs::read_dir(&tmp)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|slug| {
            std::fs::read_to_string(slug.join(".project_root"))
                .is_ok_and(|root| wanted.iter().any(|w| Path::new(root.trim()) == w))
        })
}

/// One chat file, read.
struct Chat {
    file: PathBuf,
    session: String,
    updated: SystemTime,
    turns: Vec<Turn>,
}

fn read_chat(file: &Path) -> Result<Option<Chat>> {
    let lines = json_lines(file)?;
    let Some(session) = lines.first().and_then(|l| l["sessionId"].as_str()) else {
        return Ok(None);
    };
    let mut last_updated = None;
    // Message lines are rewritten in place by id (a reply, then the same reply with its tool
    // calls): keep the first position and the latest content.
    let mut order: Vec<String> = Vec::new();
    let mut by_id: HashMap<String, Value> = HashMap::new();
    let mut add = |m: &Value| {
        let id = m["id"].as_str().unwrap_or_default().to_owned();
        if !by_id.contains_key(&id) {
            order.push(id.clone());
        }
        by_id.insert(id, m.clone());
    };
    for line in &lines {
        let fields = line.get("$set").unwrap_or(line);
        if let Some(t) = fields["lastUpdated"].as_str() {
            last_updated = Some(t.to_owned());
        }
        if line.get("type").is_some() {
            add(line);
        }
        for m in fields["messages"].as_array().into_iter().flatten() {
            add(m);
        }
    }
    let turns: Vec<Turn> = order.iter().filter_map(|id| turn(&by_id[id])).collect();
    if turns.is_empty() {
        return Ok(None);
    }
    let updated = last_updated
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map_or_else(|| modified(file), SystemTime::from);
    Ok(Some(Chat {
        file: file.to_owned(),
        session: session.to_owned(),
        updated,
        turns,
    }))
}

/// A message's text as a turn (gemini's own `<session_context>` preamble, tool results and
/// `info` lines are not turns).
fn turn(m: &Value) -> Option<Turn> {
    let text = match &m["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    match m["type"].as_str() {
        Some("user") if !text.trim_start().starts_with("<session_context>") => {
            Turn::new(Role::User, text)
        }
        Some("gemini") => Turn::new(Role::Assistant, text),
        _ => None,
    }
}

/// The resumable chats of `dir`, newest last.
fn chats(stores: &Stores, dir: &Path) -> Result<Vec<Chat>> {
    let Some(project) = project_dir(stores, dir) else {
        return Ok(Vec::new());
    };
    let mut chats = Vec::new();
    for entry in std::fs::read_dir(project.join("chats"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("session-") && name.ends_with(".jsonl") && path.is_file() {
            chats.extend(read_chat(&path)?);
        }
    }
    chats.sort_by_key(|c| c.updated);
    Ok(chats)
}

pub(super) fn latest(stores: &Stores, dir: &Path) -> Result<Option<Conversation>> {
    Ok(chats(stores, dir)?.pop().map(|c| conversation(c, dir)))
}

pub(super) fn find(stores: &Stores, id: &str, dir: &Path) -> Result<Option<Conversation>> {
    Ok(chats(stores, dir)?
        .into_iter()
        .rfind(|c| c.session == id)
        .map(|c| conversation(c, dir)))
}

fn conversation(chat: Chat, dir: &Path) -> Conversation {
    let first_message = chat
        .turns
        .into_iter()
        .find(|t| t.role == Role::User)
        .map(|t| t.text);
    Conversation {
        cli: Cli::Gemini,
        id: Some(chat.session),
        dir: dir.to_owned(),
        file: Some(chat.file),
        updated: chat.updated,
        first_message,
    }
}

pub(super) fn carry(conv: &Conversation, args: &[String]) -> Result<Carried> {
    let file = super::need_file(conv)?;
    let mut first_args = args.to_vec();
    first_args.push("--session-file".into());
    first_args.push(file.to_string_lossy().into_owned());
    Ok(Carried {
        first_args,
        made: Vec::new(),
    })
}

pub(super) fn turns(file: &Path) -> Result<Vec<Turn>> {
    Ok(read_chat(file)?.map(|c| c.turns).unwrap_or_default())
}
