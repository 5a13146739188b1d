//! OpenCode: sessions live in its SQLite database (`<store>/opencode.db`), read only through
//! its own subcommands, which need no model: `session list --format json` (every session of
//! the repository's project, newest first, each with its `directory`) and `export ID`.
//!
//! A session only ever runs in its own `directory` (`--session`/`--fork` from elsewhere run
//! in the original directory, then hang), so a carry is export → fresh ids → `import`, run
//! in the target directory. Fresh ids are required: `import` upserts the session by id (an
//! unchanged export would move the *original* to the target) and skips messages and parts
//! whose ids exist. Ids are `<prefix>_` + 12 hex digits of time + 14 random characters; the
//! time part is kept so messages and parts keep their order.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use serde_json::Value;

use super::{Carried, Cli, Conversation, Role, Stores, Tool, Turn, same_dir};
use crate::error::Failure;
use crate::process::Cmd;

fn command(tool: &Tool, dir: &Path) -> Cmd {
    let mut cmd = Cmd::new(tool.program).scrub_for_agent().current_dir(dir);
    for (k, v) in tool.env {
        cmd = cmd.env(k, v);
    }
    cmd
}

/// The sessions `session list` shows from `dir`, newest first.
fn sessions(stores: &Stores, dir: &Path) -> Result<Vec<Value>> {
    let tool = stores.opencode_tool();
    let cmd = command(&tool, dir).args(["session", "list", "--format", "json"]);
    let out = super::run_bounded(&cmd, super::TOOL_TIMEOUT)?;
    // No sessions at all prints nothing.
    let list: Value = match out.find('[') {
        Some(at) => serde_json::from_str(&out[at..])
            .with_context(|| format!("could not read what `{}` printed", cmd.display()))?,
        None => Value::Array(Vec::new()),
    };
    Ok(list.as_array().cloned().unwrap_or_default())
}

fn conversation(entry: &Value, dir: &Path) -> Conversation {
    let updated = entry["updated"]
        .as_u64()
        .map_or(SystemTime::UNIX_EPOCH, |ms| {
            SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
        });
    Conversation {
        cli: Cli::Opencode,
        id: entry["id"].as_str().map(str::to_owned),
        dir: dir.to_owned(),
        file: None,
        updated,
        // Only an export has the messages; the list has an (often model-made) title.
        first_message: None,
    }
}

fn in_dir(entry: &Value, dir: &Path) -> bool {
    entry["directory"]
        .as_str()
        .is_some_and(|d| same_dir(Path::new(d), dir))
}

pub(super) fn latest(stores: &Stores, dir: &Path) -> Result<Option<Conversation>> {
    Ok(sessions(stores, dir)?
        .iter()
        .find(|e| in_dir(e, dir))
        .map(|e| conversation(e, dir)))
}

pub(super) fn find(stores: &Stores, id: &str, dir: &Path) -> Result<Option<Conversation>> {
    Ok(sessions(stores, dir)?
        .iter()
        .find(|e| e["id"] == id && in_dir(e, dir))
        .map(|e| conversation(e, dir)))
}

/// `opencode export ID` run in the session's own directory, parsed.
fn export(conv: &Conversation, tool: &Tool) -> Result<Value> {
    let id = conv.id.as_deref().unwrap_or_default();
    let cmd = command(tool, &conv.dir).args(["export", id]);
    let out = super::run_bounded(&cmd, super::TOOL_TIMEOUT)?;
    // The JSON may follow a line of progress on some versions: start at the first brace.
    let at = out
        .find('{')
        .ok_or_else(|| Failure::fatal(format!("`{}` printed no session", cmd.display())))?;
    serde_json::from_str(&out[at..])
        .with_context(|| format!("could not read what `{}` printed", cmd.display()))
}

pub(super) fn carry(
    conv: &Conversation,
    to: &Path,
    resume: &[String],
    tool: &Tool,
) -> Result<Carried> {
    let mut data = export(conv, tool)?;
    let new_id = rekey(&mut data, &mut random_chars)?;
    // A private directory: the export holds the whole conversation.
    let scratch = tempfile::Builder::new()
        .prefix("git-agent-opencode-")
        .tempdir()
        .context("could not create a temporary directory")?;
    let file = scratch.path().join("session.json");
    std::fs::write(&file, serde_json::to_vec(&data)?)
        .with_context(|| format!("could not write {}", file.display()))?;
    let cmd = command(tool, to).arg("import").arg(&file);
    super::run_bounded(&cmd, super::TOOL_TIMEOUT)?;
    Ok(Carried {
        first_args: super::with_id(resume, &new_id),
        made: Vec::new(),
    })
}

/// Gives an export fresh ids for its session, every message and every part, keeping each
/// id's prefix and 12-hex time part (so the order is kept). Every string equal to one of
/// those ids is replaced (`sessionID`, `messageID`, `parentID`…). Returns the new session id.
pub(super) fn rekey(data: &mut Value, random: &mut dyn FnMut(usize) -> String) -> Result<String> {
    let bad = || Failure::fatal("an opencode export without a session id");
    let session = data["info"]["id"].as_str().ok_or_else(bad)?.to_owned();
    let mut ids = vec![session.clone()];
    for m in data["messages"].as_array().into_iter().flatten() {
        ids.extend(m["info"]["id"].as_str().map(str::to_owned));
        for p in m["parts"].as_array().into_iter().flatten() {
            ids.extend(p["id"].as_str().map(str::to_owned));
        }
    }
    let mut taken: HashSet<String> = ids.iter().cloned().collect();
    let mut map = HashMap::new();
    for id in ids {
        let (prefix, rest) = id.split_once('_').ok_or_else(bad)?;
        let keep = rest.char_indices().nth(12).map_or(rest.len(), |(i, _)| i);
        // Never an empty random part: the id would not change.
        let len = match rest[keep..].chars().count() {
            0 => 14,
            n => n,
        };
        let fresh = loop {
            let candidate = format!("{prefix}_{}{}", &rest[..keep], random(len));
            if taken.insert(candidate.clone()) {
                break candidate;
            }
        };
        map.insert(id, fresh);
    }
    replace_strings(data, &map);
    Ok(map[&session].clone())
}

fn replace_strings(value: &mut Value, map: &HashMap<String, String>) {
    match value {
        Value::String(s) => {
            if let Some(new) = map.get(s.as_str()) {
                *s = new.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| replace_strings(v, map)),
        Value::Object(fields) => fields.values_mut().for_each(|v| replace_strings(v, map)),
        _ => {}
    }
}

/// `n` random letters and digits, from the kernel's random source.
pub(super) fn random_chars(n: usize) -> String {
    use std::io::Read as _;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; n];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // No /dev/urandom: a hash of the time and process is unique enough for ids.
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(std::process::id().to_le_bytes());
        h.update(crate::time::now().as_nanosecond().to_le_bytes());
        let digest = h.finalize();
        bytes = (0..n)
            .map(|i| digest[i % digest.len()] ^ (i as u8))
            .collect();
    }
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

pub(super) fn turns(conv: &Conversation, tool: &Tool) -> Result<Vec<Turn>> {
    Ok(export_turns(&export(conv, tool)?))
}

/// The text parts of an export's user and assistant messages.
pub(super) fn export_turns(data: &Value) -> Vec<Turn> {
    let mut turns = Vec::new();
    for m in data["messages"].as_array().into_iter().flatten() {
        let role = match m["info"]["role"].as_str() {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            _ => continue,
        };
        let text: Vec<&str> = m["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["type"] == "text" && p["synthetic"] != true)
            .filter_map(|p| p["text"].as_str())
            .collect();
        turns.extend(Turn::new(role, text.join("\n")));
    }
    turns
}
