//! Team settings committed to the repository, and the trust gate for the commands in them.
//!
//! The project file is `.git-agent.toml` at the repository root, read from the session's
//! **base commit** (never from a worktree, which an agent could edit):
//!
//! ```toml
//! setup = "npm ci"                       # run in each new worktree before the agent starts
//! run = "npm run dev -- --port $GIT_AGENT_PORT"   # `git agent run NAME`
//! verify = "npm test"                    # `git agent review --verify`
//! ports = 2                              # ports reserved per session
//! submodules = true                      # initialise submodules in new worktrees
//! lfs = "smudge"                         # or "skip": no LFS downloads on checkout
//!
//! [profile.team-claude]                  # agent profiles, as in profiles.toml
//! command = "claude -p {prompt} --output-format stream-json --verbose"
//! ```
//!
//! Trust (DESIGN.md §5.8): a command that comes from this file (`setup`, `run`, `verify`, a
//! profile) runs only after the user approved that exact text, as that kind of command, for
//! this repository. Approvals live in `${XDG_CONFIG_HOME:-~/.config}/git-agent/approvals.json`,
//! keyed by the repository's path, the kind (`setup`, `run`, `verify`, `profile NAME`) and the
//! exact text (with its SHA-256): a changed text needs approval again, approving
//! `verify = "make"` never lets `setup = "make"` run unattended on every `new`, and a moved
//! repository starts over. The same settings in the user's own git config (`agent.setup`, …)
//! need no approval: the user wrote them.
//!
//! Version 1 of the file matched by text alone, but every entry recorded the kind it was
//! approved as (the kind the user was shown): those entries now approve that kind only. An
//! entry with no kind we know approves nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::error::Failure;

/// The project file's name, at the repository root.
pub const FILE: &str = ".git-agent.toml";

/// What `.git-agent.toml` says.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProjectFile {
    #[serde(default)]
    pub setup: Option<String>,
    #[serde(default)]
    pub run: Option<String>,
    #[serde(default)]
    pub verify: Option<String>,
    #[serde(default)]
    pub ports: Option<u16>,
    #[serde(default)]
    pub submodules: Option<bool>,
    #[serde(default)]
    pub lfs: Option<String>,
    /// Agents running at once in the repository (a cap never needs approval: it only
    /// holds agents back).
    #[serde(default, alias = "maxParallel", alias = "max-parallel")]
    pub max_parallel: Option<u32>,
    /// Agent profiles, raw (the profile code interprets them).
    #[serde(default)]
    pub profile: BTreeMap<String, toml::Table>,
    /// Keys this version does not know (a newer git-agent's), reported, not fatal.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, toml::Value>,
}

impl ProjectFile {
    /// A top-level setting by its name in the file (`setup`, `ports`…), as text.
    pub fn value_of(&self, field: &str) -> Option<String> {
        match field {
            "setup" => self.setup.clone(),
            "run" => self.run.clone(),
            "verify" => self.verify.clone(),
            "ports" => self.ports.map(|p| p.to_string()),
            "submodules" => self.submodules.map(|b| b.to_string()),
            "lfs" => self.lfs.clone(),
            "max_parallel" => self.max_parallel.map(|n| n.to_string()),
            _ => None,
        }
    }

    /// What to say about the keys this version does not read: notification settings (only
    /// the user's git config sets them: a command the repository named would run unsandboxed
    /// on every transition), and keys it does not know (a newer git-agent's?).
    pub fn ignored_keys(&self) -> Vec<String> {
        self.unknown
            .keys()
            .map(|key| {
                if key.to_ascii_lowercase().starts_with("notify") {
                    format!(
                        "{FILE}: '{key}' is ignored: notifications are set in your own git config (git config --global agent.notifyCommand …)"
                    )
                } else {
                    format!("{FILE}: unknown setting '{key}' (from a newer git-agent?); ignored")
                }
            })
            .collect()
    }

    /// Parses the file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| {
            Failure::fatal(format!("{origin}: {}", e.to_string().trim_end()))
                .hint(format!(
                    "fix {FILE} in that commit, or choose another --base"
                ))
                .into()
        })
    }

    /// Reads the file from a commit; `None` if the commit has no such file.
    pub fn at_commit(repo: &gix::Repository, commit: &str) -> Result<Option<Self>> {
        let Some(text) = file_at_commit(repo, commit, FILE)? else {
            return Ok(None);
        };
        let short = crate::session::short_id(commit);
        Self::parse(&text, &format!("{FILE} at {short}")).map(Some)
    }

    /// A profile table as the text the user approves (and its hash covers).
    pub fn profile_text(&self, name: &str) -> Option<String> {
        self.profile.get(name).map(|table| {
            let mut doc = toml::Table::new();
            doc.insert(name.to_owned(), toml::Value::Table(table.clone()));
            let mut outer = toml::Table::new();
            outer.insert("profile".to_owned(), toml::Value::Table(doc));
            toml::to_string(&outer)
                .unwrap_or_default()
                .trim_end()
                .to_owned()
        })
    }
}

/// The text of `path` in `commit`, if it is a blob there.
pub fn file_at_commit(repo: &gix::Repository, commit: &str, path: &str) -> Result<Option<String>> {
    let id = gix::ObjectId::from_hex(commit.as_bytes())
        .with_context(|| format!("bad commit id {commit}"))?;
    let tree = repo.find_commit(id)?.tree()?;
    let Some(entry) = tree.lookup_entry_by_path(path)? else {
        return Ok(None);
    };
    if !entry.mode().is_blob() {
        return Ok(None);
    }
    let blob = entry.object()?;
    Ok(Some(String::from_utf8_lossy(&blob.data).into_owned()))
}

/// A command a repository defines, as the user approves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectCommand {
    /// `setup`, `run`, `verify` or `profile <name>`.
    pub what: String,
    pub text: String,
    /// Where it is written: `.git-agent.toml`, or a plan file.
    pub source: String,
}

impl ProjectCommand {
    pub fn new(what: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            text: text.into(),
            source: FILE.to_owned(),
        }
    }

    /// A command of a plan file (`validate`, a task's `verify`), named by `file`.
    pub fn from_plan(what: impl Into<String>, text: impl Into<String>, file: &str) -> Self {
        Self {
            source: file.to_owned(),
            ..Self::new(what, text)
        }
    }

    /// SHA-256 of the exact text, hex.
    pub fn hash(&self) -> String {
        let digest = sha2::Sha256::digest(self.text.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The version of `approvals.json` this code writes (1: matched by text alone).
const APPROVALS_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Approval {
    repo: PathBuf,
    /// The kind of command: `setup`, `run`, `verify` or `profile NAME`.
    #[serde(default)]
    what: String,
    sha256: String,
    text: String,
    approved_at: jiff::Timestamp,
}

impl Approval {
    /// The approval covers this command of this repository: same kind, same exact text.
    fn covers(&self, repo: &Path, command: &ProjectCommand) -> bool {
        self.repo == repo
            && is_kind(&self.what)
            && self.what == command.what
            && self.sha256 == command.hash()
            && self.text == command.text
    }
}

/// A kind of command the project file defines (`setup`, `run`, `verify`, `profile NAME`) or a
/// plan file does (`plan validate`, `task ID verify`).
pub fn is_kind(what: &str) -> bool {
    matches!(what, "setup" | "run" | "verify" | "plan validate" | "image")
        || what
            .strip_prefix("profile ")
            .is_some_and(|name| !name.is_empty())
        || what
            .strip_prefix("task ")
            .and_then(|t| t.strip_suffix(" verify"))
            .is_some_and(|id| !id.is_empty())
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ApprovalsDoc {
    version: u32,
    #[serde(default)]
    approvals: Vec<Approval>,
}

/// The user's approvals of repository-defined commands.
#[derive(Debug)]
pub struct Approvals {
    path: PathBuf,
    doc: ApprovalsDoc,
}

impl Approvals {
    /// `${XDG_CONFIG_HOME:-~/.config}/git-agent/approvals.json`.
    pub fn default_path() -> Result<PathBuf> {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .ok_or_else(|| {
                Failure::fatal("neither XDG_CONFIG_HOME nor HOME is set; nowhere to keep approvals")
            })?;
        Ok(base.join("git-agent").join("approvals.json"))
    }

    pub fn load() -> Result<Self> {
        let path = Self::default_path()?;
        let doc = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                Failure::fatal(format!("{} is damaged: {e}", path.display()))
                    .hint("move it aside; you will be asked to approve repository commands again")
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ApprovalsDoc {
                version: APPROVALS_VERSION,
                approvals: Vec::new(),
            },
            Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
        };
        if doc.version > APPROVALS_VERSION {
            return Err(Failure::fatal(format!(
                "{} was written by a newer git-agent (version {}, this one reads {APPROVALS_VERSION})",
                path.display(),
                doc.version
            ))
            .hint("upgrade git-agent; approvals it does not understand approve nothing")
            .into());
        }
        Ok(Self { path, doc })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True if this exact text was approved as this kind of command for this repository.
    pub fn is_approved(&self, repo: &Path, command: &ProjectCommand) -> bool {
        self.doc.approvals.iter().any(|a| a.covers(repo, command))
    }

    /// Approves commands for a repository and saves.
    pub fn approve(&mut self, repo: &Path, commands: &[ProjectCommand]) -> Result<()> {
        for c in commands {
            if self.is_approved(repo, c) {
                continue;
            }
            self.doc.approvals.push(Approval {
                repo: repo.to_owned(),
                what: c.what.clone(),
                sha256: c.hash(),
                text: c.text.clone(),
                approved_at: crate::time::now(),
            });
        }
        self.save()
    }

    /// Forgets every approval for a repository; returns how many.
    pub fn revoke(&mut self, repo: &Path) -> Result<usize> {
        let before = self.doc.approvals.len();
        self.doc.approvals.retain(|a| a.repo != repo);
        let removed = before - self.doc.approvals.len();
        self.save()?;
        Ok(removed)
    }

    /// Approved texts for a repository: (what, text, when).
    pub fn for_repo(&self, repo: &Path) -> Vec<(String, String, jiff::Timestamp)> {
        self.doc
            .approvals
            .iter()
            .filter(|a| a.repo == repo)
            .map(|a| (a.what.clone(), a.text.clone(), a.approved_at))
            .collect()
    }

    fn save(&self) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer_pretty(
            &mut tmp,
            &ApprovalsDoc {
                version: APPROVALS_VERSION,
                approvals: self.doc.approvals.clone(),
            },
        )?;
        tmp.persist(&self.path)
            .with_context(|| format!("could not write {}", self.path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_project_file() {
        let p = ProjectFile::parse(
            "setup = \"npm ci\"\nports = 2\nfuture_key = 1\n[profile.team]\ncommand = \"x --y\"\n",
            "test",
        )
        .unwrap();
        assert_eq!(p.setup.as_deref(), Some("npm ci"));
        assert_eq!(p.ports, Some(2));
        assert!(p.unknown.contains_key("future_key"));
        assert!(
            p.profile_text("team")
                .unwrap()
                .contains("command = \"x --y\"")
        );
        assert!(ProjectFile::parse("setup = [", "test").is_err());
    }

    #[test]
    fn an_approval_covers_one_kind_of_command() {
        let repo = Path::new("/r");
        let verify = ProjectCommand::new("verify", "make");
        let approval = Approval {
            repo: repo.to_owned(),
            what: verify.what.clone(),
            sha256: verify.hash(),
            text: verify.text.clone(),
            approved_at: jiff::Timestamp::UNIX_EPOCH,
        };
        assert!(approval.covers(repo, &verify));
        assert!(!approval.covers(repo, &ProjectCommand::new("setup", "make")));
        assert!(!approval.covers(repo, &ProjectCommand::new("profile verify", "make")));
        assert!(!approval.covers(Path::new("/other"), &verify));
        let unknown = Approval {
            what: String::new(),
            ..approval
        };
        assert!(!unknown.covers(repo, &ProjectCommand::new("", "make")));
    }

    #[test]
    fn hashes_exact_text() {
        let a = ProjectCommand::new("setup", "npm ci");
        let b = ProjectCommand::new("setup", "npm ci ");
        assert_eq!(a.hash().len(), 64);
        assert_ne!(a.hash(), b.hash());
    }
}
