//! Claude Code: `<store>/projects/<key(realpath(dir))>/<session uuid>.jsonl`.
//!
//! The key is the real path with every character but ASCII letters and digits turned into
//! `-` (per UTF-16 unit, as JavaScript does); a key over 200 characters is cut to 200 and
//! given `-` plus a base-36 hash of the path, so lookups match such a directory by its
//! 200-character prefix. The latest conversation of a directory is the newest `*.jsonl`
//! directly in its key directory (subagent transcripts live in subdirectories).
//!
//! A carry copies the file into the target's key directory (so the lookup does not depend
//! on git's worktree list) and resumes it with `--fork-session`: a new id, and the original
//! file is never appended to (a plain `--resume` from a sibling worktree would append).

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use super::{Carried, Cli, Conversation, Role, Stores, Turn, json_lines, modified};

const KEY_MAX: usize = 200;

/// The project key of a (real) directory path.
pub(super) fn key(path: &Path) -> String {
    let path = path.to_string_lossy();
    let mut key = String::new();
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            key.push(c);
        } else {
            key.extend(std::iter::repeat_n('-', c.len_utf16()));
        }
    }
    if key.len() <= KEY_MAX {
        return key;
    }
    // JavaScript's `h = (h << 5) - h + charCode | 0` over the UTF-16 units of the path.
    let mut h: i32 = 0;
    for unit in path.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    format!(
        "{}-{}",
        &key[..KEY_MAX],
        base36(i64::from(h).unsigned_abs())
    )
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The key directories that may hold `dir`'s conversations: its exact key, and for a long
/// key any directory sharing the 200-character prefix (the hash is claude's business).
fn key_dirs(stores: &Stores, dir: &Path) -> Vec<PathBuf> {
    let projects = stores.claude.join("projects");
    let key = key(&super::real(dir));
    if key.len() <= KEY_MAX {
        return vec![projects.join(key)];
    }
    let prefix = &key[..KEY_MAX];
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&projects)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

pub(super) fn latest(stores: &Stores, dir: &Path) -> Result<Option<Conversation>> {
    let newest = key_dirs(stores, dir)
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "jsonl"))
        .max_by_key(|p| modified(p));
    newest.map(|file| conversation(&file, dir)).transpose()
}

pub(super) fn find(stores: &Stores, id: &str, dir: &Path) -> Result<Option<Conversation>> {
    if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
        return Ok(None);
    }
    key_dirs(stores, dir)
        .iter()
        .map(|d| d.join(format!("{id}.jsonl")))
        .find(|f| f.is_file())
        .map(|file| conversation(&file, dir))
        .transpose()
}

fn conversation(file: &Path, dir: &Path) -> Result<Conversation> {
    let id = file.file_stem().map(|s| s.to_string_lossy().into_owned());
    let first_message = turns(file)?
        .into_iter()
        .find(|t| t.role == Role::User)
        .map(|t| t.text);
    Ok(Conversation {
        cli: Cli::Claude,
        id,
        dir: dir.to_owned(),
        file: Some(file.to_owned()),
        updated: modified(file),
        first_message,
    })
}

pub(super) fn carry(
    conv: &Conversation,
    stores: &Stores,
    to: &Path,
    resume: &[String],
) -> Result<Carried> {
    let file = super::need_file(conv)?;
    let id = conv.id.as_deref().unwrap_or_default();
    let target = stores
        .claude
        .join("projects")
        .join(key(&super::real(to)))
        .join(format!("{id}.jsonl"));
    let mut made = Vec::new();
    if target != file && super::copy_keeping(file, &target)? {
        made.push(target);
    }
    let mut first_args = super::with_id(resume, id);
    first_args.push("--fork-session".into());
    Ok(Carried { first_args, made })
}

/// The user's and assistant's text, in order (tool calls, tool results and meta lines left
/// out).
pub(super) fn turns(file: &Path) -> Result<Vec<Turn>> {
    let mut turns = Vec::new();
    for line in json_lines(file)? {
        if line["isMeta"] == true || line["isSidechain"] == true {
            continue;
        }
        let role = match line["type"].as_str() {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            _ => continue,
        };
        if let Some(turn) = Turn::new(role, text(&line["message"]["content"])) {
            turns.push(turn);
        }
    }
    Ok(turns)
}

/// A message content's text: a string, or the `text` blocks of an array.
fn text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}
