//! The connection to a running plugin: what we send it (one writer, under a lock), and what
//! it says, read by one thread that feeds the agent's output to the pipes the supervisor
//! reads, records the exit and result, and asks for the result as soon as the agent exited.
//!
//! Invariant: our end of the plugin's stdin is closed once it answered `collect` (or said
//! `error`, or its stdout ended): that EOF is what tells a plugin the run is over.

use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};

use super::protocol::{self, FromPlugin, Stream, ToPlugin};
use crate::procs::ProcessRef;
use crate::session::Exit;

/// How long a plugin may take to hand back the work once asked.
const COLLECT_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a plugin may linger after its stdout closed before its group is killed.
const EXIT_GRACE: Duration = Duration::from_secs(10);

/// What we know of the run, and our end of the plugin's stdin.
#[derive(Default)]
pub(super) struct Shared {
    input: Mutex<Option<ChildStdin>>,
    report: Mutex<Report>,
    changed: Condvar,
}

#[derive(Default)]
struct Report {
    handle: Option<String>,
    exit: Option<Exit>,
    result: Option<PathBuf>,
    /// The first `error` the plugin said, or what we found wrong with it.
    error: Option<String>,
    /// The plugin's stdout ended.
    closed: bool,
}

impl Shared {
    pub(super) fn open(&self, input: ChildStdin) {
        *lock(&self.input) = Some(input);
    }

    /// Writes one message; false if the plugin no longer reads (or we closed its stdin).
    pub(super) fn send(&self, message: &ToPlugin) -> bool {
        let mut input = lock(&self.input);
        let Some(pipe) = input.as_mut() else {
            return false;
        };
        let ok = pipe
            .write_all(protocol::line(message).as_bytes())
            .and_then(|()| pipe.flush())
            .is_ok();
        if !ok {
            *input = None;
        }
        ok
    }

    /// Closes the plugin's stdin: the run is over for it.
    pub(super) fn close(&self) {
        lock(&self.input).take();
    }

    /// Closes the plugin's stdin unless a write to it is under way (one blocked on a plugin
    /// that does not read: killing the plugin ends it).
    pub(super) fn close_unless_busy(&self) {
        if let Ok(mut input) = self.input.try_lock() {
            input.take();
        }
    }

    /// Waits for `started`: the handle, or why the plugin will not start.
    pub(super) fn started(&self, timeout: Duration) -> std::result::Result<String, String> {
        let deadline = Instant::now() + timeout;
        let mut report = lock(&self.report);
        loop {
            if let Some(handle) = &report.handle {
                return Ok(handle.clone());
            }
            if let Some(error) = &report.error {
                return Err(error.clone());
            }
            if report.closed {
                return Err("it ended without saying 'started'".into());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "it did not say 'started' within {}s",
                    timeout.as_secs()
                ));
            }
            report = self
                .changed
                .wait_timeout(report, left)
                .map_or_else(|e| e.into_inner().0, |(r, _)| r);
        }
    }

    /// (The agent exited, the plugin's stdout ended.)
    pub(super) fn phase(&self) -> (bool, bool) {
        let report = lock(&self.report);
        (report.exit.is_some(), report.closed)
    }

    /// The result bundle, and the error the plugin reported.
    pub(super) fn outcome(&self) -> (Option<PathBuf>, Option<String>) {
        let report = lock(&self.report);
        (report.result.clone(), report.error.clone())
    }

    fn with_report(&self, f: impl FnOnce(&mut Report)) {
        f(&mut lock(&self.report));
        self.changed.notify_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The agent's output as the supervisor reads it, and the thread that feeds it.
pub(super) struct Streams {
    pub(super) stdout: std::io::PipeReader,
    pub(super) stderr: std::io::PipeReader,
    pub(super) follower: Mutex<Option<JoinHandle<()>>>,
}

/// Starts reading what the plugin says (its messages on `output`, its own diagnostics on
/// `diagnostics`, passed on as the agent's stderr with the plugin's name in front).
pub(super) fn follow(
    shared: &Arc<Shared>,
    (label, group): (&str, &ProcessRef),
    output: ChildStdout,
    diagnostics: ChildStderr,
) -> Result<Streams> {
    let (stdout, out_w) = std::io::pipe()?;
    let (stderr, err_w) = std::io::pipe()?;
    let diag_w = err_w.try_clone()?;
    let prefix = format!("{label}: ");
    std::thread::spawn(move || pass_on(diagnostics, diag_w, &prefix));
    let (shared, label, group) = (Arc::clone(shared), label.to_owned(), group.clone());
    let follower =
        std::thread::spawn(move || read_messages(&shared, (&label, &group), output, out_w, err_w));
    Ok(Streams {
        stdout,
        stderr,
        follower: Mutex::new(Some(follower)),
    })
}

/// Copies the plugin's own stderr, line by line, with `prefix`.
fn pass_on(from: impl Read, mut to: std::io::PipeWriter, prefix: &str) {
    for line in BufReader::new(from)
        .split(b'\n')
        .map_while(std::result::Result::ok)
    {
        let text = String::from_utf8_lossy(&line);
        if writeln!(to, "{prefix}{text}").is_err() {
            return;
        }
    }
}

/// Reads the plugin's messages until its stdout ends (see the module doc).
fn read_messages(
    shared: &Arc<Shared>,
    (label, group): (&str, &ProcessRef),
    from: ChildStdout,
    mut out: std::io::PipeWriter,
    mut err: std::io::PipeWriter,
) {
    for line in BufReader::new(from)
        .split(b'\n')
        .map_while(std::result::Result::ok)
    {
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        let message = match serde_json::from_str::<FromPlugin>(&text) {
            Ok(m) => m,
            Err(e) => {
                // Kept in the log, where the user looks for what went wrong.
                let _ = writeln!(err, "{label}: not a protocol message ({e}): {text}");
                continue;
            }
        };
        match message {
            FromPlugin::Hello { version } if version != protocol::VERSION => {
                fail(
                    shared,
                    format!(
                        "it speaks protocol version {version}, this git-agent speaks {}",
                        protocol::VERSION
                    ),
                );
            }
            FromPlugin::Hello { .. } | FromPlugin::Unknown => {}
            FromPlugin::Started { handle } => shared.with_report(|r| r.handle = Some(handle)),
            FromPlugin::Output { stream, line } => {
                let to = if stream == Stream::Stdout {
                    &mut out
                } else {
                    &mut err
                };
                let _ = writeln!(to, "{line}");
            }
            FromPlugin::Exited { code, signal } => {
                shared.with_report(|r| r.exit = Some(Exit { code, signal }));
                ask_for_result(shared, group);
            }
            FromPlugin::Result { bundle } => {
                shared.with_report(|r| r.result = Some(bundle));
                shared.close();
            }
            FromPlugin::Error { message } => fail(shared, message),
        }
    }
    shared.close();
    shared.with_report(|r| r.closed = true);
}

/// Records the plugin's error (the first one counts) and ends the run for it.
fn fail(shared: &Shared, message: String) {
    shared.with_report(|r| {
        r.error.get_or_insert(message);
    });
    shared.close();
}

/// Sends `collect`; a plugin that does not answer in time is told the run is over (its
/// stdin closed) and its group stopped, so `wait` cannot hang on it.
fn ask_for_result(shared: &Arc<Shared>, group: &ProcessRef) {
    if !shared.send(&ToPlugin::Collect) {
        return;
    }
    let (shared, group) = (Arc::clone(shared), group.clone());
    std::thread::spawn(move || {
        let deadline = Instant::now() + COLLECT_TIMEOUT;
        let mut report = lock(&shared.report);
        while report.result.is_none() && report.error.is_none() && !report.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                drop(report);
                fail(
                    &shared,
                    format!(
                        "it did not hand back the work within {}s",
                        COLLECT_TIMEOUT.as_secs()
                    ),
                );
                group.terminate_group(EXIT_GRACE);
                return;
            }
            report = shared
                .changed
                .wait_timeout(report, left)
                .map_or_else(|e| e.into_inner().0, |(r, _)| r);
        }
    });
}

/// Blocks until the plugin is gone; the agent's exit as the plugin reported it.
pub(super) fn wait(
    shared: &Shared,
    label: &str,
    mut child: Child,
    follower: &Mutex<Option<JoinHandle<()>>>,
) -> Result<Exit> {
    let group = ProcessRef::of_child(child.id());
    if let Some(thread) = lock(follower).take() {
        let _ = thread.join();
    }
    // Its stdout is closed: it is on its way out, or stuck; it may not hold the run open.
    let deadline = Instant::now() + EXIT_GRACE;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            group.signal_group(nix::sys::signal::Signal::SIGKILL);
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let report = lock(&shared.report);
    match (&report.exit, &report.error) {
        (Some(exit), _) => Ok(*exit),
        (None, Some(error)) => Err(anyhow!("{label}: {error}")),
        (None, None) => Err(anyhow!(
            "{label} ended ({}) without reporting the agent's exit",
            crate::process::describe_status(status)
        )),
    }
}
