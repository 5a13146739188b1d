//! Codex: `<store>/sessions/YYYY/MM/DD/rollout-<time>-<thread uuid>.jsonl`.
//!
//! Threads are global, not kept per directory: a rollout's directory is the `cwd` of its
//! last `turn_context` line (where it last ran; codex's own index follows the same), else of
//! its `session_meta`. The latest conversation of a directory is the newest rollout (by
//! modification time) whose directory that is; rollouts are read newest first and only until
//! one matches. Codex's SQLite index is not read (no SQLite dependency for one query).
//!
//! A carry copies nothing: codex's own `exec <mode> fork ID PROMPT` starts a new thread from
//! the original's history wherever it runs, leaving the original rollout untouched (a
//! `resume` from elsewhere would append to it and move its recorded directory).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde_json::Value;

use super::{Carried, Cli, Conversation, Role, Stores, Turn, json_lines, modified, same_dir};

/// Every rollout file, newest first.
fn rollouts(stores: &Stores) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if depth < 3 && path.is_dir() {
                walk(&path, depth + 1, out);
            } else if depth == 3 && is_rollout(&path) {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&stores.codex.join("sessions"), 0, &mut files);
    let mut dated: Vec<_> = files.into_iter().map(|f| (modified(&f), f)).collect();
    dated.sort_by(|a, b| b.cmp(a));
    dated.into_iter().map(|(_, f)| f).collect()
}

fn is_rollout(path: &Path) -> bool {
    path.file_name()
        .map(|n| n.to_string_lossy())
        .is_some_and(|n| n.starts_with("rollout-") && n.ends_with(".jsonl"))
        && path.is_file()
}

/// What a rollout says about itself.
struct Meta {
    id: Option<String>,
    cwd: Option<PathBuf>,
    forked_from: Option<String>,
    /// How many of the parent's lines the fork took (`forked_from_ordinal_exclusive`).
    forked_at: Option<usize>,
    lines: Vec<Value>,
}

fn meta(file: &Path) -> Result<Meta> {
    Ok(meta_of(json_lines(file)?))
}

/// The first `upto` lines of a rollout (all without a limit): a fork's ordinal counts lines.
fn lines_upto(file: &Path, upto: Option<usize>) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("could not read {}", file.display()))?;
    Ok(text
        .lines()
        .take(upto.unwrap_or(usize::MAX))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

fn meta_of(lines: Vec<Value>) -> Meta {
    let mut m = Meta {
        id: None,
        cwd: None,
        forked_from: None,
        forked_at: None,
        lines: Vec::new(),
    };
    let mut turn_cwd = None;
    for line in &lines {
        let payload = &line["payload"];
        match line["type"].as_str() {
            Some("session_meta") if m.id.is_none() => {
                m.id = payload["id"].as_str().map(str::to_owned);
                m.cwd = payload["cwd"].as_str().map(PathBuf::from);
                m.forked_from = payload["forked_from_id"].as_str().map(str::to_owned);
                m.forked_at = payload["forked_from_ordinal_exclusive"]
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok());
            }
            Some("turn_context") => {
                if let Some(cwd) = payload["cwd"].as_str() {
                    turn_cwd = Some(PathBuf::from(cwd));
                }
            }
            _ => {}
        }
    }
    m.cwd = turn_cwd.or(m.cwd);
    m.lines = lines;
    m
}

pub(super) fn latest(stores: &Stores, dir: &Path) -> Result<Option<Conversation>> {
    for file in rollouts(stores) {
        let m = meta(&file)?;
        if m.cwd.as_deref().is_some_and(|c| same_dir(c, dir)) {
            return Ok(Some(conversation(stores, &file, m, dir)));
        }
    }
    Ok(None)
}

pub(super) fn find(stores: &Stores, id: &str, dir: &Path) -> Result<Option<Conversation>> {
    let Some(file) = by_id(stores, id) else {
        return Ok(None);
    };
    let m = meta(&file)?;
    if !m.cwd.as_deref().is_some_and(|c| same_dir(c, dir)) {
        return Ok(None);
    }
    Ok(Some(conversation(stores, &file, m, dir)))
}

/// The rollout of thread `id` (its file name ends in `-<id>.jsonl`).
fn by_id(stores: &Stores, id: &str) -> Option<PathBuf> {
    if id.is_empty() || id.contains(['/', '\\']) {
        return None;
    }
    let suffix = format!("-{id}.jsonl");
    rollouts(stores)
        .into_iter()
        .find(|f| f.to_string_lossy().ends_with(&suffix))
}

fn conversation(stores: &Stores, file: &Path, m: Meta, dir: &Path) -> Conversation {
    let mut first_message = first_user(&m.lines);
    // A fork's rollout holds only what came after the fork: its first message is its
    // parent's (one level is enough for a message to show).
    if first_message.is_none()
        && let Some(parent) = m.forked_from.as_deref().and_then(|p| by_id(stores, p))
    {
        first_message = json_lines(&parent).ok().and_then(|l| first_user(&l));
    }
    Conversation {
        cli: Cli::Codex,
        id: m.id,
        dir: dir.to_owned(),
        file: Some(file.to_owned()),
        updated: modified(file),
        first_message,
    }
}

fn first_user(lines: &[Value]) -> Option<String> {
    messages(lines)
        .into_iter()
        .find(|t| t.role == Role::User)
        .map(|t| t.text)
}

pub(super) fn carry(conv: &Conversation, resume: &[String]) -> Result<Carried> {
    let id = conv.id.as_deref().unwrap_or_default();
    // `exec … <mode> resume ID PROMPT` becomes `exec … <mode> fork ID PROMPT`: the mode
    // flags stay before the subcommand, where `fork` (like `resume`) wants them.
    let first_args = super::with_id(resume, id)
        .into_iter()
        .map(|a| if a == "resume" { "fork".into() } else { a })
        .collect();
    Ok(Carried {
        first_args,
        made: Vec::new(),
    })
}

/// The conversation's messages; a fork's are preceded by what it took of its parent's.
pub(super) fn turns(stores: &Stores, file: &Path) -> Result<Vec<Turn>> {
    history(stores, file, None, 0)
}

/// Forks of forks are followed this deep (a cycle cannot loop forever).
const MAX_FORK_DEPTH: usize = 8;

fn history(stores: &Stores, file: &Path, upto: Option<usize>, depth: usize) -> Result<Vec<Turn>> {
    let m = meta_of(lines_upto(file, upto)?);
    let mut turns = Vec::new();
    if depth < MAX_FORK_DEPTH
        && let Some(parent) = m.forked_from.as_deref().and_then(|p| by_id(stores, p))
    {
        turns = history(stores, &parent, m.forked_at, depth + 1)?;
    }
    turns.extend(messages(&m.lines));
    Ok(turns)
}

/// The user's and agent's messages as codex reports them (`item_completed` events, or the
/// older `user_message`/`agent_message` events): unlike the `response_item` lines these
/// leave out the environment context and instructions codex sends as user messages.
fn messages(lines: &[Value]) -> Vec<Turn> {
    let mut turns = Vec::new();
    for line in lines.iter().filter(|l| l["type"] == "event_msg") {
        let p = &line["payload"];
        let turn = match p["type"].as_str() {
            Some("item_completed") => {
                let role = match p["item"]["type"].as_str() {
                    Some("UserMessage") => Role::User,
                    Some("AgentMessage") => Role::Assistant,
                    _ => continue,
                };
                let text: Vec<&str> = p["item"]["content"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["text"].as_str())
                    .collect();
                Turn::new(role, text.join("\n"))
            }
            Some("user_message") => Turn::new(Role::User, p["message"].as_str().unwrap_or("")),
            Some("agent_message") => {
                Turn::new(Role::Assistant, p["message"].as_str().unwrap_or(""))
            }
            _ => None,
        };
        turns.extend(turn);
    }
    turns
}
