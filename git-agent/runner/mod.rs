//! Runners start an agent and let the supervisor watch and stop it.
//!
//! This is the seam of DESIGN.md §4: a runner takes the prepared worktree, argv and
//! environment and reports the process, its exit, and its output (as streams the supervisor
//! reads, logs and parses). [`local`] runs the agent as a local process group; the others
//! are chosen by the session's [`RunnerRecord`] ([`for_session`]).
//!
//! Invariants, whatever the runner:
//! - the result is commits on the session's branch in the local repository, in its worktree
//!   ([`Runner::collect`] brings them back before the run's end is recorded);
//! - the process a runner reports ([`Launched::process`]) is a local process group of ours
//!   that lives exactly as long as the agent does (the agent itself, or the client that
//!   follows it: `docker run`, `ssh`, a plugin), so liveness is judged as for a local agent;
//! - a runner touches only what it started (its containers carry our labels).

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use nix::sys::signal::Signal;

use crate::error::Failure;
use crate::procs::ProcessRef;
use crate::session::{Exit, RunnerRecord, Session};
use crate::state::StateDir;

pub mod container;
mod local;
pub mod plugin;
mod ssh;

pub use container::ContainerRunner;
pub use local::LocalRunner;
pub use plugin::PluginRunner;
pub use ssh::SshRunner;

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

impl Launched {
    /// A child spawned with piped stdout and stderr, leading its own process group (`what`
    /// names it in errors): its group, its output, and a wait for its exit.
    pub fn from_child(mut child: std::process::Child, what: &'static str) -> Result<Self> {
        use anyhow::Context as _;
        let process = ProcessRef::of_child(child.id());
        let stdout = child
            .stdout
            .take()
            .with_context(|| format!("{what}'s stdout is missing"))?;
        let stderr = child
            .stderr
            .take()
            .with_context(|| format!("{what}'s stderr is missing"))?;
        let wait = Box::new(move || -> Result<Exit> {
            use std::os::unix::process::ExitStatusExt as _;
            let status = child
                .wait()
                .with_context(|| format!("could not wait for {what}"))?;
            Ok(Exit {
                code: status.code(),
                signal: status.signal(),
            })
        });
        Ok(Self {
            process,
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
            wait,
        })
    }
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
    /// Whether the agent needs our write sandbox around it ([`LaunchSpec::sandbox`]): a
    /// runner whose agent runs elsewhere (a container, another machine) is its own room.
    fn wants_sandbox(&self) -> bool {
        true
    }
    /// After the agent exited, before its end is recorded: brings what it made back to the
    /// session's branch and worktree here (nothing to do where it worked in the worktree).
    fn collect(&self) -> Result<()> {
        Ok(())
    }
    /// Removes what the runner left of the session (a container), for `rm`, `doctor` and
    /// crash recovery; never anything it did not start.
    fn clean_up(&self) -> Result<()> {
        Ok(())
    }
    /// For `rm`, once the session here may go (its agent stopped, nothing here lost): removes
    /// what the runner keeps of it elsewhere. An error refuses the removal (nothing is removed
    /// yet); `Ok(Some(words))` says what was left elsewhere (a host that cannot be reached),
    /// which does not keep the session here. By default [`Runner::clean_up`], best effort.
    fn remove_elsewhere(&self, force: bool, delete_branch: bool) -> Result<Option<String>> {
        let _ = (force, delete_branch);
        let _ = self.clean_up();
        Ok(None)
    }
    /// For a lost session (its supervisor gone) whose agent runs elsewhere and can be followed
    /// again (an SSH runner's remote session): lets go of it here (`process`, the client that
    /// followed it) without stopping it there, so that the next resumed run reconnects.
    /// False, with nothing done, for a runner that cannot follow its agent again.
    fn let_go(&self, process: Option<&ProcessRef>) -> Result<bool> {
        let _ = process;
        Ok(false)
    }
}

/// The runner of `session`, as its record names it. (A record naming a kind this build does
/// not know does not load at all: `crate::state` refuses it.)
pub fn for_session(state: &StateDir, session: &Session) -> Box<dyn Runner> {
    match &session.runner {
        None => Box::new(LocalRunner),
        Some(RunnerRecord::Container(c)) => Box::new(ContainerRunner::new(state, session, c)),
        Some(RunnerRecord::Plugin(p)) => Box::new(PluginRunner::new(state, session, p)),
        Some(RunnerRecord::Ssh(record)) => Box::new(SshRunner::new(state, session, record)),
    }
}

/// For `rm` (after its own checks, before anything here goes): what the session's runner
/// keeps elsewhere goes ([`Runner::remove_elsewhere`]), and the agent's work kept aside under
/// our refs (`git::bundle::pending`) is never dropped silently. Without `force` such work
/// refuses the removal (exit 1), before and after the runner had its say (a container hands
/// back its work as it goes); with it, the refs are kept, and said, unless `delete_branch`
/// drops them with the branch. `Ok(Some(words))`: what was left, for a warning.
pub fn remove_elsewhere(
    repo: &crate::git::repo::Repo,
    state: &StateDir,
    session: &Session,
    (force, delete_branch): (bool, bool),
) -> Result<Option<String>> {
    use crate::git::bundle;
    let refuse = |kept: Vec<(String, String)>| -> Result<()> {
        let Some((reference, commit)) = kept.into_iter().next().filter(|_| !force) else {
            return Ok(());
        };
        let [bring, drop] = bundle::pending_hints(&reference);
        Err(Failure::fatal(format!(
            "'{}': the agent's work waits as {reference} ({}), not on {}",
            session.name,
            crate::session::short_id(&commit),
            session.branch
        ))
        .code(crate::error::code::NEGATIVE)
        .hint(bring)
        .hint(drop)
        .hint(format!(
            "to remove the session anyway (that work stays under {reference}): git agent rm --force {}",
            session.name
        ))
        .into())
    };
    refuse(bundle::pending(repo, session))?;
    let left = for_session(state, session).remove_elsewhere(force, delete_branch)?;
    let kept = bundle::pending(repo, session);
    refuse(kept.clone())?;
    let mut words: Vec<String> = left.into_iter().collect();
    for (reference, commit) in kept {
        if delete_branch {
            // Compare-and-delete: only the work looked at, which the user gave up.
            repo.git()
                .args(["update-ref", "-d", &reference, &commit])
                .run()?;
        } else {
            words.push(format!(
                "the agent's work is kept as {reference} (drop it: git update-ref -d {reference})"
            ));
        }
    }
    Ok((!words.is_empty()).then(|| words.join("; ")))
}

/// The runner `new` records: `--runner` (`flag`), else `agent.runner`; `None` for the local
/// one (`local`, or nothing set).
pub fn choose(
    config: &crate::git::repo::Config,
    flag: Option<&str>,
) -> Result<Option<RunnerRecord>> {
    let (spec, from) = match flag {
        Some(f) => (f.to_owned(), "--runner"),
        None => match config.string("agent.runner") {
            Some(v) => (v, "agent.runner"),
            None => return Ok(None),
        },
    };
    match spec.as_str() {
        "" | "local" => Ok(None),
        engine @ ("docker" | "podman") => Ok(Some(RunnerRecord::Container(
            container::config::choose(config, engine)?,
        ))),
        ssh if ssh.starts_with("ssh://") => Ok(Some(RunnerRecord::Ssh(ssh::parse(ssh)?))),
        // Any other name is a plugin's: `git-agent-runner-NAME` on PATH.
        name => plugin::find(name, from).map(Some),
    }
}

/// The error with its hints in its message: a run's end records one line, and the hints say
/// where the work is kept.
pub(crate) fn with_hints(err: anyhow::Error) -> anyhow::Error {
    match err.downcast::<Failure>() {
        Ok(f) if !f.hints.is_empty() => {
            let message = format!("{} ({})", f.message, f.hints.join("; "));
            anyhow::Error::new(Failure { message, ..f })
        }
        Ok(f) => f.into(),
        Err(e) => e,
    }
}
