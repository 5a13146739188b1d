//! The local runner: the agent as a process group on this machine, in our write sandbox.

use std::fs::File;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, Result};
use nix::sys::signal::Signal;

use super::{LaunchSpec, Launched, Runner};
use crate::process::Cmd;
use crate::procs::ProcessRef;

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
        let child = cmd.spawn(stdin, Stdio::piped(), Stdio::piped(), true)?;
        Launched::from_child(child, "the agent")
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
