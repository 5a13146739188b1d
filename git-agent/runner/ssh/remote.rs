//! Reaching the remote machine of an SSH runner's session: the `ssh` command (the user's,
//! with our options), the repository's URL for `git push`/`git fetch`, and commands run in the
//! remote clone (`git agent new` as the session here was asked).
//!
//! Invariants: every script run over there starts with `cd PATH` (quoted) and quotes what it
//! takes from anyone; the user's SSH setup is used, nothing of theirs is copied; a prompt
//! fails rather than hangs (`BatchMode`), a silent host or network is an error within
//! `ConnectTimeout`/`ServerAlive*`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};

use crate::error::Failure;
use crate::git::repo::Repo;
use crate::process::Cmd;
use crate::session::{Session, SshRecord};
use crate::state::StateDir;

/// `ssh`'s own exit code for an error of its own (the connection failed or dropped).
pub(super) const SSH_FAILED: i32 = 255;

/// How long to wait for the host to answer, for the runs' own calls.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// One session's remote machine and clone.
#[derive(Clone)]
pub(super) struct Remote {
    state: StateDir,
    pub(super) record: SshRecord,
    connect_timeout: Duration,
}

impl Remote {
    pub(super) fn new(state: &StateDir, record: &SshRecord) -> Self {
        Self {
            state: state.clone(),
            record: record.clone(),
            connect_timeout: CONNECT_TIMEOUT,
        }
    }

    /// The same, giving up on a host that does not answer within `timeout` (a command
    /// that must not hang on an unreachable host for long).
    pub(super) fn impatient(&self, timeout: Duration) -> Self {
        Self {
            connect_timeout: timeout,
            ..self.clone()
        }
    }

    pub(super) fn repo(&self) -> Result<Repo> {
        Repo::open_common(self.state.root().parent().unwrap_or(self.state.root()))
    }

    /// The `ssh` program and the user's options: git's `GIT_SSH_COMMAND`, `core.sshCommand`,
    /// else `ssh`.
    fn base_command(&self) -> Result<Vec<String>> {
        let configured = std::env::var("GIT_SSH_COMMAND")
            .ok()
            .filter(|c| !c.trim().is_empty())
            .or_else(|| {
                self.repo()
                    .ok()
                    .and_then(|r| r.config().string("core.sshCommand"))
            });
        match configured {
            Some(command) => {
                let words = shell_words::split(&command)
                    .with_context(|| format!("could not read the SSH command '{command}'"))?;
                anyhow::ensure!(!words.is_empty(), "the SSH command is empty");
                Ok(words)
            }
            None => Ok(vec!["ssh".to_owned()]),
        }
    }

    /// The base command with our options: no prompts, one shared connection.
    fn ssh_command(&self) -> Result<Vec<String>> {
        let mut argv = self.base_command()?;
        // No prompt; a host that does not answer, or a network that goes silent, is a
        // lost connection within a minute or so rather than a client that waits for hours.
        argv.extend([
            "-o".to_owned(),
            "BatchMode=yes".to_owned(),
            "-o".to_owned(),
            format!("ConnectTimeout={}", self.connect_timeout.as_secs().max(1)),
            "-o".to_owned(),
            "ServerAliveInterval=15".to_owned(),
            "-o".to_owned(),
            "ServerAliveCountMax=4".to_owned(),
        ]);
        // A Unix socket path has room for 107 bytes (104 on some systems); ssh expands the
        // two bytes of `%C` to 40, and refuses (exit 255) a path that does not fit.
        // In a folder of its own, which the container runner hides from its containers (a
        // socket on a read-only mount still connects: it would be a shell on the host).
        let folder = control_folder(&self.state);
        let control = folder.join("%C");
        if control.as_os_str().len() + 38 < 104 && make_private(&folder) {
            argv.extend([
                "-o".to_owned(),
                "ControlMaster=auto".to_owned(),
                "-o".to_owned(),
                format!("ControlPath={}", control.display()),
                "-o".to_owned(),
                "ControlPersist=60".to_owned(),
            ]);
        }
        Ok(argv)
    }

    /// The environment for `git push`/`git fetch`: our `ssh` command.
    pub(super) fn git_env(&self) -> Result<Vec<(&'static str, String)>> {
        Ok(vec![(
            "GIT_SSH_COMMAND",
            shell_words::join(self.ssh_command()?),
        )])
    }

    /// The repository's URL, for git.
    pub(super) fn url(&self) -> String {
        let r = &self.record;
        let user = r.user.as_ref().map(|u| format!("{u}@")).unwrap_or_default();
        let port = r.port.map(|p| format!(":{p}")).unwrap_or_default();
        let path = match r.path.strip_prefix('~') {
            Some(rest) => format!("/~{rest}"),
            None => r.path.clone(),
        };
        let host = if r.host.contains(':') {
            format!("[{}]", r.host)
        } else {
            r.host.clone()
        };
        format!("ssh://{user}{host}{port}{path}")
    }

    /// `ssh … host 'cd PATH && SCRIPT'`: `script` must quote what it takes from anyone.
    pub(super) fn command(&self, script: &str) -> Result<Cmd> {
        self.command_in_home(&format!("{} && {script}", cd(&self.record.path)))
    }

    /// Makes the repository over there where nothing is at its path yet: a bare one, its
    /// agents' worktrees beside it (`PATH.agents`). True if it made it; a path that holds
    /// anything (a clone, or not a repository) is left as it is.
    pub(super) fn ensure_repository(&self) -> Result<bool> {
        let path = match self.record.path.strip_prefix("~/") {
            Some(rest) => format!("~/{}", shell_words::quote(rest)),
            None => shell_words::quote(&self.record.path).into_owned(),
        };
        let script = format!(
            "p={path}; if [ -e \"$p\" ] || [ -L \"$p\" ]; then exit 0; fi; \
             mkdir -p \"$p\" && git init -q --bare \"$p\" && \
             git -C \"$p\" config agent.worktreeDir \"$(cd \"$p\" && pwd).agents\" && echo created"
        );
        let out = self.command_in_home(&script)?.run().map_err(|e| {
            Failure::fatal(format!(
                "could not make a repository at {} on {}: {e:#}",
                self.record.path, self.record.host
            ))
        })?;
        Ok(out.trim() == "created")
    }

    /// `ssh … host SCRIPT`, run from the remote user's home.
    fn command_in_home(&self, script: &str) -> Result<Cmd> {
        let mut argv = self.ssh_command()?;
        if let Some(port) = self.record.port {
            argv.extend(["-p".to_owned(), port.to_string()]);
        }
        if let Some(user) = &self.record.user {
            argv.extend(["-l".to_owned(), user.clone()]);
        }
        argv.push("-n".to_owned());
        argv.push(self.record.host.clone());
        argv.push(script.to_owned());
        let (program, args) = argv.split_first().context("no ssh program")?;
        // Not from the caller's folder (a supervisor's is the worktree): the first call may
        // leave the shared connection's master running there, which `rm` would then find
        // working in the worktree.
        Ok(Cmd::new(program).args(args).current_dir(self.state.root()))
    }

    /// Runs `script` over there to its end; its stdout, or the error with its stderr.
    pub(super) fn run(&self, script: &str) -> Result<String> {
        self.command(script)?.run().map_err(|e| {
            Failure::fatal(format!(
                "{} failed (the SSH runner needs 'git agent' on {} and a clone of the \
                 repository at {}): {e:#}",
                self.record.target, self.record.host, self.record.path
            ))
            .into()
        })
    }

    /// Runs `script` over there to its end: its exit code and output (stdout, stderr), or
    /// `None` if the host could not be reached (or the connection dropped).
    pub(super) fn try_run(&self, script: &str) -> Result<Option<(i32, String, String)>> {
        let out = self.command(script)?.output()?;
        let code = out.status.code().unwrap_or(SSH_FAILED);
        if code == SSH_FAILED {
            return Ok(None);
        }
        Ok(Some((
            code,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )))
    }
}

/// The folder of the SSH runner's shared connections (`ControlPath`): sockets anyone of the
/// user's who reaches them may run commands on the SSH hosts through.
pub fn control_folder(state: &StateDir) -> PathBuf {
    state.root().join("ssh")
}

/// Creates `folder` for the user alone; false if it cannot be.
fn make_private(folder: &Path) -> bool {
    use std::os::unix::fs::DirBuilderExt as _;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true).mode(0o700).create(folder).is_ok()
}

/// `cd PATH` for the remote shell; `~/…` stays under the remote user's home.
pub(super) fn cd(path: &str) -> String {
    match path.strip_prefix("~/") {
        Some(rest) => format!("cd ~/{}", shell_words::quote(rest)),
        None => format!("cd {}", shell_words::quote(path)),
    }
}

/// `git agent new` over there: the same task, agent and options, the branch made from
/// `base` (pushed).
pub(super) fn new_script(s: &Session, base: &str) -> String {
    let mut args: Vec<String> = vec![
        "--json".into(),
        format!("--name={}", s.name),
        format!("--branch={}", s.branch),
        format!("--base={base}"),
    ];
    if let Some(secs) = s.timeout_secs {
        args.push(format!("--timeout={secs}s"));
    }
    if let Some(usd) = s.limits.budget_usd {
        args.push(format!("--budget={usd}"));
    }
    if !s.auto_commit {
        args.push("--no-auto-commit".into());
    }
    if let Some(mode) = &s.agent.permission_mode {
        args.push(format!("--permission-mode={mode}"));
    }
    let command = s.agent.source == "command";
    if !command {
        args.push(format!("--agent={}", s.agent.profile));
    }
    if !s.prompt.is_empty() {
        args.push(format!("--message={}", s.prompt));
    }
    if command {
        // The program by its name: the remote machine's PATH finds its own.
        let program: PathBuf = s.agent.program.file_name().map_or_else(
            || s.agent.program.clone(),
            |n| PathBuf::from(n.to_os_string()),
        );
        args.push("--".into());
        args.push(program.to_string_lossy().into_owned());
        args.extend(s.agent.args.iter().cloned());
    }
    format!(
        "{}git agent new {}",
        variant_env(s),
        shell_words::join(args)
    )
}

/// `GIT_AGENT_GROUP=… GIT_AGENT_VARIANT=… ` for a variant's commands over there (`new`,
/// `send`): the remote session is no group's, and its agent inherits them from the command
/// that starts its supervisor. Empty for a session of no group.
pub(super) fn variant_env(s: &Session) -> String {
    s.group.as_ref().map_or_else(String::new, |g| {
        format!(
            "GIT_AGENT_GROUP={} GIT_AGENT_VARIANT={} ",
            shell_words::quote(&g.id),
            g.index
        )
    })
}

/// The name in `git agent new --json`'s output (`{"sessions": [{"name": …}]}`).
pub(super) fn created_name(out: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(out.trim()).ok()?;
    value["sessions"][0]["name"].as_str().map(str::to_owned)
}

/// What a follow-up run asks: the message alone (a run that cannot resume the agent's
/// conversation has the task before it; the remote session adds it again itself).
pub(super) fn followup_message(task: &str, run_prompt: &str) -> String {
    let prefix = format!("{task}\n\nFollow-up:\n");
    run_prompt
        .strip_prefix(&prefix)
        .unwrap_or(run_prompt)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_followup_message_is_the_message_alone() {
        let prompt = "the task\n\nFollow-up:\nnow this";
        assert_eq!(followup_message("the task", prompt), "now this");
        // A run that resumes the agent's conversation has the message alone already.
        assert_eq!(followup_message("other", prompt), prompt);
    }
}
