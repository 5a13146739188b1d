//! The test harness: hermetic temporary repositories, our real binaries reached through
//! real git, and the scripted fake agent.
//!
//! Every command starts from `env_clear()`: no user git config, fixed identities and dates,
//! `PATH` = our `bin/` (git-agent and fake agents) + git's directory + `/usr/bin:/bin`.

#![allow(clippy::disallowed_methods, dead_code)] // test harness: runs processes directly

pub mod plans;
pub mod sshd;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use git_agent::procs::ProcessRef;
use serde_json::Value;

/// The result of running a command.
#[derive(Debug, Clone)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    fn from(output: Output) -> Self {
        use std::os::unix::process::ExitStatusExt as _;
        let code = output
            .status
            .code()
            .unwrap_or_else(|| 128 + output.status.signal().unwrap_or(0));
        Self {
            code,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts exit 0 and returns self.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "expected success:\n{self}");
        self
    }

    /// Asserts the exit code and returns self.
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "unexpected exit code:\n{self}");
        self
    }

    /// Parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}------- stderr -------\n{}[exit status: {}]",
            self.stdout, self.stderr, self.code
        )
    }
}

pub fn git_dir_on_path() -> PathBuf {
    which::which("git")
        .expect("git on PATH")
        .parent()
        .expect("git's directory")
        .to_owned()
}

/// A temporary world: `home/`, `bin/`, a repository `repo/` with one commit, and the place
/// where agent worktrees go by default (`repo.agents/`).
pub struct TestEnv {
    root: tempfile::TempDir,
    pub home: PathBuf,
    pub bin: PathBuf,
    pub repo: PathBuf,
    env: Vec<(String, String)>,
}

impl TestEnv {
    /// A repository with one commit (`README.md`) on `main`.
    pub fn new() -> Self {
        let env = Self::empty();
        env.init_repo();
        env
    }

    fn init_repo(&self) {
        let env = self;
        env.git(&["init", "-q", "-b", "main", env.repo.to_str().unwrap()]);
        env.write("README.md", "hello\n");
        env.git(&["add", "."]);
        env.git(&["commit", "-q", "-m", "initial"]);
    }

    /// A repository with one commit, with everything under `dir` instead of the system's
    /// temporary folder.
    pub fn new_in(dir: &Path) -> Self {
        let env = Self::empty_in(Some(dir));
        env.init_repo();
        env
    }

    /// No repository yet (`repo/` does not exist).
    pub fn empty() -> Self {
        Self::empty_in(None)
    }

    fn empty_in(dir: Option<&Path>) -> Self {
        let mut builder = tempfile::Builder::new();
        builder.prefix("git-agent-test-");
        let root = match dir {
            Some(d) => builder.tempdir_in(d),
            None => builder.tempdir(),
        }
        .expect("tempdir");
        let root_path = std::fs::canonicalize(root.path()).unwrap();
        let home = root_path.join("home");
        let bin = root_path.join("bin");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        // Sentinel files, pid files and the fake agent's call log live in `shared/`, which
        // agents may write under the write sandbox (as a user would list a folder in
        // agent.sandbox.allowWrite); the rest of the root (the repository) stays closed.
        let tmp = root_path.join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let shared = root_path.join("shared");
        std::fs::create_dir_all(&shared).unwrap();
        std::fs::write(
            home.join(".gitconfig"),
            format!(
                "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n[advice]\n\tdetachedHead = false\n[agent \"sandbox\"]\n\tallowWrite = {}\n",
                shared.display()
            ),
        )
        .unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_git-agent"), bin.join("git-agent")).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_fake-agent"), bin.join("fake-agent"))
            .unwrap();
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_git-agent-review"),
            bin.join("git-agent-review"),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_git-agent-merge"),
            bin.join("git-agent-merge"),
        )
        .unwrap();
        let path = std::env::join_paths([
            bin.clone(),
            git_dir_on_path(),
            "/usr/bin".into(),
            "/bin".into(),
        ])
        .unwrap();
        let env = vec![
            ("PATH".into(), path.to_string_lossy().into_owned()),
            ("HOME".into(), home.to_string_lossy().into_owned()),
            // The sessions' private temporary folders (`<TMPDIR>/git-agent-<uid>/…`) go with
            // the test's root instead of piling up in the shared /tmp.
            ("TMPDIR".into(), tmp.to_string_lossy().into_owned()),
            (
                "XDG_CONFIG_HOME".into(),
                home.join(".config").to_string_lossy().into_owned(),
            ),
            ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
            (
                "GIT_CONFIG_GLOBAL".into(),
                home.join(".gitconfig").to_string_lossy().into_owned(),
            ),
            ("GIT_AUTHOR_NAME".into(), "Test Author".into()),
            ("GIT_AUTHOR_EMAIL".into(), "author@example.com".into()),
            ("GIT_AUTHOR_DATE".into(), "2026-01-01T00:00:00Z".into()),
            ("GIT_COMMITTER_NAME".into(), "Test Committer".into()),
            ("GIT_COMMITTER_EMAIL".into(), "committer@example.com".into()),
            ("GIT_COMMITTER_DATE".into(), "2026-01-01T00:00:00Z".into()),
            ("GIT_TERMINAL_PROMPT".into(), "0".into()),
            ("LC_ALL".into(), "C".into()),
            ("TZ".into(), "UTC".into()),
            ("NO_COLOR".into(), "1".into()),
            ("COLUMNS".into(), "100".into()),
            (
                "GIT_AGENT_TEST_LOG".into(),
                shared.join("calls.jsonl").to_string_lossy().into_owned(),
            ),
        ];
        let repo = root_path.join("repo");
        Self {
            root,
            home,
            bin,
            repo,
            env,
        }
    }

    pub fn root(&self) -> PathBuf {
        std::fs::canonicalize(self.root.path()).unwrap()
    }

    /// Where agent worktrees go by default.
    pub fn agents_dir(&self) -> PathBuf {
        self.root().join("repo.agents")
    }

    /// The value an environment variable has in every command.
    pub fn env_value(&self, key: &str) -> String {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Adds an environment variable to every later command.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// Leaves an environment variable out of every later command.
    pub fn unset_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    /// A hermetic command.
    pub fn command(&self, program: impl AsRef<OsStr>, dir: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear().current_dir(dir).stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs a command with a timeout (tests must never hang).
    pub fn run(&self, mut cmd: Command) -> Out {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = cmd.spawn().expect("spawn");
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(out) => Out::from(out.expect("wait")),
            Err(_) => {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                panic!("command timed out: {cmd:?}");
            }
        }
    }

    /// `git ARGS` in the repository; must succeed; returns stdout.
    #[track_caller]
    pub fn git(&self, args: &[&str]) -> String {
        let dir = if self.repo.exists() {
            self.repo.clone()
        } else {
            self.root()
        };
        self.git_in(&dir, args)
    }

    /// `git ARGS` in `dir`; must succeed; returns stdout.
    #[track_caller]
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let mut cmd = self.command("git", dir);
        cmd.args(args);
        let out = self.run(cmd);
        assert_eq!(out.code, 0, "git {args:?} failed:\n{out}");
        out.stdout
    }

    /// `git agent ARGS` in the repository, through git's own dispatch.
    pub fn agent(&self, args: &[&str]) -> Out {
        self.agent_in(&self.repo, args)
    }

    /// `git agent ARGS` in `dir`, through git's own dispatch.
    pub fn agent_in(&self, dir: &Path, args: &[&str]) -> Out {
        let mut cmd = self.command("git", dir);
        cmd.arg("agent").args(args);
        self.run(cmd)
    }

    /// `git-agent ARGS` run directly (not through git).
    pub fn agent_direct(&self, dir: &Path, args: &[&str]) -> Out {
        let mut cmd = self.command(self.bin.join("git-agent"), dir);
        cmd.args(args);
        self.run(cmd)
    }

    /// One of our binaries (`git-agent-review`…) run directly.
    pub fn agent_direct_bin(&self, bin: &str, dir: &Path, args: &[&str]) -> Out {
        let mut cmd = self.command(self.bin.join(bin), dir);
        cmd.args(args);
        self.run(cmd)
    }

    /// Writes a file in the repository.
    pub fn write(&self, rel: &str, content: &str) {
        let path = self.repo.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Writes an executable file (a hook, a script) in the repository.
    pub fn write_executable(&self, rel: &str, content: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        self.write(rel, content);
        std::fs::set_permissions(self.repo.join(rel), std::fs::Permissions::from_mode(0o755))
            .unwrap();
    }

    /// Adds a submodule `vendor/lib` (a local repository `lib/` holding `lib.txt`) and commits
    /// it; allows git's file protocol for the test's user. Returns the library's path.
    pub fn add_submodule(&self) -> PathBuf {
        let gitconfig = self.home.join(".gitconfig");
        let mut text = std::fs::read_to_string(&gitconfig).unwrap();
        text.push_str("[protocol \"file\"]\n\tallow = always\n");
        std::fs::write(&gitconfig, text).unwrap();
        let lib = self.root().join("lib");
        self.git(&["init", "-q", "-b", "main", lib.to_str().unwrap()]);
        std::fs::write(lib.join("lib.txt"), "library\n").unwrap();
        self.git_in(&lib, &["add", "."]);
        self.git_in(&lib, &["commit", "-q", "-m", "lib"]);
        self.git(&[
            "submodule",
            "add",
            "-q",
            lib.to_str().unwrap(),
            "vendor/lib",
        ]);
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", "submodule"]);
        lib
    }

    /// Installs the fake agent under `name` (e.g. `claude`) in `bin/`.
    pub fn install_fake(&self, name: &str) {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_fake-agent"), self.bin.join(name)).unwrap();
    }

    /// Writes a fake-agent script and returns its path.
    pub fn script(&self, name: &str, text: &str) -> PathBuf {
        let path = self.root().join(format!("{name}.script"));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Arguments that run the fake agent with `script`: `["--", fake-agent, "--script", path]`.
    pub fn fake(&self, name: &str, script: &str) -> Vec<String> {
        let path = self.script(name, script);
        vec![
            "--".into(),
            "fake-agent".into(),
            "--script".into(),
            path.to_string_lossy().into_owned(),
        ]
    }

    /// `git agent new [args…] -- fake-agent --script <script>`; must succeed.
    #[track_caller]
    pub fn spawn(&self, args: &[&str], script: &str) -> Out {
        let name = args.windows(2).find(|w| w[0] == "--name").map_or_else(
            || format!("s{}", self.calls_len() + args.len()),
            |w| w[1].to_owned(),
        );
        let fake = self.fake(&name, script);
        let mut all: Vec<&str> = vec!["new"];
        all.extend_from_slice(args);
        all.extend(fake.iter().map(String::as_str));
        self.agent(&all).ok()
    }

    /// A path for sentinel files, pid files and scripts: in `shared/` of the temporary root,
    /// which agents may write under the sandbox.
    pub fn path(&self, name: &str) -> PathBuf {
        self.root().join("shared").join(name)
    }

    /// The pid of the supervisor recorded for session `name`.
    #[track_caller]
    pub fn supervisor_pid(&self, name: &str) -> i32 {
        let pid = self.record(name)["processes"]["supervisor"]["pid"].as_i64();
        i32::try_from(pid.expect("a supervisor is recorded")).unwrap()
    }

    /// Waits until the supervisor recorded for `name` has exited (or was never alive).
    #[track_caller]
    pub fn wait_supervisor_gone(&self, name: &str) {
        self.wait_until(&format!("{name}'s supervisor to exit"), || {
            process_gone(self.supervisor_pid(name))
        });
    }

    /// Kills session `name`'s supervisor (`kill -9`) and waits until it is gone.
    #[track_caller]
    pub fn kill_supervisor(&self, name: &str) {
        let pid = self.supervisor_pid(name);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        self.wait_until(&format!("{name}'s supervisor to die"), || process_gone(pid));
    }

    /// The pid an agent wrote to `file` (`pidfile`, `spawn-child`), once it is all there: the
    /// file exists a moment before its content does.
    #[track_caller]
    pub fn read_pid(&self, file: &Path) -> i32 {
        let pid = || {
            std::fs::read_to_string(file)
                .ok()?
                .trim()
                .parse::<i32>()
                .ok()
        };
        self.wait_until(&format!("a pid in {}", file.display()), || pid().is_some());
        pid().unwrap()
    }

    /// Creates a sentinel file (releases a `wait-for` step).
    pub fn touch(&self, name: &str) {
        std::fs::write(self.path(name), "").unwrap();
    }

    /// The common git directory's state folder.
    pub fn state_dir(&self) -> PathBuf {
        self.repo.join(".git").join("agent")
    }

    /// A session record as JSON.
    #[track_caller]
    pub fn record(&self, name: &str) -> Value {
        let path = self
            .state_dir()
            .join("sessions")
            .join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no record {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    /// True if a record exists.
    pub fn has_record(&self, name: &str) -> bool {
        self.state_dir()
            .join("sessions")
            .join(format!("{name}.json"))
            .exists()
    }

    /// The stored state of a session.
    pub fn stored_state(&self, name: &str) -> String {
        self.record(name)["state"].as_str().unwrap().to_owned()
    }

    /// Waits until the session's stored state is `state`.
    #[track_caller]
    pub fn wait_state(&self, name: &str, state: &str) -> Value {
        self.wait_until(&format!("{name} to be {state}"), || {
            self.stored_state(name) == state
        });
        self.record(name)
    }

    /// Waits (up to 30 s) for a condition.
    #[track_caller]
    pub fn wait_until(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every call the fake agents logged.
    pub fn calls(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.path("calls.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The calls the fake agent logged for session `name` (matched by `GIT_AGENT_NAME`), one
    /// per run, in order.
    pub fn calls_of(&self, name: &str) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c["env"]["GIT_AGENT_NAME"] == name)
            .collect()
    }

    fn calls_len(&self) -> usize {
        self.calls().len()
    }

    /// The call the fake agent logged for a session (matched by `GIT_AGENT_NAME`).
    #[track_caller]
    pub fn call_of(&self, name: &str) -> Value {
        self.wait_until(&format!("{name}'s agent to log its call"), || {
            self.calls()
                .iter()
                .any(|c| c["env"]["GIT_AGENT_NAME"] == name)
        });
        self.calls()
            .into_iter()
            .find(|c| c["env"]["GIT_AGENT_NAME"] == name)
            .unwrap()
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    /// Every session's `supervisor.log` (the last lines) and record, on stderr.
    fn print_supervisor_logs(&self) {
        let events =
            std::fs::read_to_string(self.state_dir().join("events.jsonl")).unwrap_or_default();
        eprintln!("--- events.jsonl:\n{events}");
        let Ok(entries) = std::fs::read_dir(self.state_dir().join("sessions")) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                let log = std::fs::read_to_string(path.join("supervisor.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                eprintln!("--- {}/supervisor.log (last lines):", path.display());
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            } else if path.extension().is_some_and(|e| e == "json") {
                let record = std::fs::read_to_string(&path).unwrap_or_default();
                eprintln!("--- {}:\n{record}", path.display());
            }
        }
    }
}

impl Drop for TestEnv {
    /// Leaves no process behind: kills every supervisor and agent group still running. A
    /// failing test also prints what each session's supervisor said (it runs detached, so
    /// nothing else shows it).
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_supervisor_logs();
        }
        let sessions = self.state_dir().join("sessions");
        let Ok(entries) = std::fs::read_dir(sessions) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let Ok(record) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            for key in ["supervisor", "agent"] {
                let Ok(p) = serde_json::from_value::<ProcessRef>(record["processes"][key].clone())
                else {
                    continue;
                };
                if key == "agent" {
                    p.signal_group(nix::sys::signal::Signal::SIGKILL);
                } else {
                    p.signal(nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
    }
}

/// Normalizes output for snapshots: the temporary root becomes `$ROOT`, object ids `[SHA]`,
/// and in JSON the values that differ per run (times, pids, process start tokens) are masked.
/// The arguments of a logged call, after the program.
pub fn args_of(call: &Value) -> Vec<String> {
    call["argv"].as_array().unwrap()[1..]
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

pub fn normalize(env: &TestEnv, text: &str) -> String {
    let text = text.replace(env.root().to_str().unwrap(), "$ROOT");
    let text = mask_agent_tmp(&text);
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || ('a'..='f').contains(c))
            .count();
        let bounded = (i == 0 || !chars[i - 1].is_ascii_alphanumeric())
            && chars
                .get(i + run)
                .is_none_or(|c| !c.is_ascii_alphanumeric());
        if bounded && (run == 40 || run == 64) {
            out.push_str("[SHA]");
            i += run;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    let mut lines = Vec::new();
    for line in out.lines() {
        let masked = [
            "_at\": ",
            "\"at\": ",
            "\"pid\": ",
            "\"start\": ",
            "\"time\": ",
            "\"run_token\": ",
        ]
        .iter()
        .find_map(|key| line.find(key).map(|pos| (pos, key.len())))
        .map(|(pos, len)| {
            let comma = if line.trim_end().ends_with(',') {
                ","
            } else {
                ""
            };
            format!("{}[masked]{comma}", &line[..pos + len])
        });
        lines.push(masked.unwrap_or_else(|| line.to_owned()));
    }
    lines.join("\n") + "\n"
}

/// A sandboxed agent's private temporary folder (`$ROOT/tmp/git-agent-<uid>/<name>-<hash of the
/// repository path>`) becomes `$AGENT_TMP/<name>`.
fn mask_agent_tmp(text: &str) -> String {
    let uid = nix::unistd::getuid().as_raw();
    // After the root became `$ROOT`: the tests' TMPDIR is `$ROOT/tmp`.
    let prefix = std::path::PathBuf::from(format!("$ROOT/tmp/git-agent-{uid}/"));
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix.to_str().unwrap()) {
        out.push_str(&rest[..at]);
        out.push_str("$AGENT_TMP/");
        rest = &rest[at + prefix.as_os_str().len()..];
        let end = rest
            .find(|c: char| c == '"' || c.is_whitespace())
            .unwrap_or(rest.len());
        let segment = &rest[..end];
        match segment.rsplit_once('-') {
            Some((name, hash))
                if hash.len() == 8 && hash.chars().all(|c| c.is_ascii_hexdigit()) =>
            {
                out.push_str(name);
            }
            _ => out.push_str(segment),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// True once a process has exited. A zombie counts as gone: in containers whose PID 1 does
/// not reap orphans, killed children linger as zombies.
pub fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| matches!(rest.split_whitespace().next(), Some("Z" | "X"))),
    }
}
