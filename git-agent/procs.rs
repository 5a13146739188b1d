//! Process identity and liveness, derived, never assumed.
//!
//! A record stores a pid together with the process's start time ([`ProcessRef`]). A process
//! counts as alive only if a process with that pid exists, is not a zombie, and started at the
//! recorded time, so a pid reused after a crash or reboot is never mistaken for our agent, and
//! we never signal a process we did not start (invariant 2).
//!
//! On Linux the start token is `linux:<boot id>:<start ticks>` from `/proc`; elsewhere it is
//! `ps -o lstart=` (one-second resolution).

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// A process we started: pid plus start time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    pub pid: u32,
    /// Opaque start-time token; `None` if it could not be read when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
}

impl ProcessRef {
    /// The current process.
    pub fn current() -> Self {
        Self::of(std::process::id())
    }

    /// The process with `pid`, as it is now.
    pub fn of(pid: u32) -> Self {
        Self {
            pid,
            start: start_token(pid),
        }
    }

    /// A child of ours that we have not waited for yet: even if it already exited (a zombie),
    /// its pid cannot have been reused, so its start time is still its own.
    pub fn of_child(pid: u32) -> Self {
        Self {
            pid,
            start: start_token_of(pid, true),
        }
    }

    /// True if this exact process is still running (not exited, not a zombie, not a reused pid).
    pub fn is_alive(&self) -> bool {
        if !pid_exists(self.pid) {
            return false;
        }
        match (&self.start, start_token(self.pid)) {
            (Some(recorded), Some(now)) => *recorded == now,
            // Nothing recorded to compare against: existence is all we can go by.
            (None, _) => !is_zombie(self.pid),
            // The process vanished between the two checks.
            (Some(_), None) => false,
        }
    }

    /// True if the process group led by this process still has members we started: the leader
    /// itself, or (after it exited) its orphaned children. A pid cannot be reused while a
    /// group with that id exists, so a live group whose leader is gone is still ours.
    pub fn group_is_ours(&self) -> bool {
        if self.is_alive() {
            return true;
        }
        if pid_exists(self.pid) && !is_zombie(self.pid) {
            return false; // pid reused by a stranger
        }
        group_exists(self.pid)
    }

    /// Sends `sig` to this process if it is still the one we started.
    pub fn signal(&self, sig: Signal) -> bool {
        self.is_alive() && signal::kill(pid(self.pid), sig).is_ok()
    }

    /// Sends `sig` to the process group this process leads, if that group is still ours.
    pub fn signal_group(&self, sig: Signal) -> bool {
        self.group_is_ours() && signal::killpg(pid(self.pid), sig).is_ok()
    }

    /// SIGTERM to the group, up to `grace` for it to go, then SIGKILL. Returns true if the
    /// group had to be killed.
    pub fn terminate_group(&self, grace: Duration) -> bool {
        if !self.signal_group(Signal::SIGTERM) {
            return false;
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !self.group_is_ours() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        self.signal_group(Signal::SIGKILL)
    }
}

fn pid(p: u32) -> Pid {
    Pid::from_raw(i32::try_from(p).unwrap_or(i32::MAX))
}

/// Some process (possibly a zombie) has this pid.
fn pid_exists(p: u32) -> bool {
    p != 0 && matches!(signal::kill(pid(p), None), Ok(()) | Err(Errno::EPERM))
}

/// Some process is in the group with this id.
fn group_exists(p: u32) -> bool {
    p > 1 && matches!(signal::killpg(pid(p), None), Ok(()) | Err(Errno::EPERM))
}

#[cfg(target_os = "linux")]
fn proc_stat_fields(p: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

#[cfg(target_os = "linux")]
fn is_zombie(p: u32) -> bool {
    proc_stat_fields(p).is_some_and(|f| matches!(f.first().map(String::as_str), Some("Z" | "X")))
}

#[cfg(target_os = "linux")]
fn start_token(p: u32) -> Option<String> {
    start_token_of(p, false)
}

#[cfg(target_os = "linux")]
fn start_token_of(p: u32, zombie_ok: bool) -> Option<String> {
    let fields = proc_stat_fields(p)?;
    // Fields after the command: state is field 3, starttime is field 22.
    if !zombie_ok && matches!(fields.first().map(String::as_str), Some("Z" | "X")) {
        return None;
    }
    let ticks = fields.get(22 - 3)?;
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    Some(format!("linux:{}:{ticks}", boot.trim()))
}

#[cfg(not(target_os = "linux"))]
fn is_zombie(p: u32) -> bool {
    ps_field(p, "stat=").is_some_and(|s| s.starts_with('Z'))
}

#[cfg(not(target_os = "linux"))]
fn start_token(p: u32) -> Option<String> {
    start_token_of(p, false)
}

#[cfg(not(target_os = "linux"))]
fn start_token_of(p: u32, zombie_ok: bool) -> Option<String> {
    if !zombie_ok && is_zombie(p) {
        return None;
    }
    ps_field(p, "lstart=").map(|s| format!("ps:{s}"))
}

#[cfg(not(target_os = "linux"))]
fn ps_field(p: u32, field: &str) -> Option<String> {
    let out = crate::process::Cmd::new("ps")
        .args(["-o", field, "-p", &p.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// The environment variable that tags what a session's agent started: the supervisor sets it
/// to the session's [`run token`](crate::session::Session::run_token) in the environment of
/// the agent and of the setup hook (which runs under the supervisor before the agent), and
/// every process they start inherits it, even a server that detached itself. `git agent
/// exec` and `git agent run` never set it: what the user starts there is the user's, and is
/// never reaped (invariant 12).
pub const TOKEN_VAR: &str = "GIT_AGENT_RUN_TOKEN";

/// A process found by looking around (not one we recorded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    pub pid: u32,
    /// Its command line, for people.
    pub command: String,
    /// Its working directory.
    pub cwd: Option<std::path::PathBuf>,
    /// It carries the session's run token: the agent (or its setup hook) started it, or one
    /// of their descendants did, even if it left the process group since.
    pub tagged: bool,
    #[serde(skip)]
    pub process: ProcessRef,
}

impl Found {
    /// The program is git (or one of its helpers): a passer-by.
    pub fn is_git(&self) -> bool {
        self.command
            .split_whitespace()
            .next()
            .and_then(|p| std::path::Path::new(p).file_name())
            .is_some_and(|n| n.to_string_lossy().starts_with("git"))
    }
}

/// Processes (of this user) that belong to a session: those whose environment carries its
/// run `token` ([`TOKEN_VAR`]; a session recorded without one tags nothing), plus, if `under`
/// is given, any process whose working directory is inside it (`tagged: false`). The
/// session's name in the environment (`GIT_AGENT_NAME`) proves nothing: `exec` and `run` set
/// it too. This process and its ancestors are never included.
#[cfg(target_os = "linux")]
pub fn find(token: Option<&str>, under: Option<&std::path::Path>) -> Vec<Found> {
    let want = token
        .filter(|t| !t.is_empty())
        .map(|t| format!("{TOKEN_VAR}={t}"));
    let skip = ancestors();
    let under = under.and_then(|u| std::fs::canonicalize(u).ok());
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if skip.contains(&p) || is_zombie(p) {
            continue;
        }
        let tagged = want.as_ref().is_some_and(|want| {
            std::fs::read(format!("/proc/{p}/environ"))
                .unwrap_or_default()
                .split(|b| *b == 0)
                .any(|v| v == want.as_bytes())
        });
        let cwd = std::fs::read_link(format!("/proc/{p}/cwd")).ok();
        let inside = under
            .as_ref()
            .is_some_and(|u| cwd.as_ref().is_some_and(|c| c.starts_with(u)));
        if !tagged && !inside {
            continue;
        }
        let command = std::fs::read(format!("/proc/{p}/cmdline"))
            .map(|c| {
                c.split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        found.push(Found {
            pid: p,
            command,
            cwd,
            tagged,
            process: ProcessRef::of(p),
        });
    }
    found
}

#[cfg(not(target_os = "linux"))]
pub fn find(_token: Option<&str>, _under: Option<&std::path::Path>) -> Vec<Found> {
    Vec::new()
}

/// This process and its ancestors.
#[cfg(target_os = "linux")]
fn ancestors() -> Vec<u32> {
    let mut pids = vec![std::process::id()];
    let mut p = std::process::id();
    while let Some(parent) = proc_stat_fields(p)
        .and_then(|f| f.get(1).and_then(|s| s.parse::<u32>().ok()))
        .filter(|pp| *pp > 1)
    {
        pids.push(parent);
        p = parent;
    }
    pids
}

/// SIGTERM to each, up to `grace` for them to go, then SIGKILL to what is left; only
/// processes still the ones found. Returns how many there were.
pub fn terminate(found: &[Found], grace: Duration) -> usize {
    let alive: Vec<&Found> = found
        .iter()
        .filter(|f| f.process.signal(Signal::SIGTERM))
        .collect();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && alive.iter().any(|f| f.process.is_alive()) {
        std::thread::sleep(Duration::from_millis(25));
    }
    for f in &alive {
        f.process.signal(Signal::SIGKILL);
    }
    alive.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_process_is_alive() {
        let me = ProcessRef::current();
        assert!(me.start.is_some());
        assert!(me.is_alive());
    }

    #[test]
    fn reused_pid_is_not_alive() {
        let mut me = ProcessRef::current();
        me.start = Some("linux:other-boot:1".into());
        assert!(!me.is_alive());
        assert!(!me.signal(Signal::SIGTERM), "must not signal a stranger");
    }

    #[test]
    fn missing_pid_is_not_alive() {
        // pid_max on Linux is at most 2^22.
        let ghost = ProcessRef {
            pid: 4_194_304 + 7,
            start: None,
        };
        assert!(!ghost.is_alive());
        assert!(!ghost.group_is_ours());
    }
}
