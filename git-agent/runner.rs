//! Runners start an agent and let the supervisor watch and stop it.
//!
//! This is the seam of DESIGN.md §4: a runner takes the prepared worktree, argv and
//! environment and reports the process, its exit, and its output (as streams the supervisor
//! reads, logs and parses). The
//! only runner today is [`LocalRunner`], a local process group; a container, SSH or Kubernetes
//! runner implements the same trait without touching the rest.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, Result};
use nix::sys::signal::Signal;

use crate::process::Cmd;
use crate::procs::ProcessRef;
use crate::session::Exit;

/// Everything needed to start an agent.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The agent's worktree.
    pub cwd: PathBuf,
    /// Added to the (scrubbed) inherited environment.
    pub env: Vec<(String, String)>,
    /// Fed to the agent's stdin; `None` means stdin is closed (`/dev/null`), which matters:
    /// some CLIs (codex, opencode) wait for EOF on an open stdin pipe.
    pub stdin: Option<PathBuf>,
    /// The write sandbox: the only paths beneath which the agent may write (`None`: no
    /// sandbox of ours). See `crate::sandbox`.
    pub sandbox: Option<Vec<PathBuf>>,
}

/// A started agent.
pub struct Launched {
    pub process: ProcessRef,
    /// What the agent prints.
    pub stdout: Box<dyn Read + Send>,
    pub stderr: Box<dyn Read + Send>,
    /// Blocks until the agent exits.
    pub wait: Box<dyn FnOnce() -> Result<Exit> + Send>,
}

/// Starts and controls agents.
pub trait Runner {
    /// Starts the agent; returns as soon as it runs.
    fn launch(&self, spec: &LaunchSpec) -> Result<Launched>;
    /// Sends a signal to everything the agent started. False if nothing of it is left.
    fn signal(&self, process: &ProcessRef, sig: Signal) -> bool;
    /// True while anything the agent started still runs.
    fn is_running(&self, process: &ProcessRef) -> bool;
    /// Stops everything the agent started: SIGTERM, `grace`, SIGKILL.
    fn terminate(&self, process: &ProcessRef, grace: Duration) -> bool;
}

/// Runs the agent as a local process leading its own process group, so one signal reaches
/// every process it starts, and nothing outside the group is ever touched.
pub struct LocalRunner;

impl Runner for LocalRunner {
    fn launch(&self, spec: &LaunchSpec) -> Result<Launched> {
        let stdin = match &spec.stdin {
            Some(path) => Stdio::from(
                File::open(path).with_context(|| format!("could not open {}", path.display()))?,
            ),
            None => Stdio::null(),
        };
        let mut cmd = Cmd::new(&spec.program)
            .args(&spec.args)
            .current_dir(&spec.cwd)
            .scrub_for_agent();
        for (key, value) in &spec.env {
            cmd = cmd.env(key, value);
        }
        if let Some(writable) = &spec.sandbox {
            cmd = crate::sandbox::wrap(&cmd, writable)?;
        }
        let mut child = cmd.spawn(stdin, Stdio::piped(), Stdio::piped(), true)?;
        let process = ProcessRef::of_child(child.id());
        let stdout = child
            .stdout
            .take()
            .context("the agent's stdout is missing")?;
        let stderr = child
            .stderr
            .take()
            .context("the agent's stderr is missing")?;
        let wait = Box::new(move || -> Result<Exit> {
            use std::os::unix::process::ExitStatusExt as _;
            let status = child.wait().context("could not wait for the agent")?;
            Ok(Exit {
                code: status.code(),
                signal: status.signal(),
            })
        });
        Ok(Launched {
            process,
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
            wait,
        })
    }

    fn signal(&self, process: &ProcessRef, sig: Signal) -> bool {
        process.signal_group(sig)
    }

    fn is_running(&self, process: &ProcessRef) -> bool {
        process.group_is_ours()
    }

    fn terminate(&self, process: &ProcessRef, grace: Duration) -> bool {
        process.terminate_group(grace)
    }
}
