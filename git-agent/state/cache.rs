//! Results that depend only on commits, cached by their ids in `agent/cache/commits.json`.
//!
//! A commit never changes, so an entry keyed by the commit ids it was computed from is valid
//! forever: nothing needs invalidating. The file is rewritten atomically (temporary file +
//! rename) without the state lock; concurrent writers may lose each other's new entries, never
//! correctness. It is dropped and rebuilt past [`MAX_ENTRIES`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::state::StateDir;

const MAX_ENTRIES: usize = 4096;

/// The cache, loaded.
pub struct CommitCache {
    path: PathBuf,
    entries: BTreeMap<String, [u64; 3]>,
    changed: bool,
}

impl CommitCache {
    pub fn load(state: &StateDir) -> Self {
        let path = state.root().join("cache").join("commits.json");
        let entries = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Self {
            path,
            entries,
            changed: false,
        }
    }

    pub fn get(&self, key: &str) -> Option<&[u64; 3]> {
        self.entries.get(key)
    }

    pub fn put(&mut self, key: String, value: [u64; 3]) {
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(key, value);
        self.changed = true;
    }

    /// Writes the cache back if anything was added; best effort (a cache).
    pub fn save(&self) {
        if !self.changed {
            return;
        }
        let Some(dir) = self.path.parent() else {
            return;
        };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
            serde_json::to_writer(&mut tmp, &self.entries)?;
            tmp.persist(&self.path).map_err(|e| e.error)?;
            Ok(())
        };
        let _ = write();
    }
}
