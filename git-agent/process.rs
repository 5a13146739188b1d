//! The one wrapper every subprocess goes through.
//!
//! Why one wrapper: programs are resolved with `which` (never from the current directory by
//! accident), the git environment is controlled explicitly per call site, and every failure
//! names the command that failed and what it printed.
//!
//! Git environment rules:
//! - Our own `git` calls always name their repository or worktree explicitly (`-C`,
//!   `--git-dir`), so the repository-location variables that git or the user exported
//!   ([`REPO_ENV`]) are removed; otherwise `GIT_DIR` would silently win over `-C`.
//! - A command given a directory ([`Cmd::current_dir`]) gets `PWD` set to it and no `OLDPWD`:
//!   many programs take their directory from `PWD`, which would otherwise still name the
//!   directory of the shell that ran `git agent`.
//! - Agents get [`Cmd::scrub_for_agent`]: the repository-location variables plus the ones that
//!   only make sense for the `git agent` invocation itself (`git -c`, pager, exec path).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Output, Stdio};
use std::sync::OnceLock;

use anyhow::{Context as _, Result};

use crate::error::Failure;

/// Variables that point git at a repository. Inherited values would override `-C`.
pub const REPO_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
    "GIT_NAMESPACE",
    "GIT_SHALLOW_FILE",
];

/// Variables that belong to the `git agent …` invocation, not to the agent it starts.
pub const INVOCATION_ENV: &[&str] = &[
    "GIT_CONFIG_PARAMETERS",
    "GIT_EXEC_PATH",
    "GIT_PAGER_IN_USE",
    "GIT_REFLOG_ACTION",
];

/// A command to run: program, arguments, directory and environment changes.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    set: Vec<(OsString, OsString)>,
    remove: Vec<OsString>,
}

impl Cmd {
    /// A command running `program`, resolved on `PATH` with `which` unless it contains a
    /// path separator.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            cwd: None,
            set: Vec::new(),
            remove: Vec::new(),
        }
    }

    /// `git`, with the repository-location variables removed (see the module docs), and
    /// without a file-system monitor: `core.fsmonitor` is a command, and in an agent's
    /// worktree the config that names it may be one the agent wrote (a nested repository's);
    /// given on the command line, `false` also reaches the git processes git starts there.
    ///
    /// The raw constructor: only the git layer calls it (`crate::git::command`); anywhere
    /// else it is a lint error (`clippy.toml`).
    pub fn git() -> Self {
        let mut cmd = Self::new("git").args(["-c", "core.fsmonitor=false"]);
        cmd.remove.extend(REPO_ENV.iter().map(OsString::from));
        cmd
    }

    #[must_use]
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    #[must_use]
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    #[must_use]
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.set
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    #[must_use]
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.remove.push(key.as_ref().to_owned());
        self
    }

    /// Removes everything an agent must not inherit from the `git agent` invocation.
    #[must_use]
    pub fn scrub_for_agent(mut self) -> Self {
        self.remove
            .extend(REPO_ENV.iter().chain(INVOCATION_ENV).map(OsString::from));
        self
    }

    /// The same directory and environment changes, running `program` with no arguments
    /// (a trampoline in front of this command: see `sandbox::wrap`).
    #[must_use]
    pub fn with_program(&self, program: impl AsRef<OsStr>) -> Self {
        Self {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            ..self.clone()
        }
    }

    /// The program as given.
    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments as given.
    pub fn arguments(&self) -> &[OsString] {
        &self.args
    }

    /// A shell-like rendering for messages (never executed by a shell).
    pub fn display(&self) -> String {
        let mut words = vec![display_program(&self.program)];
        words.extend(self.args.iter().map(|a| a.to_string_lossy().into_owned()));
        shell_words::join(words)
    }

    fn build(&self) -> Result<std::process::Command> {
        let program = resolve_program(&self.program)?;
        #[allow(clippy::disallowed_methods)] // this is the wrapper
        let mut cmd = std::process::Command::new(program);
        cmd.args(&self.args);
        for key in &self.remove {
            cmd.env_remove(key);
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
            // The shell's `PWD` would name the directory `git agent` ran from: programs that
            // trust it (OpenCode, Makefiles' $(PWD), scripts) would work there, not here.
            cmd.env(
                "PWD",
                std::path::absolute(dir).unwrap_or_else(|_| dir.clone()),
            );
            cmd.env_remove("OLDPWD");
        }
        for (key, value) in &self.set {
            cmd.env(key, value);
        }
        Ok(cmd)
    }

    /// Runs to completion with stdin closed and output captured. Fails only if the program
    /// could not be started.
    pub fn output(&self) -> Result<Output> {
        let mut cmd = self.build()?;
        cmd.stdin(Stdio::null());
        cmd.output()
            .with_context(|| format!("could not run {}", self.display()))
    }

    /// Runs to completion with `input` on stdin and output captured.
    pub fn output_with_input(&self, input: &[u8]) -> Result<Output> {
        use std::io::Write as _;
        let mut cmd = self.build()?;
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("could not run {}", self.display()))?;
        let mut stdin = child.stdin.take().context("no stdin")?;
        let input = input.to_vec();
        // Write from a thread: a large input and a large output would otherwise deadlock.
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child
            .wait_with_output()
            .with_context(|| format!("could not run {}", self.display()))?;
        let _ = writer.join();
        Ok(out)
    }

    /// Like [`Cmd::run`], with `input` on stdin.
    pub fn run_with_input(&self, input: &[u8]) -> Result<String> {
        let out = self.output_with_input(input)?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        Err(CommandFailed::from_output(self, &out).into())
    }

    /// Like [`Cmd::run`], with `stdin` (a file, streamed as the program reads it).
    pub fn run_with_stdin(&self, stdin: Stdio) -> Result<String> {
        let mut cmd = self.build()?;
        cmd.stdin(stdin);
        let out = cmd
            .output()
            .with_context(|| format!("could not run {}", self.display()))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        Err(CommandFailed::from_output(self, &out).into())
    }

    /// Runs in the foreground with all of stdin, stdout and stderr inherited (`git agent
    /// run`/`exec`).
    pub fn status_interactive(&self) -> Result<ExitStatus> {
        let mut cmd = self.build()?;
        cmd.status()
            .with_context(|| format!("could not run {}", self.display()))
    }

    /// Runs to completion; fails with the command's stderr if it exits non-zero. Returns stdout.
    pub fn run(&self) -> Result<String> {
        let out = self.output()?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        Err(CommandFailed::from_output(self, &out).into())
    }

    /// Runs with stdin closed and stdout/stderr inherited.
    pub fn status(&self) -> Result<ExitStatus> {
        let mut cmd = self.build()?;
        cmd.stdin(Stdio::null());
        cmd.status()
            .with_context(|| format!("could not run {}", self.display()))
    }

    /// Starts the program with explicit stdio; `new_process_group` puts it in a process group
    /// of its own (so a signal to the group reaches everything it starts).
    pub fn spawn(
        &self,
        stdin: Stdio,
        stdout: Stdio,
        stderr: Stdio,
        new_process_group: bool,
    ) -> Result<Child> {
        let mut cmd = self.build()?;
        cmd.stdin(stdin).stdout(stdout).stderr(stderr);
        if new_process_group {
            use std::os::unix::process::CommandExt as _;
            cmd.process_group(0);
        }
        cmd.spawn()
            .with_context(|| format!("could not start {}", self.display()))
    }

    /// Replaces the current process with this command (used to hand over to plugins). Only
    /// returns on failure.
    pub fn exec(&self) -> anyhow::Error {
        use std::os::unix::process::CommandExt as _;
        match self.build() {
            Ok(mut cmd) => {
                let err = cmd.exec();
                anyhow::Error::new(err).context(format!("could not run {}", self.display()))
            }
            Err(err) => err,
        }
    }
}

/// A command ran but exited non-zero. Callers that branch on why a command failed (git's
/// message in `stderr`) find it in the error chain.
#[derive(Debug, thiserror::Error)]
#[error("`{command}` failed ({}){}", describe_status(*status), stderr_part(stderr))]
pub struct CommandFailed {
    pub command: String,
    pub status: ExitStatus,
    pub stderr: String,
}

/// `:\n<stderr>` when the command said something.
fn stderr_part(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(":\n{stderr}")
    }
}

impl CommandFailed {
    fn from_output(cmd: &Cmd, out: &Output) -> Self {
        let mut stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
        if stderr.is_empty() {
            stderr = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
        }
        Self {
            command: cmd.display(),
            status: out.status,
            stderr,
        }
    }
}

/// "exit 3" or "killed by SIGKILL".
pub fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    if let Some(code) = status.code() {
        format!("exit {code}")
    } else if let Some(sig) = status.signal() {
        format!("killed by {}", signal_name(sig))
    } else {
        "unknown status".into()
    }
}

/// `SIGKILL` for 9, `signal 99` when unknown.
pub fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| format!("signal {sig}"))
}

fn display_program(program: &OsStr) -> String {
    program.to_string_lossy().into_owned()
}

/// Finds `program` the way a shell would, without running one: names without a path
/// separator are looked up on `PATH`; paths are used as given (callers make them absolute,
/// because a relative program path is ambiguous once the child changes directory).
pub fn resolve_program(program: &OsStr) -> Result<PathBuf> {
    let path = Path::new(program);
    if path.components().count() > 1 || path.is_absolute() {
        return Ok(path.to_owned());
    }
    if program == "git" {
        return git_path().cloned();
    }
    which::which(program).map_err(|_| {
        Failure::fatal(format!("'{}' not found in PATH", program.to_string_lossy())).into()
    })
}

fn git_path() -> Result<&'static PathBuf> {
    static GIT: OnceLock<Option<PathBuf>> = OnceLock::new();
    GIT.get_or_init(|| which::which("git").ok())
        .as_ref()
        .ok_or_else(|| {
            Failure::fatal("git not found in PATH")
                .hint("git-agent drives the git binary for worktrees and commits; install git")
                .into()
        })
}

/// Runs `job` for each of `items`, as many at once as there are cores (the jobs mostly wait
/// for a subprocess: one per core keeps the machine busy without thrashing it). The results
/// come in the order of `items`.
pub fn on_all_cores<T: Sync, R: Send>(items: &[T], job: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(2, std::num::NonZero::get)
        .min(items.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let result = job(item);
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    slots
        .into_iter()
        .filter_map(|s| s.into_inner().ok().flatten())
        .collect()
}
/// The `git-agent` executable (it supervises sessions and is the sandbox trampoline): this process if it is `git-agent`,
/// else the one next to it (the suite is installed together), else the one on `PATH`.
pub fn git_agent_exe() -> Result<PathBuf> {
    let me = std::env::current_exe().context("could not find our own executable")?;
    if me.file_stem().is_some_and(|n| n == "git-agent") {
        return Ok(me);
    }
    if let Some(beside) = me.parent().map(|d| d.join("git-agent"))
        && beside.is_file()
    {
        return Ok(beside);
    }
    which::which("git-agent").map_err(|_| {
        Failure::fatal("git-agent not found next to this program nor in PATH")
            .hint("install the whole suite: cargo install --path .")
            .into()
    })
}
