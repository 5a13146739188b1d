//! The container runner (`--runner docker|podman`). In mount mode (this module) the agent
//! runs in a container that sees, at the same absolute paths as here, only the session's
//! worktree, the repository's git directory and the session's status file; in clone mode
//! ([`clone`]) it sees nothing of the host at all.
//!
//! Invariants of mount mode:
//! - nothing of the host but those mounts: no home directory, no main checkout, no other
//!   worktree's files; HOME and TMPDIR are a tmpfs; the environment is the session's
//!   (`GIT_AGENT_*`), the user's git identity and the allowlisted host variables, never the
//!   whole host environment;
//! - nothing may run what the agent wrote: the git directory is mounted read-only, with only
//!   what a commit of its branch writes (objects, its own folder of refs and reflogs, its
//!   worktree's admin folder) writable over it, as under the write sandbox; so the agent
//!   cannot plant a hook, a config (an alias, a filter, `core.fsmonitor`) or a session
//!   record that git or git-agent would act on, nor move the user's branches;
//! - the process the supervisor follows is the local `docker run` client in its own process
//!   group: it lives exactly as long as the container's main process;
//! - only containers labelled with this repository and session are ever stopped or removed
//!   (in either mode); every engine command goes to the engine recorded (`host`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, Result};
use nix::sys::signal::Signal;

use super::{LaunchSpec, Launched, Runner};
use crate::procs::ProcessRef;
use crate::session::{ContainerRecord, RunnerRecord, Session, Workspace};
use crate::state::StateDir;

mod clone;
pub mod config;
pub mod engine;

pub use engine::{Engine, Ours, container_name};

/// Variables and their values.
type Env = Vec<(String, String)>;

/// Runs a session's agent in a container of `record`'s engine and image.
pub struct ContainerRunner {
    state: StateDir,
    session: Session,
    record: ContainerRecord,
    engine: Engine,
    /// The repository's git common directory (its label on our containers).
    repo: PathBuf,
    name: String,
}

impl ContainerRunner {
    pub fn new(state: &StateDir, session: &Session, record: &ContainerRecord) -> Self {
        let repo = common_dir(state);
        Self {
            state: state.clone(),
            session: session.clone(),
            record: record.clone(),
            engine: Engine::new(&record.engine, record.host.as_deref()),
            name: container_name(&repo, &session.name),
            repo,
        }
    }

    /// The arguments of `verb` (`run`, `create`) up to the image: the container's name,
    /// labels, user, limits, mounts (mount mode) and environment (the values are the
    /// client's, given by name only).
    fn run_args(&self, verb: &str, spec: &LaunchSpec) -> Result<(Vec<String>, Env)> {
        let mount = self.record.workspace == Workspace::Mount;
        let mut args: Vec<String> = vec![verb.into()];
        if mount {
            args.push("--rm".into());
        }
        if spec.stdin.is_some() {
            args.push("-i".into());
        }
        let label = |k: &str, v: &str| ["--label".to_owned(), format!("{k}={v}")];
        args.extend(["--name".to_owned(), self.name.clone()]);
        args.extend(label(engine::REPO_LABEL, &self.repo.to_string_lossy()));
        args.extend(label(engine::SESSION_LABEL, &self.session.name));
        let workspace = if mount { "mount" } else { "clone" };
        args.extend(label(engine::WORKSPACE_LABEL, workspace));
        let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
        args.extend(["-u".to_owned(), format!("{uid}:{gid}")]);
        if mount {
            args.extend(["-w".to_owned(), spec.cwd.to_string_lossy().into_owned()]);
        }
        // A real init as pid 1 (signals reach the agent); no privilege to undo the mounts.
        args.extend(
            [
                "--init",
                "--cap-drop",
                "ALL",
                "--security-opt",
                "no-new-privileges",
                "--tmpfs",
                "/tmp:rw,exec,mode=1777",
            ]
            .map(str::to_owned),
        );
        for (flag, value) in [
            ("--network", &self.record.network),
            ("--cpus", &self.record.cpus),
            ("--memory", &self.record.memory),
        ] {
            if let Some(v) = value {
                args.extend([flag.to_owned(), v.clone()]);
            }
        }
        if mount {
            for (target, readonly) in self.mounts(spec)? {
                args.extend(["--mount".to_owned(), bind(&target, readonly)]);
            }
            // The SSH runner's shared connections, empty here: through one of those sockets
            // the agent could run commands on an SSH host as the user.
            let ssh = crate::runner::ssh::control_folder(&self.state);
            std::fs::create_dir_all(&ssh)
                .with_context(|| format!("could not create {}", ssh.display()))?;
            let ssh = csv_field(format!("destination={}", ssh.to_string_lossy()));
            args.extend(["--mount".to_owned(), format!("type=tmpfs,{ssh}")]);
        }
        // Given by value: the client itself needs its own HOME (its config, its contexts).
        for fixed in ["HOME=/tmp", "TMPDIR=/tmp"] {
            args.extend(["-e".to_owned(), fixed.to_owned()]);
        }
        let mut env = identity(&spec.cwd);
        env.extend(spec.env.iter().cloned());
        for name in &self.record.env {
            if let Some(value) = std::env::var_os(name) {
                env.push((name.clone(), value.to_string_lossy().into_owned()));
            }
        }
        env.retain(|(k, _)| k != "HOME" && k != "TMPDIR");
        let mut seen = std::collections::BTreeSet::new();
        env.reverse(); // the last value given wins
        env.retain(|(k, _)| seen.insert(k.clone()));
        env.reverse();
        for (key, _) in &env {
            args.extend(["-e".to_owned(), key.clone()]);
        }
        Ok((args, env))
    }

    /// What the container sees of the host, each at its own path: (path, read-only). The git
    /// directory is read-only but for what a commit of its branch writes, exactly what the
    /// write sandbox allows (`crate::sandbox::Places`): objects, the folder of refs and
    /// reflogs of its own branch, its worktree's admin folder. The engine mounts a parent
    /// before what is beneath it.
    fn mounts(&self, spec: &LaunchSpec) -> Result<Vec<(PathBuf, bool)>> {
        let repo = &self.repo;
        // A mount needs something to cover: the folders git would make on first use, an
        // empty status file the agent then writes through its own mount.
        let status = self.state.status_path(&self.session.name);
        if !status.exists() {
            File::create(&status)
                .with_context(|| format!("could not create {}", status.display()))?;
        }
        let mut writable = vec![repo.join("objects")];
        let (branch, created) = (&self.session.branch, self.session.branch_ours());
        if let Some(folder) = crate::sandbox::own_ref_folder(branch, created) {
            writable.push(repo.join("refs").join(&folder));
            writable.push(repo.join("logs/refs").join(&folder));
        }
        for dir in &writable {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("could not create {}", dir.display()))?;
        }
        writable.extend(crate::git::link::admin_dir(repo, &spec.cwd));
        let mut mounts = vec![(spec.cwd.clone(), false), (repo.clone(), true)];
        mounts.extend(writable.into_iter().map(|p| (p, false)));
        mounts.push((status, false));
        Ok(mounts)
    }

    fn record_name(&self) -> Result<()> {
        let name = self.name.clone();
        self.state.update(&self.session.name, |s| {
            if let Some(RunnerRecord::Container(c)) = &mut s.runner {
                c.container = Some(name);
            }
            Ok(())
        })
    }
}

impl Runner for ContainerRunner {
    fn launch(&self, spec: &LaunchSpec) -> Result<Launched> {
        // A container of ours left from a lost run would hold the name (a clone's hands back
        // its work first).
        self.clean_up()?;
        if self.record.workspace == Workspace::Clone {
            return self.launch_clone(spec);
        }
        let stdin = stdin_of(spec)?;
        let (args, env) = self.run_args("run", spec)?;
        let mut cmd = self
            .engine
            .cmd()
            .args(&args)
            .arg(&self.record.image)
            .arg(program_name(spec))
            .args(&spec.args);
        for (key, value) in &env {
            cmd = cmd.env(key, value);
        }
        self.record_name()?;
        let child = cmd.spawn(stdin, Stdio::piped(), Stdio::piped(), true)?;
        Launched::from_child(child, "the container")
    }

    fn signal(&self, process: &ProcessRef, sig: Signal) -> bool {
        if self.record.workspace == Workspace::Clone {
            return self.signal_clone(process, sig);
        }
        let name = sig.as_str().trim_start_matches("SIG");
        let container = self.engine.kill(&self.name, name);
        let client = process.signal_group(sig);
        container || client
    }

    fn is_running(&self, process: &ProcessRef) -> bool {
        process.group_is_ours() || self.engine.is_running(&self.name)
    }

    fn terminate(&self, process: &ProcessRef, grace: Duration) -> bool {
        let stopped = if self.record.workspace == Workspace::Clone {
            self.stop_for_result(grace)
        } else {
            self.engine.stop(&self.name, grace)
        };
        // The client ends with its container; a lost one goes with its group.
        let killed = process.terminate_group(Duration::from_secs(2));
        !stopped || killed
    }

    fn wants_sandbox(&self) -> bool {
        false
    }

    fn collect(&self) -> Result<()> {
        if self.record.workspace == Workspace::Clone {
            return self.collect_clone();
        }
        Ok(())
    }

    /// A clone's container that holds work it could not hand back refuses a plain `rm`
    /// (exit 1); with `force` the session goes and the container stays, said.
    fn remove_elsewhere(&self, force: bool, _delete_branch: bool) -> Result<Option<String>> {
        let cleaned = self.clean_up();
        if self.record.workspace == Workspace::Mount {
            return Ok(None);
        }
        match cleaned {
            Ok(()) => Ok(None),
            Err(err) if force => Ok(Some(format!("{err:#}"))),
            Err(err) => Err(crate::error::Failure::fatal(format!("{err:#}"))
                .code(crate::error::code::NEGATIVE)
                .hint(format!(
                    "to remove the session anyway (the container stays): git agent rm --force {}",
                    self.session.name
                ))
                .into()),
        }
    }

    fn clean_up(&self) -> Result<()> {
        let ours = self.engine.ours(&self.repo, Some(&self.session.name))?;
        if self.record.workspace == Workspace::Clone {
            return self.clean_up_clones(&ours);
        }
        let ids: Vec<String> = ours.into_iter().map(|c| c.id).collect();
        self.engine.remove(&ids)
    }
}

/// The agent's stdin: its prompt file, or nothing.
fn stdin_of(spec: &LaunchSpec) -> Result<Stdio> {
    Ok(match &spec.stdin {
        Some(path) => Stdio::from(
            File::open(path).with_context(|| format!("could not open {}", path.display()))?,
        ),
        None => Stdio::null(),
    })
}

/// The agent runs by its name on the image's PATH: the host's path means nothing there.
fn program_name(spec: &LaunchSpec) -> PathBuf {
    spec.program
        .file_name()
        .map_or_else(|| spec.program.clone(), PathBuf::from)
}

/// The repository's git common directory: our state lives in it (`<common>/agent`).
fn common_dir(state: &StateDir) -> PathBuf {
    state.root().parent().unwrap_or(state.root()).to_owned()
}

/// `--mount` for a bind of `path` at the same path (CSV: a path with a comma is quoted).
fn bind(path: &Path, readonly: bool) -> String {
    let field = csv_field;
    let p = path.to_string_lossy();
    let mut spec = format!(
        "type=bind,{},{}",
        field(format!("source={p}")),
        field(format!("target={p}"))
    );
    if readonly {
        spec.push_str(",readonly");
    }
    spec
}

/// One field of a `--mount` (CSV: quoted if it holds a comma or a quote).
fn csv_field(s: String) -> String {
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The user's git identity as git resolves it here (their config is not in the container):
/// `GIT_AUTHOR_*` and `GIT_COMMITTER_*` names and emails.
fn identity(dir: &Path) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for who in ["AUTHOR", "COMMITTER"] {
        let Ok(ident) = crate::git::in_dir(dir)
            .args(["var", &format!("GIT_{who}_IDENT")])
            .run()
        else {
            continue;
        };
        let Some((name, rest)) = ident.split_once(" <") else {
            continue;
        };
        let Some((email, _)) = rest.split_once('>') else {
            continue;
        };
        env.push((format!("GIT_{who}_NAME"), name.trim().to_owned()));
        env.push((format!("GIT_{who}_EMAIL"), email.to_owned()));
    }
    env
}
