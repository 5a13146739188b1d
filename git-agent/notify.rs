//! Notifications: telling the user, with no `watch` open, that a session or a plan needs them
//! or has finished.
//!
//! Who sends one: whoever recorded the transition, right after recording it and outside the
//! state lock — the supervisor for everything an agent does (its end, a rate limit, a
//! `waiting` report read from its status file: `supervisor/mod.rs`, `supervisor/run.rs`),
//! `git agent notify` for a report made outside a run, and plan driving for a plan's state
//! (`ops/plan/drive.rs`, `set_plan_state`). Each of those call sites runs once per recorded
//! transition, so a transition notifies once: a supervisor that records `done` notifies once,
//! a session rate-limited three times notifies three times, a `waiting` report that only
//! changes the message notifies nothing.
//!
//! What: a session entering `waiting`, `failed` (or `setup-failed`), `rate-limited`,
//! `over-budget`, `done` (`stopped` if asked for), a plan entering `blocked`, `failed`,
//! `validated`, `landed`. `agent.notify.on` (words separated by commas or spaces) narrows
//! the set; `agent.notify = off` silences everything. A plan's own task sessions do not
//! notify `done`: the plan lands them, and says when it is done.
//!
//! Channels:
//! - `agent.notifyCommand`, from git config only (`.git-agent.toml` cannot set it: a command
//!   the repository defines would run unsandboxed on every transition), run as `sh -c` (the
//!   user's own text), detached in its own process group, its output appended to
//!   `agent/notify.log`. It may run for `agent.notifyTimeout` (default [`DEFAULT_TIMEOUT`]);
//!   past that its process group is killed and `notify.log` says so. A detached
//!   `git-agent __notify-run` enforces that ([`run_limited`]): the caller (a supervisor that
//!   exits after announcing) waits for nothing. What it is told is in its environment only, never in its argv:
//!   `GIT_AGENT_NAME` (the session; unset for a plan), `GIT_AGENT_PLAN` (the plan, also for
//!   a plan's sessions), `GIT_AGENT_STATE`, `GIT_AGENT_MESSAGE` (what happened and what to
//!   run next), `GIT_AGENT_REPO` (the repository's path).
//! - A desktop notification (Linux, `notify-rust`) where a D-Bus session bus exists
//!   (`DBUS_SESSION_BUS_ADDRESS` set), shown by a detached `git-agent __notify-desktop` so a
//!   slow bus never holds the caller. Without a bus and without a command it is skipped, and
//!   the first skip is recorded once (a line in `notify.log`, and `git agent config` says so
//!   beside `agent.notifyCommand` from then on).
//!
//! Invariants: a notification never blocks its caller (reading config and starting a
//! process is all it does) and never changes an outcome (every error is swallowed: it is
//! best effort). It never runs while the state lock is held by its caller (callers notify
//! after releasing it), so a slow command can hold nothing of ours.
//!
//! The `watch` hook: a viewer writes `agent/watching` ([`crate::state::watching`]): JSON naming the
//! session on screen and its own process (pid and start time). No session notification is
//! sent for that session while that process lives; a stale file (the viewer died) is
//! ignored.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::git::repo::{Config, Repo};
use crate::process::Cmd;
use crate::session::State;
use crate::state::StateDir;
use crate::state::plans::PlanState;

/// The words `agent.notify.on` may list. Sessions: `waiting`, `failed` (also `setup-failed`),
/// `rate-limited`, `over-budget`, `done`, `stopped`; plans: `blocked`, `failed`,
/// `validated`, `landed`.
pub const WORDS: &[&str] = &[
    "waiting",
    "failed",
    "rate-limited",
    "over-budget",
    "done",
    "stopped",
    "blocked",
    "validated",
    "landed",
];

/// What notifies when `agent.notify.on` is not set: everything but `stopped` (the user
/// stopped it, or its timeout did).
const DEFAULT_ON: &[&str] = &[
    "waiting",
    "failed",
    "rate-limited",
    "over-budget",
    "done",
    "blocked",
    "validated",
    "landed",
];

/// The variables a notification command is given (set or removed, never inherited).
const VARS: &[&str] = &[
    "GIT_AGENT_NAME",
    "GIT_AGENT_PLAN",
    "GIT_AGENT_STATE",
    "GIT_AGENT_MESSAGE",
    "GIT_AGENT_REPO",
];

/// Where the desktop notification's text reaches `git-agent __notify-desktop`.
pub const SUMMARY_VAR: &str = "GIT_AGENT_NOTIFY_SUMMARY";
pub const BODY_VAR: &str = "GIT_AGENT_NOTIFY_BODY";

/// Where `git-agent __notify-run` finds the command and its time limit (milliseconds).
pub const COMMAND_VAR: &str = "GIT_AGENT_NOTIFY_COMMAND";
pub const TIMEOUT_VAR: &str = "GIT_AGENT_NOTIFY_TIMEOUT_MS";

/// How long a notification command may run when `agent.notifyTimeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The session, `None` for a plan's own notice.
    pub session: Option<String>,
    pub plan: Option<String>,
    /// The state entered, as `list` spells it.
    pub state: String,
    /// What happened and what to run next, naming the repository.
    pub message: String,
    /// The repository's path (its main worktree, or the common directory if bare).
    pub repo: PathBuf,
}

/// The word of `agent.notify.on` that covers session state `to`, if any does.
fn session_word(to: State) -> Option<&'static str> {
    match to {
        State::Waiting => Some("waiting"),
        State::Failed | State::SetupFailed => Some("failed"),
        State::RateLimited => Some("rate-limited"),
        State::OverBudget => Some("over-budget"),
        State::Done => Some("done"),
        State::Stopped => Some("stopped"),
        _ => None,
    }
}

fn plan_word(to: PlanState) -> Option<&'static str> {
    match to {
        PlanState::Blocked => Some("blocked"),
        PlanState::Failed => Some("failed"),
        PlanState::Validated => Some("validated"),
        PlanState::Landed => Some("landed"),
        _ => None,
    }
}

/// Session `name` has just entered `to` (the record says why in `reason`). Best effort.
pub fn session_entered(state: &StateDir, name: &str, to: State, reason: Option<&str>) {
    let Some(word) = session_word(to) else {
        return;
    };
    let Some((repo, config)) = open(state) else {
        return;
    };
    if !enabled(&config, word) || watched(state, name) {
        return;
    }
    let plan = state.plan_of(name).map(|(p, _)| p.name);
    if to == State::Done && plan.is_some() {
        return; // the plan lands it, and notifies when the plan is done
    }
    let message = session_message(&repo_name(&repo), name, to, reason, plan.as_deref());
    send(
        state,
        &config,
        &Notice {
            session: Some(name.to_owned()),
            plan,
            state: to.as_str().to_owned(),
            message,
            repo,
        },
    );
}

/// Plan `name` has just entered `to`. Best effort.
pub fn plan_entered(state: &StateDir, name: &str, to: PlanState, reason: Option<&str>) {
    let Some(word) = plan_word(to) else {
        return;
    };
    let Some((repo, config)) = open(state) else {
        return;
    };
    if !enabled(&config, word) {
        return;
    }
    let message = plan_message(&repo_name(&repo), name, to, reason);
    send(
        state,
        &config,
        &Notice {
            session: None,
            plan: Some(name.to_owned()),
            state: to.as_str().to_owned(),
            message,
            repo,
        },
    );
}

/// The repository's path and its config, if it opens.
fn open(state: &StateDir) -> Option<(PathBuf, Config)> {
    let common_dir = state.root().parent()?;
    let repo = Repo::open_common(common_dir).ok()?;
    let path = repo
        .main_workdir()
        .map_or_else(|| common_dir.to_owned(), Path::to_owned);
    Some((path, repo.config()))
}

fn repo_name(repo: &Path) -> String {
    repo.file_name().map_or_else(
        || repo.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// `agent.notify` is not off and `agent.notify.on` covers `word`. A value we cannot read
/// counts as off: nothing runs on a setting we do not understand (`doctor` names it).
fn enabled(config: &Config, word: &str) -> bool {
    if !matches!(config.boolean("agent.notify"), Ok(None | Some(true))) {
        return false;
    }
    match config.string("agent.notify.on") {
        None => DEFAULT_ON.contains(&word),
        Some(list) => words(&list).any(|w| w.eq_ignore_ascii_case(word)),
    }
}

/// The words of an `agent.notify.on` value.
pub fn words(list: &str) -> impl Iterator<Item = &str> {
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
}

/// What a session's notice says: the repository, the session, what happened, what to run.
fn session_message(
    repo: &str,
    name: &str,
    to: State,
    reason: Option<&str>,
    plan: Option<&str>,
) -> String {
    let why = reason
        .filter(|r| !r.trim().is_empty())
        .map(|r| format!(" ({})", r.trim()))
        .unwrap_or_default();
    let what = match to {
        State::Waiting => format!(
            "{name} is waiting for you{why}. Answer: git agent send {name} \"…\" (see: git agent show {name})"
        ),
        State::Done => format!("{name} is done{why}. Review it: git agent review {name}"),
        State::RateLimited => format!(
            "{name} hit a rate limit{why}; it resumes by itself. See: git agent show {name}"
        ),
        State::OverBudget => format!(
            "{name} was stopped at its budget{why}. See: git agent show {name}, review: git agent review {name}"
        ),
        State::Stopped => format!("{name} was stopped{why}. See: git agent show {name}"),
        _ => format!("{name} {}{why}. See: git agent show {name}", to.as_str()),
    };
    let plan = plan
        .map(|p| format!(" Its plan: git agent plan status {p}"))
        .unwrap_or_default();
    format!("{repo}: {what}{plan}")
}

fn plan_message(repo: &str, name: &str, to: PlanState, reason: Option<&str>) -> String {
    let why = reason
        .filter(|r| !r.trim().is_empty())
        .map(|r| format!(" ({})", r.trim()))
        .unwrap_or_default();
    let what = match to {
        PlanState::Validated => {
            format!("plan {name} is validated{why}. Land it: git agent plan land {name}")
        }
        PlanState::Landed => format!("plan {name} landed{why}. See: git agent plan status {name}"),
        PlanState::Blocked => {
            format!("plan {name} is blocked{why}. See: git agent plan status {name}")
        }
        _ => format!(
            "plan {name} {}{why}. See: git agent plan status {name}",
            to.as_str()
        ),
    };
    format!("{repo}: {what}")
}

/// Sends `notice` on every channel there is. Starts processes, waits for none.
fn send(state: &StateDir, config: &Config, notice: &Notice) {
    let command = config
        .string("agent.notifyCommand")
        .filter(|c| !c.trim().is_empty());
    if let Some(command) = &command {
        // Under its watchdog (which holds its time limit); without our own binary, bare.
        let cmd = match crate::process::git_agent_exe() {
            Ok(exe) => Cmd::new(exe)
                .arg("__notify-run")
                .env(COMMAND_VAR, command)
                .env(TIMEOUT_VAR, timeout(config).as_millis().to_string()),
            Err(_) => Cmd::new("sh").arg("-c").arg(command),
        };
        detach(state, with_notice(cmd, notice));
    }
    if desktop_bus() {
        if let Ok(exe) = crate::process::git_agent_exe() {
            let summary = format!("git agent: {}", notice.state);
            let cmd = Cmd::new(exe)
                .arg("__notify-desktop")
                .env(SUMMARY_VAR, summary)
                .env(BODY_VAR, &notice.message);
            detach(state, with_notice(cmd, notice));
        }
    } else if command.is_none() {
        hint_once(state);
    }
}

/// `cmd` with the notice in its environment (and nothing of ours inherited).
fn with_notice(mut cmd: Cmd, notice: &Notice) -> Cmd {
    for var in VARS.iter().chain(crate::process::REPO_ENV) {
        cmd = cmd.env_remove(var);
    }
    if let Some(session) = &notice.session {
        cmd = cmd.env("GIT_AGENT_NAME", session);
    }
    if let Some(plan) = &notice.plan {
        cmd = cmd.env("GIT_AGENT_PLAN", plan);
    }
    let dir = if notice.repo.is_dir() {
        notice.repo.as_path()
    } else {
        Path::new("/")
    };
    cmd.env("GIT_AGENT_STATE", &notice.state)
        .env("GIT_AGENT_MESSAGE", &notice.message)
        .env("GIT_AGENT_REPO", &notice.repo)
        .current_dir(dir)
}

/// Starts `cmd` in its own process group, its output appended to `notify.log`, and reaps it
/// on a thread of its own (if we exit first, init does).
fn detach(state: &StateDir, cmd: Cmd) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.root().join("notify.log"));
    let (out, err) = match log.and_then(|l| Ok((l.try_clone()?, l))) {
        Ok((out, err)) => (Stdio::from(out), Stdio::from(err)),
        Err(_) => (Stdio::null(), Stdio::null()),
    };
    if let Ok(mut child) = cmd.spawn(Stdio::null(), out, err, true) {
        std::thread::spawn(move || child.wait());
    }
}

/// `agent.notifyTimeout`; [`DEFAULT_TIMEOUT`] where it is unset, zero or unreadable (`doctor`
/// names a value it cannot read).
fn timeout(config: &Config) -> Duration {
    match config.duration("agent.notifyTimeout") {
        Ok(Some(limit)) if !limit.is_zero() => limit,
        _ => DEFAULT_TIMEOUT,
    }
}

/// Runs notification command `command` (`sh -c`, stdout and stderr inherited) in a process
/// group of its own for at most `limit`; past it the group gets SIGTERM, and SIGKILL a second
/// later if the shell still runs. Whether it was killed. For `git-agent __notify-run` only:
/// it blocks until the command ends or is killed.
pub fn run_limited(command: &str, limit: Duration) -> anyhow::Result<bool> {
    use nix::sys::signal::{Signal, killpg};
    let mut child = Cmd::new("sh")
        .arg("-c")
        .arg(command)
        .env_remove(COMMAND_VAR)
        .env_remove(TIMEOUT_VAR)
        .spawn(Stdio::null(), Stdio::inherit(), Stdio::inherit(), true)?;
    let group = nix::unistd::Pid::from_raw(i32::try_from(child.id())?);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    if rx.recv_timeout(limit).is_ok() {
        return Ok(false);
    }
    // The shell is not reaped yet (no answer came): its pid, the group's id, is still ours.
    let _ = killpg(group, Signal::SIGTERM);
    if rx.recv_timeout(Duration::from_secs(1)).is_err() {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = rx.recv_timeout(Duration::from_secs(1));
    }
    Ok(true)
}

/// A desktop session bus is there to take notifications.
pub fn desktop_bus() -> bool {
    cfg!(target_os = "linux")
        && std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty())
}

/// Records, once per repository, that a notification went nowhere: a line in
/// `notify.log` (where a notification command's output goes too), and the marker
/// `notify-skipped` that `git agent config` reads to say so.
fn hint_once(state: &StateDir) {
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(skipped_path(state));
    if created.is_ok() {
        let line = format!(
            "{}: a notification was not shown: no desktop session bus (DBUS_SESSION_BUS_ADDRESS is unset) and no agent.notifyCommand; set one, or agent.notify=off\n",
            crate::time::format_timestamp(crate::time::now())
        );
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(state.root().join("notify.log"))
            .and_then(|mut log| std::io::Write::write_all(&mut log, line.as_bytes()));
    }
}

/// The marker of a notification that went nowhere (see [`hint_once`]).
pub fn skipped_path(state: &StateDir) -> PathBuf {
    state.root().join("notify-skipped")
}

/// Shows a desktop notification (`git-agent __notify-desktop`). Blocks until the bus
/// answers: only ever run in a process of its own.
pub fn show_desktop(summary: &str, body: &str) -> anyhow::Result<()> {
    #[cfg(target_os = "linux")]
    {
        notify_rust::Notification::new()
            .appname("git-agent")
            .summary(summary)
            .body(body)
            .show()?;
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (summary, body);
        anyhow::bail!("desktop notifications are only sent on Linux")
    }
}

/// A live viewer has session `name` on screen.
fn watched(state: &StateDir, name: &str) -> bool {
    crate::state::watching::read(state).is_some_and(|w| w.session == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_repository_the_session_and_what_to_run() {
        let m = session_message("app", "fix", State::Done, None, None);
        assert_eq!(m, "app: fix is done. Review it: git agent review fix");
        let m = session_message("app", "fix", State::Waiting, Some("need a token"), None);
        assert!(
            m.starts_with("app: fix is waiting for you (need a token)")
                && m.contains("git agent send fix"),
            "{m}"
        );
        let m = session_message("app", "t", State::Failed, Some("exit 1"), Some("p"));
        assert!(
            m.contains("git agent show t") && m.contains("plan status p"),
            "{m}"
        );
        let m = plan_message("app", "p", PlanState::Validated, None);
        assert_eq!(
            m,
            "app: plan p is validated. Land it: git agent plan land p"
        );
    }

    #[test]
    fn the_list_of_states_splits_on_commas_and_spaces() {
        let w: Vec<&str> = words(" waiting, done  failed,,").collect();
        assert_eq!(w, ["waiting", "done", "failed"]);
    }
}
