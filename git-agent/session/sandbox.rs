//! The sandbox as the record keeps it: the setting asked for at `new` and what each run got.
//! Plain record data; deciding and enforcing the sandbox is `crate::sandbox`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `agent.sandbox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Setting {
    /// On where the kernel supports it; unsandboxed (and said so) elsewhere.
    #[default]
    Auto,
    /// Required: refuse to start an agent without it.
    On,
    /// Never.
    Off,
}

impl Setting {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::On => "on",
            Self::Off => "off",
        }
    }
}

/// What the session asked for at `new`, kept in its record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub setting: Setting,
    /// `agent.sandbox.allowWrite` at the time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_write: Vec<PathBuf>,
    /// What the last run got: `landlock`, `agent` (the CLI's own), `off` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_force: Option<InForce>,
}

/// The sandbox a run had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InForce {
    /// `landlock`, `agent`, `runner` (the runner's own room: a container, another
    /// machine), `off` or `none`.
    pub kind: String,
    /// In words, for `show` and `list`.
    pub detail: String,
    /// The paths the agent could write (Landlock only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writable: Vec<PathBuf>,
}

impl InForce {
    /// True if some sandbox confined the agent's writes.
    pub fn confined(&self) -> bool {
        matches!(self.kind.as_str(), "landlock" | "agent" | "runner")
    }
}
