//! Runner plugins: `git-agent-runner-NAME` on PATH runs the agent wherever it likes (a
//! cluster Job, a hosted sandbox) and speaks the JSON-lines protocol of [`protocol`] with us
//! over its stdin and stdout.
//!
//! Owns the plugin process of a run, the bundles it is given and hands back
//! (`sessions/NAME/plugin/`), and the plugin's handle in the record. Invariants:
//! - the plugin process is the run's local process ([`Launched::process`]): it leads its own
//!   process group and lives from `start` until it has answered `collect` and seen its stdin
//!   close, so [`Launched::wait`] returns only once the plugin is gone. If the supervisor
//!   dies, the plugin's stdin ends: the plugin must stop the agent then;
//! - what the agent made comes back only through a bundle that `git::bundle` checks and
//!   fast-forwards in the worktree; a result that cannot be brought in stays under
//!   `refs/agent-incoming/NAME` and the error says so;
//! - we never run anything the plugin names, and give it only the spec's environment for
//!   the agent (the plugin itself inherits ours, as any program the user installs does).

mod conn;
pub mod protocol;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use nix::sys::signal::Signal;

use super::{LaunchSpec, Launched, Runner, with_hints};
use crate::error::Failure;
use crate::git::bundle;
use crate::git::repo::Repo;
use crate::process::Cmd;
use crate::procs::ProcessRef;
use crate::session::{PluginRecord, RunnerRecord, Session};
use crate::state::StateDir;
use conn::Shared;
use protocol::{Limits, Start, ToPlugin};

/// How long a plugin may take to say `started` (a cluster may take a while to accept a Job).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// After `signal KILL`, how long the plugin has to report the exit before its group is killed.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// The program that implements runner `name`.
pub fn program_name(name: &str) -> String {
    format!("git-agent-runner-{name}")
}

/// The record of runner plugin `name`: its program found on PATH now (a missing one is a
/// fatal error naming it).
pub fn find(name: &str, from: &str) -> Result<RunnerRecord> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with(['-', '.']);
    if !valid {
        return Err(Failure::usage(format!("unknown runner '{name}' ({from})"))
            .hint(RUNNERS_HINT)
            .into());
    }
    let program = program_name(name);
    let path = which::which(&program).map_err(|_| {
        Failure::fatal(format!(
            "no runner '{name}' ({from}): {program} is not on PATH"
        ))
        .hint(RUNNERS_HINT)
        .hint("see RUNNER PLUGINS in 'git help agent' for what a plugin speaks")
    })?;
    Ok(RunnerRecord::Plugin(PluginRecord {
        name: name.to_owned(),
        program: path,
        handle: None,
    }))
}

const RUNNERS_HINT: &str = "the runners: local, docker, podman, ssh://[user@]host[:port]/path, or NAME for a \
     plugin git-agent-runner-NAME on PATH";

/// Runs the agent through a runner plugin (see the module doc).
pub struct PluginRunner {
    state: StateDir,
    session: Session,
    plugin: PluginRecord,
    shared: Arc<Shared>,
}

impl PluginRunner {
    pub fn new(state: &StateDir, session: &Session, plugin: &PluginRecord) -> Self {
        Self {
            state: state.clone(),
            session: session.clone(),
            plugin: plugin.clone(),
            shared: Arc::new(Shared::default()),
        }
    }

    fn label(&self) -> String {
        program_name(&self.plugin.name)
    }

    /// The folder of the bundles given to and handed back by the plugin.
    fn dir(&self) -> PathBuf {
        self.state.session_dir(&self.session.name).join("plugin")
    }

    fn repo(&self) -> Result<Repo> {
        Repo::open_common(self.state.root().parent().unwrap_or(self.state.root()))
    }

    /// The start message: the branch bundled into our folder, the agent's environment as
    /// the spec has it plus the allowlisted host variables.
    fn start(&self, spec: &LaunchSpec, repo: &Repo) -> Result<Start> {
        let dir = self.dir();
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        let (out, result) = (dir.join("branch.bundle"), dir.join("result.bundle"));
        // Before anything is removed: an earlier result kept unmerged stays the only one.
        bundle::refuse_if_pending(repo, &self.session).map_err(with_hints)?;
        // A result left by an earlier run must not pass for this one's.
        match std::fs::remove_file(&result) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).context(format!("could not remove {}", result.display()));
            }
            _ => {}
        }
        let tip = bundle::create(repo, &self.session, &out)?;
        let config = repo.config();
        let mut env = BTreeMap::new();
        for name in config.strings("agent.runner.env") {
            if let Ok(value) = std::env::var(&name) {
                env.insert(name, value);
            }
        }
        env.extend(spec.env.iter().cloned());
        let mut argv = vec![spec.program.to_string_lossy().into_owned()];
        argv.extend(spec.args.iter().cloned());
        Ok(Start {
            session: self.session.name.clone(),
            branch: self.session.branch.clone(),
            base: self.session.base.commit.clone(),
            tip,
            bundle: out,
            argv,
            env,
            stdin: spec.stdin.clone(),
            workdir: spec.cwd.clone(),
            limits: Limits {
                timeout_secs: self.session.timeout_secs,
                cpus: config.string("agent.runner.cpus"),
                memory: config.string("agent.runner.memory"),
            },
            result,
        })
    }

    /// Ends a plugin that did not start the run, and says why.
    fn give_up(&self, mut child: Child, process: &ProcessRef, why: &str) -> anyhow::Error {
        // Its stdin closed, it ends by itself; a plugin that does not is stopped. It is
        // reaped before its group is judged (a zombie still counts as a member).
        self.shared.close_unless_busy();
        let deadline = Instant::now() + Duration::from_secs(2);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if matches!(child.try_wait(), Ok(None)) {
            process.signal_group(Signal::SIGKILL);
        }
        let _ = child.wait();
        process.signal_group(Signal::SIGKILL);
        Failure::fatal(format!("{} could not start: {why}", self.label()))
            .hint(format!("try it by hand: {}", self.plugin.program.display()))
            .into()
    }

    /// Records the plugin's name for the run.
    fn record_handle(&self, handle: &str) -> Result<()> {
        self.state.update(&self.session.name, |s| {
            if let Some(RunnerRecord::Plugin(p)) = &mut s.runner {
                p.handle = Some(handle.to_owned());
            }
            Ok(())
        })
    }
}

impl Runner for PluginRunner {
    fn launch(&self, spec: &LaunchSpec) -> Result<Launched> {
        let repo = self.repo()?;
        let start = self.start(spec, &repo)?;
        // Its directory is ours, not the worktree: what it does there is its own business.
        let dir = self.dir();
        let mut child = Cmd::new(&self.plugin.program)
            .current_dir(&dir)
            .scrub_for_agent()
            .spawn(Stdio::piped(), Stdio::piped(), Stdio::piped(), true)?;
        let process = ProcessRef::of_child(child.id());
        let input = child
            .stdin
            .take()
            .context("the plugin's stdin is missing")?;
        let output = child
            .stdout
            .take()
            .context("the plugin's stdout is missing")?;
        let diagnostics = child
            .stderr
            .take()
            .context("the plugin's stderr is missing")?;
        self.shared.open(input);
        let streams = conn::follow(&self.shared, (&self.label(), &process), output, diagnostics)?;
        // Written from a thread: a plugin that never reads its stdin must not hold up the
        // supervisor (it is given up on when it does not say `started` in time).
        let (shared, start) = (Arc::clone(&self.shared), ToPlugin::Start(Box::new(start)));
        std::thread::spawn(move || {
            let hello = ToPlugin::Hello {
                version: protocol::VERSION,
            };
            let _ = shared.send(&hello) && shared.send(&start);
        });
        let started = self.shared.started(START_TIMEOUT);
        let handle = match started {
            Ok(handle) => handle,
            Err(why) => return Err(self.give_up(child, &process, &why)),
        };
        self.record_handle(&handle)?;
        let (shared, label) = (Arc::clone(&self.shared), self.label());
        let wait = Box::new(move || conn::wait(&shared, &label, child, &streams.follower));
        Ok(Launched {
            process,
            stdout: Box::new(streams.stdout),
            stderr: Box::new(streams.stderr),
            wait,
        })
    }

    fn signal(&self, process: &ProcessRef, sig: Signal) -> bool {
        let (exited, closed) = self.shared.phase();
        if closed {
            // The plugin is gone: only what it left in its group is left to stop.
            return process.signal_group(sig);
        }
        if exited {
            // It is handing back the work: a TERM would lose it; KILL is the last resort.
            return sig != Signal::SIGKILL || process.signal_group(sig);
        }
        let word = if sig == Signal::SIGKILL {
            "KILL"
        } else {
            "TERM"
        };
        if !self.shared.send(&ToPlugin::Signal { signal: word }) {
            return process.signal_group(sig);
        }
        if sig == Signal::SIGKILL {
            let (shared, process) = (Arc::clone(&self.shared), process.clone());
            std::thread::spawn(move || {
                std::thread::sleep(KILL_GRACE);
                if !shared.phase().0 {
                    process.signal_group(Signal::SIGKILL);
                }
            });
        }
        true
    }

    fn is_running(&self, process: &ProcessRef) -> bool {
        process.group_is_ours()
    }

    fn terminate(&self, process: &ProcessRef, grace: Duration) -> bool {
        // A plugin whose stdin has ended stops the agent and hands back what it can by
        // itself: that gets the grace period before its group is signalled.
        let deadline = Instant::now() + grace;
        while process.group_is_ours() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(25));
        }
        process.terminate_group(grace)
    }

    fn wants_sandbox(&self) -> bool {
        false
    }

    fn collect(&self) -> Result<()> {
        let (result, error) = self.shared.outcome();
        let Some(path) = result else {
            let why = error.unwrap_or_else(|| "it ended without handing back the work".into());
            // A bundle it wrote anyway at the result path is kept, not brought in (the
            // plugin said the run went wrong): nothing it made is dropped.
            let had = self.dir().join("result.bundle").is_file();
            let kept = had && self.clean_up().is_ok();
            let mut failure = Failure::fatal(format!("{}: {why}", self.label()));
            if kept {
                let incoming = bundle::incoming_ref(&self.session.name);
                failure = failure.hint(format!(
                    "what it handed back anyway is kept as {incoming}: git merge {incoming}"
                ));
            }
            return Err(with_hints(failure.into()));
        };
        // A relative path is the plugin's: relative to the folder it runs in.
        let path = self.dir().join(path);
        let repo = self.repo()?;
        let commit = bundle::fetch(&repo, &self.session, &path)?;
        bundle::bring_back(&repo, &self.session, &commit).map_err(with_hints)?;
        // Brought in: the bundles are copies of what the branch holds now.
        let _ = std::fs::remove_dir_all(self.dir());
        Ok(())
    }

    fn clean_up(&self) -> Result<()> {
        // After a lost supervisor the plugin writes what it has to the result path by
        // itself: keep it where nothing is lost, without touching the branch.
        let result = self.dir().join("result.bundle");
        if result.is_file() {
            bundle::fetch(&self.repo()?, &self.session, &result).map_err(|e| {
                Failure::fatal(format!(
                    "could not keep what {} handed back ({}): {e:#}",
                    self.label(),
                    result.display()
                ))
            })?;
            std::fs::remove_file(&result)
                .with_context(|| format!("could not remove {}", result.display()))?;
        }
        Ok(())
    }
}
