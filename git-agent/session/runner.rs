//! Where a session's agent runs, as recorded: on this machine (no `runner` in the record), in
//! a container, on another machine over SSH, or through a runner plugin. Whatever the runner,
//! the result is commits on the session's branch in the local repository.
//!
//! Each kind keeps what its runner needs to find, stop and clean up after what it started
//! (a container's name, a remote session's name); the runner fills these in as it starts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A runner other than the local process group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RunnerRecord {
    /// `--runner docker|podman`.
    Container(ContainerRecord),
    /// `--runner ssh://[user@]host[:port]/path`.
    Ssh(SshRecord),
    /// `--runner NAME`: `git-agent-runner-NAME` on PATH.
    Plugin(PluginRecord),
}

impl RunnerRecord {
    /// How `list` and `show` name it: `docker`, `ssh box`, `plugin k8s`.
    pub fn label(&self) -> String {
        match self {
            Self::Container(c) => c.engine.clone(),
            Self::Ssh(s) => format!("ssh {}", s.host),
            Self::Plugin(p) => format!("plugin {}", p.name),
        }
    }

    /// Whether the agent works in the session's worktree here (a mounted container), rather
    /// than elsewhere, its work coming back only through the runner's `collect`.
    pub fn works_here(&self) -> bool {
        matches!(self, Self::Container(c) if c.workspace == Workspace::Mount)
    }

    /// In words, for `show`.
    pub fn describe(&self) -> String {
        match self {
            Self::Container(c) => {
                let how = match (c.workspace, &c.clone_from) {
                    (Workspace::Mount, _) => "the worktree mounted".to_owned(),
                    (Workspace::Clone, None) => "a clone of its own".to_owned(),
                    (Workspace::Clone, Some(url)) => format!("a clone of its own, from {url}"),
                };
                let engine = match &c.host {
                    Some(host) => format!("{} at {host}", c.engine),
                    None => c.engine.clone(),
                };
                format!("{engine}, image {} ({}), {how}", c.image, c.image_source)
            }
            Self::Ssh(s) => format!("ssh, {}", s.target),
            Self::Plugin(p) => match &p.handle {
                Some(handle) => {
                    format!("plugin {} ({}), run {handle}", p.name, p.program.display())
                }
                None => format!("plugin {} ({})", p.name, p.program.display()),
            },
        }
    }
}

/// How a container gets the work: the worktree mounted, or a clone of its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workspace {
    #[default]
    Mount,
    Clone,
}

/// A container runner's session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// The CLI: `docker` or `podman`.
    pub engine: String,
    /// The engine's host (`DOCKER_HOST`, podman's `CONTAINER_HOST`) when the session was
    /// created: every later command (`stop` from another shell) talks to that engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub image: String,
    /// Where the image was named: `agent.image`, `.devcontainer/devcontainer.json`.
    pub image_source: String,
    #[serde(default)]
    pub workspace: Workspace,
    /// Clone mode: the URL the container clones from (`agent.runner.cloneFrom`), the branch's
    /// commits it lacks coming as a bundle; absent: the whole branch comes as a bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone_from: Option<String>,
    /// `none` for no network; absent for the engine's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Names of host variables passed in (the profile's and `agent.runner.env`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// The container of the current run, once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// An SSH runner's session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SshRecord {
    /// As the user typed it: `ssh://user@host:port/path`.
    pub target: String,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The repository on the remote machine.
    pub path: String,
    /// The session's name over there, once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_name: Option<String>,
    /// Set when a run's connection was lost while the remote session may still run: how
    /// many lines of its raw log had arrived here. The next run (`resume`, `doctor --fix`)
    /// reconnects to the remote session without telling its agent anything, and follows
    /// its log from there (what it printed meanwhile comes here too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnected: Option<u64>,
    /// Where the current run's part of the remote session's raw log starts (how many lines
    /// it had when the run began following it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_from: Option<u64>,
}

/// A runner plugin's session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginRecord {
    /// `NAME` of `git-agent-runner-NAME`.
    pub name: String,
    /// The program found on PATH when the session was created.
    pub program: PathBuf,
    /// What the plugin calls the run (its `started` message), once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
}
