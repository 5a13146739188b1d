//! Following one launched process to its end: its output lines into the session log, the
//! stop request (a signal to the supervisor) and the timeout turned into SIGTERM then
//! SIGKILL of its group, what it left running stopped after it exits. Also the status file
//! an agent reports through, as the supervisor reads it.
//!
//! Owns the stop logic and the session log's appending. It reads the session record (who
//! asked to stop, with what grace) but never writes it: what a line or a report means is
//! the caller's (`on_line`, `on_tick`).

use std::fs::OpenOptions;
use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result};
use nix::sys::signal::Signal;

use crate::runner::Runner;
use crate::session::{Exit, Session, State};
use crate::state::StateDir;
use crate::state::status;

/// How long leftover processes of an exited agent get between SIGTERM and SIGKILL.
const LEFTOVER_GRACE: Duration = Duration::from_secs(2);
/// How long to keep reading output held open by someone outside the agent's group.
const DRAIN: Duration = Duration::from_millis(500);
/// How often the supervisor checks for a timeout, a stop request or a status report.
const TICK: Duration = Duration::from_millis(50);

/// Why the agent is being stopped.
struct Stopping {
    /// The state the session ends in: `stopped`, or `over-budget`.
    state: State,
    reason: String,
    kill_at: Instant,
    killed: bool,
}

enum Msg {
    Out(Vec<u8>),
    Err(Vec<u8>),
    Closed,
    Exited(Result<Exit>),
}

fn pump(reader: Box<dyn Read + Send>, is_err: bool, tx: mpsc::Sender<Msg>) {
    let mut reader = BufReader::new(reader);
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let msg = if is_err {
                    Msg::Err(line)
                } else {
                    Msg::Out(line)
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
        }
    }
    let _ = tx.send(Msg::Closed);
}

/// What following a process needs besides the process: its session, the log its output
/// goes to, the supervisor's stop flag, and the deadline of the session's `--timeout`
/// (counted from when this is made).
pub(super) struct Follow<'a> {
    pub(super) state: &'a StateDir,
    pub(super) session: &'a Session,
    pub(super) log: &'a mut std::fs::File,
    pub(super) signalled: &'a AtomicBool,
    pub(super) timeout_at: Option<Instant>,
}

impl<'a> Follow<'a> {
    pub(super) fn new(
        state: &'a StateDir,
        session: &'a Session,
        log: &'a mut std::fs::File,
        signalled: &'a AtomicBool,
    ) -> Self {
        let timeout_at = session
            .timeout_secs
            .map(|t| Instant::now() + Duration::from_secs(t));
        Self {
            state,
            session,
            log,
            signalled,
            timeout_at,
        }
    }
}

/// How a watched process ended.
pub(super) struct Watched {
    pub(super) exit: Result<Exit>,
    /// Why it was stopped, if it was, and the state that ends the session in (`stopped`, or
    /// `over-budget` when the caller asked for the stop).
    pub(super) stopped: Option<(State, String)>,
}

/// Follows a launched process to its end: every output line goes to `on_line` (`true` for
/// stderr), then to the log unless `on_line` says it is not the process's own (`false`:
/// git's complaint inside our sandbox); a signal to the supervisor (`git agent stop`) or the
/// timeout stops the process group (SIGTERM, SIGKILL after the grace period); `on_tick` runs
/// every tick. After the process exits, what it left running in its group is stopped and
/// the rest of its output drained.
pub(super) fn watch(
    follow: &mut Follow<'_>,
    runner: &dyn Runner,
    launched: crate::runner::Launched,
    mut on_line: impl FnMut(bool, &str) -> Result<bool>,
    mut on_tick: impl FnMut() -> Result<Option<(State, String)>>,
) -> Result<Watched> {
    let Follow {
        state,
        session,
        ref mut log,
        signalled,
        timeout_at,
    } = *follow;
    let name = session.name.as_str();
    let process = launched.process.clone();
    let (tx, rx) = mpsc::channel();
    for (reader, is_err) in [(launched.stdout, false), (launched.stderr, true)] {
        let tx = tx.clone();
        std::thread::spawn(move || pump(reader, is_err, tx));
    }
    let wait = launched.wait;
    std::thread::spawn(move || {
        let _ = tx.send(Msg::Exited(wait()));
    });
    let mut stopping: Option<Stopping> = None;
    let (mut closed, mut exit, mut exited_at, mut leftovers_killed) =
        (0, None, None::<Instant>, false);
    loop {
        match rx.recv_timeout(TICK) {
            Ok(Msg::Out(line) | Msg::Err(line)) if line.is_empty() => {}
            Ok(msg @ (Msg::Out(_) | Msg::Err(_))) => {
                let (line, is_err) = match msg {
                    Msg::Out(l) => (l, false),
                    Msg::Err(l) => (l, true),
                    _ => unreachable!("matched above"),
                };
                if on_line(is_err, &String::from_utf8_lossy(&line))? {
                    append_line(log, &line)?;
                }
            }
            Ok(Msg::Closed) => closed += 1,
            Ok(Msg::Exited(result)) => {
                exit = Some(result);
                exited_at = Some(Instant::now());
                // The process is gone; whatever it left running in its group goes too.
                runner.signal(&process, Signal::SIGTERM);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if let Some(at) = exited_at {
            if closed == 2 {
                break;
            }
            if !leftovers_killed && at.elapsed() >= LEFTOVER_GRACE {
                runner.signal(&process, Signal::SIGKILL);
                leftovers_killed = true;
            }
            if at.elapsed() >= LEFTOVER_GRACE + DRAIN {
                break; // a process outside the group holds the output open
            }
            continue;
        }
        let asked = on_tick()?;
        match &mut stopping {
            None => {
                let why = match asked {
                    Some(asked) => Some(asked),
                    None => stop_reason(state, session, signalled, timeout_at)?
                        .map(|r| (State::Stopped, r)),
                };
                if let Some((end_state, reason)) = why {
                    let grace = state
                        .load(name)?
                        .stop_requested
                        .map_or(session.stop_grace_secs, |r| r.grace_secs);
                    runner.signal(&process, Signal::SIGTERM);
                    stopping = Some(Stopping {
                        state: end_state,
                        reason,
                        kill_at: Instant::now() + Duration::from_secs(grace),
                        killed: false,
                    });
                }
            }
            Some(stop) if !stop.killed && Instant::now() >= stop.kill_at => {
                runner.signal(&process, Signal::SIGKILL);
                stop.killed = true;
            }
            Some(_) => {}
        }
    }
    runner.terminate(&process, Duration::ZERO);
    Ok(Watched {
        exit: exit.unwrap_or_else(|| Err(anyhow::anyhow!("lost track of the process"))),
        stopped: stopping.map(|s| (s.state, s.reason)),
    })
}

/// Why to stop the watched process now, if at all: the supervisor was signalled (`git agent
/// stop`), or the timeout has passed.
fn stop_reason(
    state: &StateDir,
    session: &Session,
    signalled: &AtomicBool,
    timeout_at: Option<Instant>,
) -> Result<Option<String>> {
    let name = session.name.as_str();
    let reason = if signalled.load(Ordering::SeqCst) {
        // Only a recorded request names who asked; a bare signal names no one.
        Some(match state.load(name)?.stop_requested {
            Some(request) => request.describe(),
            None => "the supervisor was asked to stop (signal)".to_owned(),
        })
    } else if timeout_at.is_some_and(|t| Instant::now() >= t) {
        let limit = Duration::from_secs(session.timeout_secs.unwrap_or_default());
        Some(format!(
            "timed out after {}",
            crate::time::format_duration(limit)
        ))
    } else {
        None
    };
    Ok(reason)
}

/// Appends one output line to the log, unchanged, ending it with a newline if it had none.
fn append_line(log: &mut std::fs::File, line: &[u8]) -> Result<()> {
    log.write_all(line)?;
    if !line.ends_with(b"\n") {
        log.write_all(b"\n")?;
    }
    Ok(())
}

pub(super) fn open_log(state: &StateDir, name: &str) -> Result<(std::fs::File, u64)> {
    let path = state.log_path(name);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("could not open {}", path.display()))?;
    let offset = log.metadata()?.len();
    Ok((log, offset))
}

/// The status file an agent reports through (see `status.rs`), as the supervisor reads it:
/// written over (`echo waiting > $GIT_AGENT_STATUS_FILE`), it is one report; grown by
/// appended lines (`git agent notify` from inside a run), each new line is one, so that two
/// reports between two looks are both seen.
pub(super) struct StatusFile {
    path: PathBuf,
    stamp: Option<(SystemTime, u64)>,
    text: String,
}

impl StatusFile {
    /// Starts from what the file holds now (an earlier run's report is not a new one).
    pub(super) fn at(path: PathBuf) -> Self {
        let stamp = file_stamp(&path);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        Self { path, stamp, text }
    }

    /// The reports made since the last call.
    pub(super) fn reports(&mut self) -> Vec<(String, Option<String>)> {
        let stamp = file_stamp(&self.path);
        if stamp.is_none() || stamp == self.stamp {
            return Vec::new();
        }
        self.stamp = stamp;
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let appended = text
            .strip_prefix(self.text.as_str())
            .filter(|a| !a.is_empty() && (self.text.is_empty() || self.text.ends_with('\n')));
        let mut reports: Vec<_> = appended
            .map(|a| a.lines().filter_map(status::parse).collect())
            .unwrap_or_default();
        if reports.is_empty() {
            // Written over, or one report over several lines (pretty-printed JSON).
            reports.extend(status::parse(appended.unwrap_or(&text)));
        }
        self.text = text;
        reports
    }
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}
