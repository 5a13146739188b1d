//! The detached supervisor: one per session, started by `git agent new` (and `send`) as
//! `git-agent __supervise <common-dir> <name>`.
//!
//! It puts itself in a session of its own (so closing the terminal does not kill it) and runs
//! the session's last run through a [`Runner`]:
//! - records pid and start time, enforces `--timeout`, and turns SIGTERM/SIGINT/SIGHUP (which
//!   `git agent stop` sends it) into a graceful stop of the agent's whole process group;
//! - reads what the agent prints: every line goes to the session log unchanged, and stdout is
//!   parsed in the profile's format into the run's outcome (session id, turns, result, cost);
//! - watches `GIT_AGENT_STATUS_FILE` for `waiting`/`working`/`done` reports;
//! - after the agent exits: stops whatever it left running in its group, commits leftover
//!   changes, and records the end, or starts the next run if a follow-up was queued
//!   (`git agent send --queue`).
//!
//! If the supervisor itself is killed, nobody records an end: readers then derive `lost`
//! from its pid and start time (see `Session::live_state`).

use std::fs::OpenOptions;
use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result};
use nix::sys::signal::Signal;

use crate::agents::{self, Bindings};
use crate::commit;
use crate::error::Failure;
use crate::events::{self, Event, Outcome};
use crate::process::Cmd;
use crate::procs::ProcessRef;
use crate::runner::{LaunchSpec, LocalRunner, Runner};
use crate::session::{CommitOutcome, Exit, Run, RunKind, Session, State};
use crate::state::{Event as StateEvent, StateDir};
use crate::status;

/// How long leftover processes of an exited agent get between SIGTERM and SIGKILL.
const LEFTOVER_GRACE: Duration = Duration::from_secs(2);
/// How long to keep reading output held open by someone outside the agent's group.
const DRAIN: Duration = Duration::from_millis(500);
/// How often the supervisor checks for a timeout, a stop request or a status report.
const TICK: Duration = Duration::from_millis(50);
/// How often a changing outcome (turns, tokens) is written to the record.
const FLUSH: Duration = Duration::from_secs(1);
/// How long `new`/`send` wait for the supervisor to report that the agent runs.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the supervisor for session `name` until the agent has ended and the end is recorded.
pub fn run(common_dir: &Path, name: &str) -> Result<()> {
    // Already a group leader (not expected) makes setsid fail; we are detached enough then.
    let _ = nix::unistd::setsid();
    let signalled = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&signalled))
            .context("could not install signal handlers")?;
    }
    let state = StateDir::at(common_dir);
    let result = supervise(&state, name, &signalled);
    if let Err(err) = &result {
        // Record the failure rather than leave the session looking alive or lost.
        let reason = format!("supervisor error: {err:#}");
        let _ = state.update(name, |s| {
            if s.state.is_active() {
                s.state = State::Failed;
                s.reason = Some(reason.clone());
                s.ended_at = Some(crate::time::now());
            }
            Ok(())
        });
        let _ = state.append_event(&StateEvent::state(name, State::Failed, Some(reason)));
    }
    result
}

/// Starts the supervisor of `name` detached, its own output going to the session's
/// `supervisor.log`.
pub fn spawn(common_dir: &Path, name: &str, worktree: &Path) -> Result<Child> {
    let state = StateDir::at(common_dir);
    std::fs::create_dir_all(state.session_dir(name))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.supervisor_log_path(name))?;
    let exe = git_agent_exe()?;
    let mut cmd = Cmd::new(exe).arg("__supervise").arg(common_dir).arg(name);
    for var in crate::process::REPO_ENV {
        cmd = cmd.env_remove(var);
    }
    let dir = if worktree.is_dir() {
        worktree
    } else {
        common_dir
    };
    cmd.current_dir(dir).spawn(
        Stdio::null(),
        Stdio::from(log.try_clone()?),
        Stdio::from(log),
        false,
    )
}

/// The `git-agent` executable that supervises sessions: this process if it is `git-agent`,
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

/// Waits until the supervisor reports that the agent runs (or could not start).
pub fn wait_started(state: &StateDir, name: &str, mut child: Child) -> Result<Session> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let session = state.load(name)?;
        if session.state != State::Starting {
            let started = session.run().and_then(|r| r.started_at).is_some();
            if session.state == State::Failed && !started {
                return Err(Failure::fatal(format!(
                    "session '{}': {}",
                    session.name,
                    session
                        .reason
                        .clone()
                        .unwrap_or_else(|| "the agent did not start".into())
                ))
                .hint(format!(
                    "the worktree is kept at {}",
                    session.worktree.display()
                ))
                .into());
            }
            return Ok(session);
        }
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(state.supervisor_log_path(name)).unwrap_or_default();
            return Err(Failure::fatal(format!(
                "the supervisor of '{name}' exited before the agent started ({})",
                crate::process::describe_status(status)
            ))
            .hint(log.lines().last().unwrap_or("no diagnostics").to_owned())
            .into());
        }
        if Instant::now() >= deadline {
            return Err(Failure::fatal(format!(
                "the agent of '{name}' did not start within {}s",
                START_TIMEOUT.as_secs()
            ))
            .hint(format!("see 'git agent show {name}'"))
            .into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The environment every agent gets on top of its (scrubbed) inherited one.
pub fn agent_env(state: &StateDir, s: &Session, run: &Run) -> Vec<(String, String)> {
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let mut env = vec![
        ("GIT_AGENT_NAME".to_owned(), s.name.clone()),
        ("GIT_AGENT_WORKTREE".to_owned(), path(&s.worktree)),
        ("GIT_AGENT_REPO".to_owned(), path(&s.repo)),
        ("GIT_AGENT_BRANCH".to_owned(), s.branch.clone()),
        ("GIT_AGENT_BASE".to_owned(), s.base.commit.clone()),
        (
            "GIT_AGENT_BASE_REF".to_owned(),
            s.base.ref_name.clone().unwrap_or_default(),
        ),
        ("GIT_AGENT_PROMPT".to_owned(), run.prompt.clone()),
        (
            "GIT_AGENT_PROMPT_FILE".to_owned(),
            path(&state.run_prompt_path(&s.name, run.n)),
        ),
        ("GIT_AGENT_TASK".to_owned(), s.prompt.clone()),
        ("GIT_AGENT_RUN".to_owned(), run.n.to_string()),
        (
            "GIT_AGENT_STATUS_FILE".to_owned(),
            path(&state.status_path(&s.name)),
        ),
    ];
    // Tags what the agent (and the setup hook, which runs here too) starts; `exec` and
    // `run` leave it out (see `procs::TOKEN_VAR`).
    if let Some(token) = &s.run_token {
        env.push((crate::procs::TOKEN_VAR.to_owned(), token.clone()));
    }
    if let Some(g) = &s.group {
        env.push(("GIT_AGENT_GROUP".to_owned(), g.id.clone()));
        env.push(("GIT_AGENT_VARIANT".to_owned(), g.index.to_string()));
    }
    env.extend(crate::ports::env(&s.ports));
    env.extend(s.agent.env.iter().cloned());
    env
}

/// Builds the next run of a session for a follow-up `message`: the agent's own conversation
/// is resumed when the profile can, otherwise it gets the original task plus the message.
/// Writes the run's prompt file.
pub fn followup_run(state: &StateDir, s: &Session, message: &str, kind: RunKind) -> Result<Run> {
    let n = u32::try_from(s.runs.len())
        .unwrap_or(u32::MAX)
        .saturating_add(1);
    let prompt_file = state.run_prompt_path(&s.name, n);
    let session_id = s.agent_session_id.as_deref();
    let (prompt, template, resumed) = match agents::resume_template(&s.agent, session_id) {
        Some(template) => (message.to_owned(), template.to_vec(), true),
        None => (
            format!("{}\n\nFollow-up:\n{message}", s.prompt),
            s.agent.args.clone(),
            false,
        ),
    };
    std::fs::create_dir_all(state.session_dir(&s.name))?;
    std::fs::write(&prompt_file, format!("{prompt}\n"))
        .with_context(|| format!("could not write {}", prompt_file.display()))?;
    let args = agents::bind(
        &s.agent,
        &template,
        &Bindings {
            prompt: &prompt,
            prompt_file: &prompt_file,
            session_id,
        },
    );
    Ok(Run::new(n, kind, prompt, args, resumed))
}

/// Puts `run` in place as the session's next run, ready for a supervisor to start it.
pub fn prepare_next(s: &mut Session, run: Run) {
    s.runs.push(run);
    s.state = State::Starting;
    s.reason = None;
    s.exit = None;
    s.commit = None;
    s.started_at = None;
    s.ended_at = None;
    s.stop_requested = None;
    s.status = None;
}

/// Queued follow-ups, oldest first.
fn queued(state: &StateDir, name: &str) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(state.queue_dir(name)) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files
}

/// Adds a follow-up to the queue. Requires the state lock (the supervisor decides under the
/// same lock whether to deliver it or end the session).
pub fn enqueue(
    state: &StateDir,
    _lock: &crate::state::LockGuard,
    name: &str,
    message: &str,
) -> Result<usize> {
    let dir = state.queue_dir(name);
    std::fs::create_dir_all(&dir)?;
    let stamp = crate::time::now().as_nanosecond();
    std::fs::write(dir.join(format!("{stamp:032}.md")), message)?;
    Ok(queued(state, name).len())
}

/// Removes and returns the oldest queued follow-up.
fn dequeue(state: &StateDir, name: &str) -> Result<Option<String>> {
    let Some(path) = queued(state, name).into_iter().next() else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path)?;
    std::fs::remove_file(&path)?;
    Ok(Some(text))
}

/// Drops every queued follow-up (the user stopped the agent); returns how many.
fn drop_queue(state: &StateDir, name: &str) -> usize {
    let files = queued(state, name);
    for f in &files {
        let _ = std::fs::remove_file(f);
    }
    files.len()
}

/// Why the agent is being stopped.
struct Stopping {
    reason: String,
    kill_at: Instant,
    killed: bool,
}

/// What happened to a run.
struct RunEnd {
    state: State,
    reason: Option<String>,
    exit: Option<Exit>,
    outcome: Outcome,
}

impl RunEnd {
    /// An end without an exit (the agent never ran, or the setup failed).
    fn ended(state: State, reason: &str) -> Self {
        Self {
            state,
            reason: Some(reason.to_owned()),
            exit: None,
            outcome: Outcome::default(),
        }
    }
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

fn supervise(state: &StateDir, name: &str, signalled: &AtomicBool) -> Result<()> {
    let me = ProcessRef::current();
    let mut session = state.update(name, |s| {
        s.processes.supervisor = Some(me.clone());
        Ok(s.clone())
    })?;
    if session
        .setup
        .as_ref()
        .is_some_and(|s| s.started_at.is_none())
    {
        if let Some(end) = setup(state, &session, signalled)? {
            finish(state, name, end)?;
            return Ok(());
        }
        session = state.load(name)?;
    }
    loop {
        let end = run_once(state, &session, signalled)?;
        match finish(state, name, end)? {
            Some(next) => session = next,
            None => return Ok(()),
        }
    }
}

/// How a watched process ended.
struct Watched {
    exit: Result<Exit>,
    /// Why it was stopped, if it was.
    stopped: Option<String>,
}

/// Follows a launched process to its end: every output line goes to the log and to
/// `on_line` (`true` for stderr); a signal to the supervisor (`git agent stop`) or the
/// timeout stops the process group (SIGTERM, SIGKILL after the grace period); `on_tick` runs
/// every tick. After the process exits, what it left running in its group is stopped and
/// the rest of its output drained.
#[allow(clippy::too_many_arguments)]
fn watch(
    state: &StateDir,
    session: &Session,
    launched: crate::runner::Launched,
    log: &mut std::fs::File,
    signalled: &AtomicBool,
    timeout_at: Option<Instant>,
    mut on_line: impl FnMut(bool, &str) -> Result<()>,
    mut on_tick: impl FnMut() -> Result<()>,
) -> Result<Watched> {
    let name = session.name.as_str();
    let runner = LocalRunner;
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
                log.write_all(&line)?;
                if !line.ends_with(b"\n") {
                    log.write_all(b"\n")?;
                }
                on_line(is_err, &String::from_utf8_lossy(&line))?;
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
        on_tick()?;
        match &mut stopping {
            None => {
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
                if let Some(reason) = reason {
                    let grace = state
                        .load(name)?
                        .stop_requested
                        .map_or(session.stop_grace_secs, |r| r.grace_secs);
                    runner.signal(&process, Signal::SIGTERM);
                    stopping = Some(Stopping {
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
        stopped: stopping.map(|s| s.reason),
    })
}

fn open_log(state: &StateDir, name: &str) -> Result<(std::fs::File, u64)> {
    let path = state.log_path(name);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("could not open {}", path.display()))?;
    let offset = log.metadata()?.len();
    Ok((log, offset))
}

/// The environment of setup and run commands: the agent's, plus the names Kilo's run
/// script uses.
pub fn command_env(state: &StateDir, s: &Session) -> Vec<(String, String)> {
    let fallback;
    let run = match s.run() {
        Some(r) => r,
        None => {
            fallback = Run::new(1, RunKind::New, s.prompt.clone(), Vec::new(), false);
            &fallback
        }
    };
    let mut env = agent_env(state, s, run);
    env.push((
        "WORKTREE_PATH".to_owned(),
        s.worktree.to_string_lossy().into_owned(),
    ));
    env.push((
        "REPO_PATH".to_owned(),
        s.repo.to_string_lossy().into_owned(),
    ));
    env
}

/// Submodules, then the setup hook, in the new worktree; `Some(end)` if the session ends
/// here (setup failed or was stopped), `None` to go on to the agent.
fn setup(state: &StateDir, session: &Session, signalled: &AtomicBool) -> Result<Option<RunEnd>> {
    let name = session.name.as_str();
    let Some(setup) = session.setup.clone() else {
        return Ok(None);
    };
    let (mut log, log_offset) = open_log(state, name)?;
    let now = crate::time::now();
    state.update(name, |s| {
        s.state = State::Setup;
        if let Some(st) = &mut s.setup {
            st.started_at = Some(now);
            st.log_offset = log_offset;
        }
        Ok(())
    })?;
    state.append_event(&StateEvent::state(
        name,
        State::Setup,
        setup.command.clone(),
    ))?;
    let timeout_at = session
        .timeout_secs
        .map(|t| Instant::now() + Duration::from_secs(t));
    let mut steps: Vec<(String, PathBuf, Vec<String>)> = Vec::new();
    if setup.submodules {
        steps.push((
            "submodules".into(),
            PathBuf::from("git"),
            ["submodule", "update", "--init", "--recursive"]
                .map(str::to_owned)
                .to_vec(),
        ));
    }
    if let Some(cmd) = &setup.command {
        steps.push((
            "setup".into(),
            PathBuf::from("sh"),
            vec!["-c".into(), cmd.clone()],
        ));
    }
    let mut env = command_env(state, session);
    // The setup hook is approved text, but the files it runs (`./setup.sh`, npm's scripts)
    // are the base commit's: when no branch of the user's holds that commit (a session
    // started from an agent's branch), they are an agent's work and run in the sandbox.
    let sandbox = if base_is_agents_work(state, session) {
        match sandbox_for(state, session, crate::sandbox::Purpose::Command) {
            Ok(Sandboxed { writable, tmp, .. }) => {
                if writable.is_some() {
                    env.push(("TMPDIR".to_owned(), tmp.to_string_lossy().into_owned()));
                }
                writable
            }
            Err(err) => {
                return Ok(Some(RunEnd::ended(State::SetupFailed, &format!("{err:#}"))));
            }
        }
    } else {
        None
    };
    let mut ended: Option<RunEnd> = None;
    let mut last_line = String::new();
    let mut exit = None;
    for (step, program, args) in steps {
        let program = crate::process::resolve_program(program.as_os_str())?;
        let spec = LaunchSpec {
            program,
            args,
            cwd: session.worktree.clone(),
            env: env.clone(),
            stdin: None,
            sandbox: sandbox.clone(),
        };
        let launched = match LocalRunner.launch(&spec) {
            Ok(l) => l,
            Err(err) => {
                ended = Some(RunEnd::ended(
                    State::SetupFailed,
                    &format!("could not start the {step}: {err:#}"),
                ));
                break;
            }
        };
        let watched = watch(
            state,
            session,
            launched,
            &mut log,
            signalled,
            timeout_at,
            |_, line| {
                if !line.trim().is_empty() {
                    line.trim().clone_into(&mut last_line);
                }
                Ok(())
            },
            || Ok(()),
        )?;
        exit = watched.exit.as_ref().ok().copied();
        if let Some(reason) = watched.stopped {
            ended = Some(RunEnd::ended(State::Stopped, &reason));
            break;
        }
        match watched.exit {
            Ok(e) if e.code == Some(0) => {}
            Ok(e) => {
                let said = if last_line.is_empty() {
                    String::new()
                } else {
                    format!(": {last_line}")
                };
                ended = Some(RunEnd::ended(
                    State::SetupFailed,
                    &format!("{step} failed ({}){said}", e.describe()),
                ));
                break;
            }
            Err(err) => {
                ended = Some(RunEnd::ended(
                    State::SetupFailed,
                    &format!("{step} failed: {err:#}"),
                ));
                break;
            }
        }
    }
    let now = crate::time::now();
    state.update(name, |s| {
        if let Some(st) = &mut s.setup {
            st.ended_at = Some(now);
            st.exit = exit;
        }
        if ended.is_none() {
            s.state = State::Starting;
        }
        Ok(())
    })?;
    Ok(ended)
}

/// True if no ref of the user's (a branch outside the sessions' own folder, a remote-tracking
/// branch, a tag) holds the session's base commit: it is then an agent's work.
fn base_is_agents_work(state: &StateDir, session: &Session) -> bool {
    let common_dir = state.root().parent().unwrap_or(state.root());
    let Ok(out) = Cmd::git()
        .arg("--git-dir")
        .arg(common_dir)
        .args([
            "for-each-ref",
            "--format=%(refname)",
            "--contains",
            &session.base.commit,
            "refs/heads",
            "refs/remotes",
            "refs/tags",
        ])
        .run()
    else {
        return true;
    };
    let sessions: Vec<String> = state
        .load_all()
        .map(|l| l.sessions.into_iter().map(|s| s.branch).collect())
        .unwrap_or_default();
    let agents_folder = crate::sandbox::own_ref_folder(&session.branch, session.branch_created)
        .map(|f| format!("refs/{}/", f.display()));
    !out.lines().any(|r| {
        let session_branch = r
            .strip_prefix("refs/heads/")
            .is_some_and(|b| sessions.iter().any(|s| s == b));
        let in_agents_folder = agents_folder.as_ref().is_some_and(|f| r.starts_with(f));
        !(session_branch || in_agents_folder)
    })
}

/// Runs the session's last run to its end.
fn run_once(state: &StateDir, session: &Session, signalled: &AtomicBool) -> Result<RunEnd> {
    let name = session.name.as_str();
    let run = session
        .run()
        .cloned()
        .context("the session has no run to start")?;
    if session.stop_requested.is_some() || signalled.load(Ordering::SeqCst) {
        return Ok(RunEnd::ended(
            State::Stopped,
            "stopped before the agent started",
        ));
    }
    if !session.worktree.is_dir() {
        return Ok(RunEnd::ended(State::Failed, "the worktree is gone"));
    }
    let (mut log, log_offset) = open_log(state, name)?;
    let mut env = agent_env(state, session, &run);
    let mut args = run.args.clone();
    let (sandbox, in_force) = match sandbox_for(state, session, crate::sandbox::Purpose::Agent) {
        Ok(Sandboxed {
            writable,
            in_force,
            tmp,
        }) => {
            if writable.is_some() || in_force.kind == "agent" {
                // Its own temporary folder: the shared one may hold the repository.
                env.push(("TMPDIR".to_owned(), tmp.to_string_lossy().into_owned()));
            }
            if in_force.kind == "agent" {
                args = agents::narrow_own_sandbox(&session.agent, &args, &tmp);
            }
            (writable, in_force)
        }
        Err(err) => return Ok(RunEnd::ended(State::Failed, &format!("{err:#}"))),
    };
    let spec = LaunchSpec {
        program: session.agent.program.clone(),
        args,
        cwd: session.worktree.clone(),
        env,
        stdin: (session.agent.prompt_via == "stdin").then(|| state.run_prompt_path(name, run.n)),
        sandbox,
    };
    let spec_sandboxed = spec.sandbox.is_some();
    let launched = match LocalRunner.launch(&spec) {
        Ok(l) => l,
        Err(err) => {
            return Ok(RunEnd::ended(
                State::Failed,
                &format!("could not start the agent: {err:#}"),
            ));
        }
    };
    let agent = launched.process.clone();
    let now = crate::time::now();
    state.update(name, |s| {
        s.state = State::Running;
        s.started_at = Some(now);
        s.processes.agent = Some(agent.clone());
        s.sandbox.in_force = Some(in_force.clone());
        if let Some(r) = s.run_mut() {
            r.started_at = Some(now);
            r.log_offset = log_offset;
        }
        Ok(())
    })?;
    state.append_event(&StateEvent::state(
        name,
        State::Running,
        Some(format!("run {}, pid {}", run.n, agent.pid)),
    ))?;

    let format = session.agent.format;
    let status_path = state.status_path(name);
    let mut status_file = StatusFile::at(status_path);
    let timeout_at = session
        .timeout_secs
        .map(|t| Instant::now() + Duration::from_secs(t));
    let outcome = std::cell::RefCell::new(Outcome::default());
    // Inside the sandbox git cannot lock `packed-refs` (it lives beside `config` and `hooks/`,
    // which stay closed), and says so whenever it deletes a ref: a commit deletes
    // `AUTO_MERGE`. The commit succeeds; the complaint is kept in the log but is not what the
    // agent said (it would become its result, and a squash message).
    let sandbox_noise = format!(
        "error: Unable to create '{}': Permission denied",
        state
            .root()
            .parent()
            .unwrap_or(state.root())
            .join("packed-refs.lock")
            .display()
    );
    let (dirty, flush_now) = (std::cell::Cell::new(false), std::cell::Cell::new(false));
    let mut last_flush = Instant::now();
    let watched = watch(
        state,
        session,
        launched,
        &mut log,
        signalled,
        timeout_at,
        |is_err, text| {
            if spec_sandboxed && text.trim_end() == sandbox_noise {
                return Ok(());
            }
            let events = if is_err {
                events::parse_stderr_line(format, text)
            } else {
                events::parse_line(format, text)
            };
            for event in events {
                if outcome.borrow_mut().apply(&event) {
                    dirty.set(true);
                    flush_now.set(flush_now.get() || matches!(event, Event::Session(_)));
                }
            }
            Ok(())
        },
        || {
            if dirty.get() && (flush_now.get() || last_flush.elapsed() >= FLUSH) {
                flush_outcome(state, name, &outcome.borrow())?;
                dirty.set(false);
                flush_now.set(false);
                last_flush = Instant::now();
            }
            for (word, message) in status_file.reports() {
                status::report(state, name, &word, message)?;
            }
            Ok(())
        },
    )?;
    // A report made just before the agent exited is still recorded (as an event).
    for (word, message) in status_file.reports() {
        status::report(state, name, &word, message)?;
    }
    let mut outcome = outcome.into_inner();
    if matches!(watched.exit, Ok(Exit { code: Some(0), .. })) {
        events::end_of_stream(format, &mut outcome);
    }
    let (final_state, reason) = match (watched.stopped, &watched.exit) {
        (Some(reason), _) => (State::Stopped, Some(reason)),
        (None, Ok(e)) if e.code == Some(0) && outcome.ok != Some(false) => (State::Done, None),
        (None, Ok(e)) if e.code == Some(0) => (
            State::Failed,
            Some(
                outcome
                    .error
                    .clone()
                    .unwrap_or_else(|| "the agent reported an error".into()),
            ),
        ),
        (None, Ok(e)) => (
            State::Failed,
            Some(match &outcome.error {
                Some(err) => format!("{}: {err}", e.describe()),
                None => e.describe(),
            }),
        ),
        (None, Err(err)) => (State::Failed, Some(format!("{err:#}"))),
    };
    Ok(RunEnd {
        state: final_state,
        reason,
        exit: watched.exit.ok(),
        outcome,
    })
}

/// The sandbox of the session's next run (see `sandbox.rs`): the paths it may write, if
/// ours applies, and what to record. Makes the status file and the private temporary folder
/// exist, since a rule can only name what exists.
pub fn sandbox_for(
    state: &StateDir,
    session: &Session,
    purpose: crate::sandbox::Purpose,
) -> Result<Sandboxed> {
    let common_dir = state.root().parent().unwrap_or(state.root());
    let status_file = state.status_path(&session.name);
    if !status_file.exists() {
        std::fs::create_dir_all(state.session_dir(&session.name))?;
        std::fs::write(&status_file, "")?;
    }
    // `off` makes no folder: nothing of the sandbox may stand in the way of a run then.
    let tmp = if session.sandbox.setting == crate::sandbox::Setting::Off {
        std::env::temp_dir()
    } else {
        crate::sandbox::private_tmp(common_dir, &session.name)?
    };
    let (writable, in_force) =
        crate::sandbox::decide(common_dir, session, &status_file, &tmp, purpose)?;
    Ok(Sandboxed {
        writable,
        in_force,
        tmp,
    })
}

/// `cmd` (verify, run: commands that run what the agent may have written), made to run in
/// the session's sandbox with `dir` as its worktree, and with the private `TMPDIR`. Unchanged
/// when the session runs without one.
pub fn sandboxed_command(state: &StateDir, session: &Session, dir: &Path, cmd: Cmd) -> Result<Cmd> {
    let mut boxed = session.clone();
    dir.clone_into(&mut boxed.worktree);
    let Sandboxed { writable, tmp, .. } =
        sandbox_for(state, &boxed, crate::sandbox::Purpose::Command)?;
    match writable {
        Some(writable) => crate::sandbox::wrap(&cmd.env("TMPDIR", tmp), &writable),
        None => Ok(cmd),
    }
}

/// A run's sandbox: see [`sandbox_for`].
pub struct Sandboxed {
    /// The paths the trampoline allows (`None`: no sandbox of ours).
    pub writable: Option<Vec<PathBuf>>,
    pub in_force: crate::sandbox::InForce,
    /// The private temporary folder (the `TMPDIR` of a sandboxed run).
    pub tmp: PathBuf,
}

/// The status file an agent reports through (see `status.rs`), as the supervisor reads it:
/// written over (`echo waiting > $GIT_AGENT_STATUS_FILE`), it is one report; grown by
/// appended lines (`git agent notify` from inside a run), each new line is one, so that two
/// reports between two looks are both seen.
struct StatusFile {
    path: PathBuf,
    stamp: Option<(SystemTime, u64)>,
    text: String,
}

impl StatusFile {
    /// Starts from what the file holds now (an earlier run's report is not a new one).
    fn at(path: PathBuf) -> Self {
        let stamp = file_stamp(&path);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        Self { path, stamp, text }
    }

    /// The reports made since the last call.
    fn reports(&mut self) -> Vec<(String, Option<String>)> {
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

fn flush_outcome(state: &StateDir, name: &str, outcome: &Outcome) -> Result<()> {
    state.update(name, |s| {
        if let Some(id) = &outcome.session_id {
            s.agent_session_id = Some(id.clone());
        }
        if let Some(r) = s.run_mut() {
            r.outcome = outcome.clone();
        }
        Ok(())
    })
}

/// What the agent did, for the commit message: "finished", "failed (exit 1)"…
fn how(state: State, reason: Option<&str>) -> String {
    match (state, reason) {
        (State::Done, _) => "finished".into(),
        (State::Stopped, Some(r)) => format!("was stopped ({r})"),
        (State::Stopped, None) => "was stopped".into(),
        (_, Some(r)) => format!("failed ({r})"),
        (_, None) => "failed".into(),
    }
}

/// Records the end of the last run: commits leftovers, then, under the lock, either starts
/// the next queued follow-up (returning the session ready for it) or ends the session and
/// releases our worktree lock. Also used by `git agent stop` when the supervisor is gone.
fn finish(state: &StateDir, name: &str, end: RunEnd) -> Result<Option<Session>> {
    let session = state.load(name)?;
    let started = session.run().and_then(|r| r.started_at).is_some();
    let commit = if !session.auto_commit {
        CommitOutcome::Disabled
    } else if !started {
        CommitOutcome::Clean
    } else {
        commit::commit_leftovers(&session, &how(end.state, end.reason.as_deref()))
    };
    // A worktree whose git link the agent rewrote gets no git command of ours (the commit
    // above was skipped for the same reason, saying so).
    let common_dir = state.root().parent().unwrap_or(state.root());
    let linked = crate::sandbox::check_link(common_dir, &session.worktree).is_ok();
    if linked && session.worktree.is_dir() {
        // Our later reads (`list`, `--no-optional-locks`) never write the index, so refresh
        // its stat data once now, while nobody works in the worktree; otherwise every `list`
        // re-reads racily-clean files. Best effort: it only fails if someone holds the lock.
        let _ = Cmd::git_in(&session.worktree)
            .args(["update-index", "-q", "--refresh"])
            .output();
    }
    // What plain `list` shows from now on, without looking at the worktree.
    let snapshot = linked
        .then(|| crate::repo::Repo::open_common(common_dir))
        .and_then(|repo| {
            repo.and_then(|repo| crate::changes::of(&repo, &session))
                .ok()
        })
        .map(|c| crate::changes::Changes {
            at: Some(crate::time::now()),
            ..c
        });
    if let CommitOutcome::Committed { sha } = &commit {
        state.append_event(&StateEvent {
            detail: Some(sha.clone()),
            ..StateEvent::new(name, "committed")
        })?;
    }

    let lock = state.lock()?;
    let mut s = state.load(name)?;
    let now = crate::time::now();
    if let Some(id) = &end.outcome.session_id {
        s.agent_session_id = Some(id.clone());
    }
    if let Some(r) = s.run_mut() {
        r.ended_at = Some(now);
        r.state = Some(end.state);
        r.reason.clone_from(&end.reason);
        r.exit = end.exit;
        r.outcome = end.outcome.clone();
        r.commit = Some(commit.clone());
    }
    s.reason.clone_from(&end.reason);
    s.exit = end.exit;
    s.ended_at = Some(now);
    s.commit = Some(commit);
    if snapshot.is_some() {
        s.changes = snapshot;
    }

    let next = if end.state == State::Stopped {
        let dropped = drop_queue(state, name);
        if dropped > 0 {
            state.append_event(&StateEvent {
                detail: Some(format!(
                    "{dropped} queued follow-up(s) dropped: the agent was stopped"
                )),
                ..StateEvent::new(name, "queue-dropped")
            })?;
        }
        None
    } else {
        dequeue(state, name)?
    };
    if let Some(message) = next {
        let run = followup_run(state, &s, &message, RunKind::Send)?;
        let n = run.n;
        prepare_next(&mut s, run);
        state.write(&lock, &s)?;
        state.append_event(&StateEvent {
            detail: Some(format!("run {n}")),
            ..StateEvent::new(name, "follow-up")
        })?;
        return Ok(Some(s));
    }
    s.state = end.state;
    if s.worktree_locked {
        // Also when the checkout is gone: git keeps its entry, and our lock, until removed.
        let common_dir = state.root().parent().unwrap_or(state.root());
        if crate::worktree::unlock(common_dir, name, &s.worktree).unwrap_or(false)
            || !s.worktree.is_dir()
        {
            s.worktree_locked = false;
        }
    }
    // The event first: whoever sees the record end (`wait`) finds the event there too.
    state.append_event(&StateEvent::state(name, end.state, end.reason))?;
    state.write(&lock, &s)?;
    drop(lock);
    Ok(None)
}

/// Records the end of a session whose supervisor is gone (used by `git agent stop`).
pub fn finish_lost(state: &StateDir, name: &str, reason: &str) -> Result<()> {
    let end = RunEnd {
        state: State::Stopped,
        reason: Some(reason.to_owned()),
        exit: None,
        outcome: Outcome::default(),
    };
    let outcome = state
        .load(name)?
        .run()
        .map(|r| r.outcome.clone())
        .unwrap_or_default();
    finish(state, name, RunEnd { outcome, ..end })?;
    Ok(())
}
