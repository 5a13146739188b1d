//! The SSH runner (`--runner ssh://[user@]host[:port]/path`): the agent runs in a session of
//! `git agent` on another machine, in the clone of the repository at `path` there, and the
//! supervisor here follows it through one `ssh` client.
//!
//! A run, as the supervisor sees it: [`SshRunner::launch`] pushes the session's branch to the
//! remote clone (a fast-forward only), starts the remote session (`git agent new --json` on
//! the first run, `git agent send` on later ones), records its name there
//! ([`SshRecord::remote_name`]), then starts the one local process the supervisor watches: an
//! `ssh` client printing the remote session's raw log (`git agent logs -f --raw`) and exiting
//! with `git agent wait`'s code (0 when the remote session ended done). Its output is the
//! agent's as far as the supervisor is concerned: logged, parsed, priced here.
//! [`SshRunner::collect`] fetches the branch back (checked, into `refs/agent-incoming/<name>`)
//! and fast-forwards the local worktree.
//!
//! Invariants:
//! - every remote argument is quoted for the remote shell (`shell_words::quote`): the prompt
//!   and messages are user text, never shell code over there;
//! - the user's own SSH setup is used (keys, agent, config, known_hosts), nothing of theirs
//!   is copied; `BatchMode=yes`: a prompt for a password fails rather than hangs;
//!   `ConnectTimeout`/`ServerAliveInterval`: a silent network is a lost connection. The
//!   `ssh` program and its options are git's: `GIT_SSH_COMMAND`, else `core.sshCommand`,
//!   else `ssh` (options given there come first, so they win over ours); the same command
//!   reaches `git push`/`git fetch`;
//! - the several `ssh` calls of a run share one connection (`ControlMaster=auto`, its socket
//!   in the state directory, `ControlPersist=60`) where the socket path fits;
//! - the client dying (connection lost, killed) ends the local run `failed` with a reason
//!   that says so and records how much of the remote log arrived
//!   ([`SshRecord::disconnected`]); the remote session is left running, and the next
//!   resumed run (`git agent resume`, `git agent doctor --fix`) reconnects to it, whether it
//!   still runs or ended meanwhile, never starting its agent again nor telling it anything,
//!   and brings the output missed meanwhile into the log here. A lost supervisor here is
//!   the same for them ([`Runner::let_go`]): the agent over there is not stopped;
//! - `git agent rm` removes the remote session too, once what it made is here (`removal`).

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use nix::sys::signal::Signal;

use super::{LaunchSpec, Launched, Runner};
use crate::error::Failure;
use crate::git::bundle;
use crate::git::repo::Repo;
use crate::procs::ProcessRef;
use crate::session::{Exit, RunKind, RunnerRecord, Session, SshRecord, State};
use crate::state::StateDir;
use noise::DropSandboxNoise;
pub use remote::control_folder;
use remote::{Remote, SSH_FAILED, created_name, followup_message, new_script};

mod noise;
mod remote;
mod removal;

/// Parses `ssh://[user@]host[:port]/path` (a path of `/~/x` is `~/x`, under the remote
/// user's home).
pub fn parse(spec: &str) -> Result<SshRecord> {
    let bad = |why: &str| -> anyhow::Error {
        Failure::usage(format!("bad SSH runner '{spec}': {why}"))
            .hint("the form: ssh://[user@]host[:port]/path/to/repo")
            .into()
    };
    let rest = spec
        .strip_prefix("ssh://")
        .ok_or_else(|| bad("it must start with ssh://"))?;
    let (authority, path) = rest
        .find('/')
        .map(|i| rest.split_at(i))
        .ok_or_else(|| bad("no path to the repository"))?;
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_owned()), h),
        None => (None, authority),
    };
    // An IPv6 address is bracketed (`[::1]:2222`): its colons are not the port's.
    let (host, port) = match host_port.strip_prefix('[') {
        Some(inner) => {
            let (h, after) = inner
                .split_once(']')
                .ok_or_else(|| bad("an unclosed '[' around the host"))?;
            match after {
                "" => (h, None),
                p => (h, Some(p.strip_prefix(':').unwrap_or(p))),
            }
        }
        None => match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        },
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| bad("the port is not a number"))
        })
        .transpose()?;
    if host.is_empty() || host.starts_with('-') {
        return Err(bad("no host"));
    }
    if user
        .as_deref()
        .is_some_and(|u| u.is_empty() || u.starts_with('-'))
    {
        return Err(bad("an empty user"));
    }
    let path = path
        .strip_prefix("/~")
        .map_or(path.to_owned(), |p| format!("~{p}"));
    if path == "/" || path == "~" || path == "~/" {
        return Err(bad("no path to the repository"));
    }
    Ok(SshRecord {
        target: spec.to_owned(),
        host: host.to_owned(),
        user,
        port,
        path,
        remote_name: None,
        disconnected: None,
        log_from: None,
    })
}

/// Runs the session's agent on another machine (see the module's documentation).
pub struct SshRunner {
    state: StateDir,
    session: Session,
    record: SshRecord,
    remote: Remote,
    /// The remote session's name, once known (recorded too).
    remote_name: Mutex<Option<String>>,
    /// The client of this run died without the remote session's end: the connection is lost.
    lost: Arc<AtomicBool>,
    /// How many lines of the remote log this run has seen (the ones before it included).
    seen: Arc<AtomicU64>,
}

impl SshRunner {
    pub fn new(state: &StateDir, session: &Session, record: &SshRecord) -> Self {
        Self {
            state: state.clone(),
            session: session.clone(),
            record: record.clone(),
            remote: Remote::new(state, record),
            remote_name: Mutex::new(record.remote_name.clone()),
            lost: Arc::new(AtomicBool::new(false)),
            seen: Arc::new(AtomicU64::new(0)),
        }
    }

    fn repo(&self) -> Result<Repo> {
        self.remote.repo()
    }

    /// Runs `script` over there to its end (see [`Remote::run`]).
    fn run_remote(&self, script: &str) -> Result<String> {
        self.remote.run(script)
    }

    fn remote_name(&self) -> Option<String> {
        self.remote_name
            .lock()
            .map(|n| n.clone())
            .unwrap_or_default()
    }

    /// Starts this run over there: the remote session's name and how many lines of its log
    /// are older than this run.
    fn start_remote(&self, base: &str) -> Result<(String, u64)> {
        let run = self
            .session
            .run()
            .context("the session has no run to start")?;
        let existing = self.remote_name();
        let Some(remote) = existing.filter(|_| run.kind != RunKind::New) else {
            let out = self.run_remote(&new_script(&self.session, base))?;
            let name = created_name(&out).with_context(|| {
                format!(
                    "'git agent new' on {} said no session name",
                    self.record.host
                )
            })?;
            return Ok((name, 0));
        };
        let q = shell_words::quote(&remote);
        let running = self.remote_is_active(&remote)?;
        let count = format!("git agent logs --raw {q} 2>/dev/null | wc -l");
        // After a lost connection a resumed run only reconnects, whether the remote session
        // still runs or ended meanwhile: its agent is never started again for it.
        let reconnect =
            run.kind == RunKind::Resume && (running || self.record.disconnected.is_some());
        let script = if reconnect {
            count
        } else {
            let message = followup_message(&self.session.prompt, &run.prompt);
            // The branch as it is here (commits made here since, on what came back): a
            // fast-forward of the remote worktree, refused rather than overwrite anything
            // there; not while its agent runs (the message then waits for its run's end).
            let (queue, forward) = if running {
                (" --queue", String::new())
            } else {
                (
                    "",
                    format!(
                        "git -C \"$(git agent path {q})\" -c core.hooksPath=/dev/null merge \
                         --ff-only --quiet {} >&2 && ",
                        shell_words::quote(base)
                    ),
                )
            };
            format!(
                "{forward}n=$({count}) && {}git agent send{queue} {} {q} >&2 && echo \"$n\"",
                remote::variant_env(&self.session),
                shell_words::quote(&format!("--message={message}"))
            )
        };
        let out = self.run_remote(&script)?;
        let lines: u64 = out
            .lines()
            .last()
            .unwrap_or("0")
            .trim()
            .parse()
            .unwrap_or(0);
        // What it printed while nobody here followed it is this run's too.
        let lines = self
            .record
            .disconnected
            .map_or(lines, |seen| seen.min(lines));
        Ok((remote, lines))
    }

    /// Whether the remote session is running (or starting, or queued) now.
    fn remote_is_active(&self, remote: &str) -> Result<bool> {
        let out = self
            .run_remote(&format!(
                "git agent show --json {}",
                shell_words::quote(remote)
            ))
            .map_err(|e| {
                if !format!("{e:#}").contains(&format!("no session named '{remote}'")) {
                    return e;
                }
                // Removed over there: nothing is left to reconnect to (the doctor need not
                // offer it again), nor to follow up.
                let _ = mark_disconnected_at(&self.state, &self.session.name, None);
                Failure::fatal(format!(
                    "its session '{remote}' on {} is gone (removed there); what it made and \
                     did not bring here went with it",
                    self.record.host
                ))
                .into()
            })?;
        let value: serde_json::Value = serde_json::from_str(out.trim())
            .with_context(|| format!("'git agent show' on {} said no JSON", self.record.host))?;
        let state = value["session"]["state"].as_str().unwrap_or("");
        Ok(
            serde_json::from_value::<State>(serde_json::Value::from(state))
                .is_ok_and(|s| s.is_active()),
        )
    }

    /// Records the remote session's name, followed (connected) again from line `from` of
    /// its log.
    fn record_remote_name(&self, remote: &str, from: u64) -> Result<()> {
        if let Ok(mut mine) = self.remote_name.lock() {
            *mine = Some(remote.to_owned());
        }
        self.state.update(&self.session.name, |s| {
            if let Some(RunnerRecord::Ssh(r)) = &mut s.runner {
                r.remote_name = Some(remote.to_owned());
                r.disconnected = None;
                r.log_from = Some(from);
            }
            Ok(())
        })
    }

    /// Fetches the branch over there (checked) and fast-forwards the branch and worktree
    /// here to it.
    fn fetch_back(&self, repo: &Repo) -> Result<()> {
        let env = self.remote.git_env()?;
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let commit = bundle::fetch_from_with(repo, &self.session, &self.remote.url(), &env)?;
        bundle::bring_back(repo, &self.session, &commit)?;
        Ok(())
    }

    /// `git agent stop` over there (nothing if no remote session was started).
    fn stop_remote(&self, grace: Option<Duration>) -> Result<()> {
        let Some(remote) = self.remote_name() else {
            return Ok(());
        };
        let grace = grace.map(|g| format!(" --grace {}s", g.as_secs()));
        self.run_remote(&format!(
            "git agent stop{} {}",
            grace.unwrap_or_default(),
            shell_words::quote(&remote)
        ))
        .map(drop)
    }
}

impl Runner for SshRunner {
    fn launch(&self, _spec: &LaunchSpec) -> Result<Launched> {
        let repo = self.repo()?;
        let env = self.remote.git_env()?;
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // The first run's branch is made over there by `git agent new` (so its agent may
        // commit on it in its sandbox) from the commit pushed beside it; a later run's
        // commit is where the remote worktree fast-forwards to (`start_remote`).
        let first = self.remote_name().is_none()
            || self.session.run().is_some_and(|r| r.kind == RunKind::New);
        if first {
            // Nothing at the path over there: a bare repository of ours, made now.
            self.remote.ensure_repository()?;
        } else {
            // What the remote session made while nobody followed it (a lost connection)
            // comes first: what is pushed below then descends from it.
            self.fetch_back(&repo)?;
        }
        // A ref of ours there: the branch itself may be checked out in the remote worktree
        // (git refuses to push to it); a later run fast-forwards that worktree to it.
        let dest = format!("+refs/agent-base/{}", self.session.name);
        let url = self.remote.url();
        let base = bundle::push_to(&repo, &self.session, (&url, &dest), &env).map_err(|e| {
            let text = format!("{e:#}");
            let why = if text.contains("does not appear to be a git repository") {
                format!(
                    " (the SSH runner needs a clone of the repository at {} on {})",
                    self.record.path, self.record.host
                )
            } else {
                String::new()
            };
            Failure::fatal(format!(
                "could not push {} to {}{why}: {text}",
                self.session.branch, self.record.target
            ))
        })?;
        let (remote, skip) = self.start_remote(&base)?;
        self.record_remote_name(&remote, skip)?;
        let q = shell_words::quote(&remote);
        // Not `logs -f`'s closing summary on stderr: it raced the agent's last words to be the
        // run's result (`wait` says what went wrong, if anything did). The whole log: the
        // lines older than this run are dropped here (`DropSandboxNoise`).
        let follow =
            format!("git agent logs -f --raw {q} 2>/dev/null; exec git agent wait {q} >/dev/null");
        let mut child = self.remote.command(&follow)?.spawn(
            Stdio::null(),
            Stdio::piped(),
            Stdio::piped(),
            true,
        )?;
        let process = ProcessRef::of_child(child.id());
        let stdout = child.stdout.take().context("ssh's stdout is missing")?;
        let stderr = child.stderr.take().context("ssh's stderr is missing")?;
        let stdout = DropSandboxNoise::new(stdout, skip, Arc::clone(&self.seen));
        let (lost, seen, host, name, state) = (
            Arc::clone(&self.lost),
            Arc::clone(&self.seen),
            self.record.host.clone(),
            self.session.name.clone(),
            self.state.clone(),
        );
        let wait = Box::new(move || -> Result<Exit> {
            use std::os::unix::process::ExitStatusExt as _;
            let status = child.wait().context("could not wait for ssh")?;
            let exit = Exit {
                code: status.code(),
                signal: status.signal(),
            };
            if exit.code == Some(SSH_FAILED) || exit.signal.is_some() {
                lost.store(true, Ordering::SeqCst);
                // Recorded again by `collect` once the output is drained; lines still in the
                // pipe count as not seen: a reconnect shows them again rather than miss them.
                let _ = mark_disconnected(&state, &name, seen.load(Ordering::SeqCst));
                anyhow::bail!(
                    "lost the connection to {host} (ssh {}); the session may still run there: \
                     'git agent resume {name}' reconnects",
                    exit.describe()
                );
            }
            Ok(exit)
        });
        Ok(Launched {
            process,
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
            wait,
        })
    }

    fn signal(&self, process: &ProcessRef, sig: Signal) -> bool {
        if sig == Signal::SIGTERM && process.group_is_ours() {
            // The remote session stops; the client follows it to its end and exits. From a
            // thread: the supervisor's loop goes on meanwhile (it kills the client after the
            // grace period).
            let stop = SshRunner {
                state: self.state.clone(),
                session: self.session.clone(),
                record: self.record.clone(),
                remote: self.remote.clone(),
                remote_name: Mutex::new(self.remote_name()),
                lost: Arc::clone(&self.lost),
                seen: Arc::clone(&self.seen),
            };
            std::thread::spawn(move || stop.stop_remote(None));
            return true;
        }
        process.signal_group(sig)
    }

    fn is_running(&self, process: &ProcessRef) -> bool {
        process.group_is_ours()
    }

    fn terminate(&self, process: &ProcessRef, grace: Duration) -> bool {
        if process.group_is_ours() {
            let _ = self.stop_remote(Some(grace));
        }
        process.terminate_group(grace)
    }

    fn wants_sandbox(&self) -> bool {
        false
    }

    fn collect(&self) -> Result<()> {
        let repo = self.repo()?;
        if self.lost.load(Ordering::SeqCst) {
            // Now that its output is drained: every line that came is in the log here.
            mark_disconnected(
                &self.state,
                &self.session.name,
                self.seen.load(Ordering::SeqCst),
            )?;
        }
        match self.fetch_back(&repo) {
            // The work stays over there; the run that reconnects brings it.
            Err(_) if self.lost.load(Ordering::SeqCst) => Ok(()),
            other => other,
        }
    }

    fn clean_up(&self) -> Result<()> {
        // The session here is being stopped: its remote one stops too. An unreachable host
        // does not keep it here.
        let _ = self.stop_remote(None);
        Ok(())
    }

    fn remove_elsewhere(&self, force: bool, delete_branch: bool) -> Result<Option<String>> {
        self.remove_remote(force, delete_branch)
    }

    fn let_go(&self, process: Option<&ProcessRef>) -> Result<bool> {
        if self.remote_name().is_none() {
            return Ok(false);
        }
        // The client here only (`terminate` would stop the remote session too).
        if let Some(client) = process {
            client.signal_group(Signal::SIGKILL);
        }
        // What reached the log here of this run: the reconnect follows on from there
        // (lines of the remote sandbox's noise, dropped here, come again: never a gap).
        let seen = self.record.log_from.map_or(u64::MAX, |from| {
            from + self.session.run().map_or(0, |run| {
                lines_since(&self.state.log_path(&self.session.name), run.log_offset)
            })
        });
        mark_disconnected(&self.state, &self.session.name, seen)?;
        Ok(true)
    }
}

/// Records that the connection of the session's run was lost after `seen` lines of the remote
/// log arrived.
fn mark_disconnected(state: &StateDir, name: &str, seen: u64) -> Result<()> {
    mark_disconnected_at(state, name, Some(seen))
}

/// Sets (or clears, `None`) [`SshRecord::disconnected`]. Not for a run someone asked to
/// stop: its client is killed once the grace period is over, and that run is not to be
/// followed again.
fn mark_disconnected_at(state: &StateDir, name: &str, seen: Option<u64>) -> Result<()> {
    state.update(name, |s| {
        let stopping = s.stop_requested.is_some();
        if let Some(RunnerRecord::Ssh(r)) = &mut s.runner
            && !(stopping && seen.is_some())
        {
            r.disconnected = seen;
        }
        Ok(())
    })
}

/// How many lines the file at `path` has after byte `offset`.
fn lines_since(path: &std::path::Path, offset: u64) -> u64 {
    use std::io::{Read as _, Seek as _};
    let Ok(mut file) = std::fs::File::open(path) else {
        return 0;
    };
    let mut text = Vec::new();
    if file.seek(std::io::SeekFrom::Start(offset)).is_err() || file.read_to_end(&mut text).is_err()
    {
        return 0;
    }
    text.iter().filter(|b| **b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_hosts_are_bracketed() {
        let r = super::parse("ssh://me@[::1]:2222/src/p").unwrap();
        assert_eq!((r.host.as_str(), r.port), ("::1", Some(2222)));
        let r = super::parse("ssh://[fe80::1]/src/p").unwrap();
        assert_eq!((r.host.as_str(), r.port), ("fe80::1", None));
        assert!(super::parse("ssh://[::1/src/p").is_err());
        assert!(super::parse("ssh://[::1]x/src/p").is_err());
    }

    #[test]
    fn targets_parse_into_their_parts() {
        let r = parse("ssh://me@box.lan:2222/src/proj").unwrap();
        assert_eq!(
            (r.user.as_deref(), r.host.as_str(), r.port, r.path.as_str()),
            (Some("me"), "box.lan", Some(2222), "/src/proj")
        );
        let r = parse("ssh://box/~/proj").unwrap();
        assert_eq!((r.user, r.port, r.path.as_str()), (None, None, "~/proj"));
        assert_eq!(remote::cd(&r.path), "cd ~/proj");
        assert_eq!(remote::cd("/a b/it's"), "cd '/a b/it'\\''s'");
        for bad in [
            "ssh://box",
            "ssh://box/",
            "ssh://:22/x",
            "ssh://box:port/x",
            "ssh://-oProxyCommand=x/p",
            "ssh://@box/p",
            "box:/p",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
