//! Plugins: `git-agent-<verb>` executables that serve verbs git-agent does not know.
//!
//! Found the way cargo finds `cargo-*`: next to our own executable first (so an installed
//! suite uses its own `git-agent-merge`), then on `PATH`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a plugin's file name starts.
const PREFIX: &str = "git-agent-";

/// Plugins found: verb → executable, first match wins (our own directory, then `PATH`).
pub fn plugins() -> BTreeMap<String, PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_owned))
    {
        dirs.push(dir);
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    let mut found = BTreeMap::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(verb) = file.strip_prefix(PREFIX) else {
                continue;
            };
            if verb.is_empty() || verb.contains('.') || !is_executable(&entry.path()) {
                continue;
            }
            found.entry(verb.to_owned()).or_insert_with(|| entry.path());
        }
    }
    found
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `git-agent-<verb>`: next to our own executable first, then on `PATH` (with `which`).
pub fn find_plugin(verb: &str) -> Option<PathBuf> {
    if verb.is_empty() || verb.contains(['/', '\\']) || verb.starts_with('-') {
        return None;
    }
    let name = format!("{PREFIX}{verb}");
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(&name)));
    beside
        .filter(|p| is_executable(p))
        .or_else(|| which::which(&name).ok())
}
