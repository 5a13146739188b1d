//! `git-agent-runner-testplug`: a runner plugin for the tests only (built with the
//! `test-fakes` feature). It speaks protocol version 1 (git-agent(1), RUNNER PLUGINS) and runs
//! the agent on this machine, but in a clone of its own, as a remote plugin would:
//!
//! - `start`: clones the bundle into a fresh temporary folder (never the worktree), checks
//!   out the branch, runs `argv` there in a process group of its own with exactly the
//!   spec's environment (plus `PATH` and `HOME`, which a machine gives its programs), and
//!   streams its output as `output` messages;
//! - `signal`: passes TERM or KILL to the agent's group;
//! - when the agent ends: commits what it left uncommitted, says `exited`; on `collect`
//!   writes the result bundle and says `result`;
//! - stdin ending (the supervisor is gone), or a SIGTERM to it, while the agent runs: stops it, commits the
//!   leftovers and writes the result bundle anyway, then exits.
//!
//! For the tests, `GIT_AGENT_TESTPLUG_RESULT=garbage` (in its own environment) makes it
//! write garbage instead of a bundle (`then-error`: the bundle, then an `error` instead of
//! `result`), `GIT_AGENT_TESTPLUG_REFUSE=WHY` makes it answer `start`
//! with that error, and `GIT_AGENT_TESTPLUG_LOG=FILE` appends every message
//! it receives to FILE.

#![allow(clippy::disallowed_methods)] // a test tool, not part of the product

use std::io::{BufRead as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

enum Event {
    Host(Value),
    HostGone,
    AgentExited(Option<i32>, Option<i32>),
}

type Out = Arc<Mutex<std::io::Stdout>>;

fn say(out: &Out, message: &Value) {
    let mut out = out.lock().unwrap();
    let _ = writeln!(out, "{message}");
    let _ = out.flush();
}

fn main() {
    let out: Out = Arc::new(Mutex::new(std::io::stdout()));
    let (tx, rx) = mpsc::channel();
    read_host(tx.clone());
    // A TERM to us (the host stopping what is left of a lost supervisor's run) is the
    // same as our stdin ending: the agent goes first.
    let term = tx.clone();
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM]).unwrap();
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = term.send(Event::HostGone);
        }
    });
    let Some(Event::Host(hello)) = rx.recv().ok() else {
        return;
    };
    if hello["type"] != "hello" || hello["version"] != 1 {
        say(
            &out,
            &json!({"type": "error", "message": "expected hello, version 1"}),
        );
        return;
    }
    say(&out, &json!({"type": "hello", "version": 1}));
    let Some(Event::Host(start)) = rx.recv().ok() else {
        return;
    };
    let room = std::env::temp_dir().join(format!("testplug-{}", std::process::id()));
    let work = room.join("work");
    let code = match run(&out, &start, &work, &tx, &rx) {
        Ok(()) => 0,
        Err(message) => {
            say(&out, &json!({"type": "error", "message": message}));
            // The host closes our stdin after an error.
            while let Ok(Event::Host(_)) = rx.recv() {}
            1
        }
    };
    let _ = std::fs::remove_dir_all(&room);
    std::process::exit(code);
}

/// Reads the host's messages (and its end) into the event channel.
fn read_host(tx: Sender<Event>) {
    let log = std::env::var_os("GIT_AGENT_TESTPLUG_LOG");
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if let Some(log) = &log {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .unwrap();
                let _ = writeln!(f, "{line}");
            }
            match serde_json::from_str(&line) {
                Ok(v) => {
                    let _ = tx.send(Event::Host(v));
                }
                Err(_) => continue,
            }
        }
        let _ = tx.send(Event::HostGone);
    });
}

fn run(
    out: &Out,
    start: &Value,
    work: &Path,
    tx: &Sender<Event>,
    rx: &Receiver<Event>,
) -> Result<(), String> {
    if start["type"] != "start" {
        return Err("expected start".into());
    }
    if let Ok(why) = std::env::var("GIT_AGENT_TESTPLUG_REFUSE") {
        return Err(why);
    }
    let text = |key: &str| start[key].as_str().unwrap_or_default().to_owned();
    let (branch, bundle, result) = (
        text("branch"),
        text("bundle"),
        PathBuf::from(text("result")),
    );
    git(
        None,
        &[
            "clone",
            "--quiet",
            "--branch",
            &branch,
            &bundle,
            &work.to_string_lossy(),
        ],
    )?;
    let agent = spawn_agent(out, start, work, tx)?;
    say(
        out,
        &json!({"type": "started", "handle": format!("testplug-{}", std::process::id())}),
    );
    let group = Pid::from_raw(i32::try_from(agent.id).unwrap());
    let mut exited = None;
    loop {
        match rx.recv() {
            Ok(Event::Host(m)) if m["type"] == "signal" => {
                let sig = if m["signal"] == "KILL" {
                    Signal::SIGKILL
                } else {
                    Signal::SIGTERM
                };
                let _ = killpg(group, sig);
            }
            Ok(Event::Host(m)) if m["type"] == "collect" && exited.is_some() => {
                write_result(work, &branch, &result)?;
                if std::env::var("GIT_AGENT_TESTPLUG_RESULT").as_deref() == Ok("then-error") {
                    return Err("the cluster lost the job's status".into());
                }
                say(out, &json!({"type": "result", "bundle": result}));
            }
            Ok(Event::Host(_)) => {}
            Ok(Event::AgentExited(code, signal)) => {
                for t in agent.streams.lock().unwrap().drain(..) {
                    let _ = t.join();
                }
                commit_leftovers(work)?;
                exited = Some(());
                say(
                    out,
                    &json!({"type": "exited", "code": code, "signal": signal}),
                );
            }
            Ok(Event::HostGone) | Err(_) => {
                if exited.is_none() {
                    // The supervisor is gone: the run ends with it, nothing it made is lost.
                    stop_group(group);
                    let _ = rx.recv_timeout(std::time::Duration::from_secs(5));
                    commit_leftovers(work)?;
                    write_result(work, &branch, &result)?;
                }
                return Ok(());
            }
        }
    }
}

fn stop_group(group: Pid) {
    let _ = killpg(group, Signal::SIGTERM);
    for _ in 0..100 {
        if killpg(group, None).is_err() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = killpg(group, Signal::SIGKILL);
}

struct Agent {
    id: u32,
    streams: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

/// Starts the agent in its own process group, in `work`, with the spec's environment.
fn spawn_agent(out: &Out, start: &Value, work: &Path, tx: &Sender<Event>) -> Result<Agent, String> {
    let argv: Vec<String> = start["argv"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let (program, args) = argv.split_first().ok_or("no argv")?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(work)
        .env_clear()
        .process_group(0);
    for key in ["PATH", "HOME"] {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    if let Some(env) = start["env"].as_object() {
        for (k, v) in env {
            cmd.env(k, v.as_str().unwrap_or_default());
        }
    }
    cmd.env("PWD", work);
    let stdin = match start["stdin"].as_str() {
        Some(path) => Stdio::from(std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?),
        None => Stdio::null(),
    };
    let mut child = cmd
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {program}: {e}"))?;
    let mut streams = Vec::new();
    for (pipe, name) in [
        (
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            "stdout",
        ),
        (Box::new(child.stderr.take().unwrap()), "stderr"),
    ] {
        let out = Arc::clone(out);
        streams.push(std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                say(
                    &out,
                    &json!({"type": "output", "stream": name, "line": line}),
                );
            }
        }));
    }
    let id = child.id();
    let tx = tx.clone();
    std::thread::spawn(move || {
        use std::os::unix::process::ExitStatusExt as _;
        let status = child.wait().ok();
        let _ = tx.send(Event::AgentExited(
            status.and_then(|s| s.code()),
            status.and_then(|s| s.signal()),
        ));
    });
    Ok(Agent {
        id,
        streams: Mutex::new(streams),
    })
}

/// Commits what the agent left uncommitted, as git-agent's own auto-commit does.
fn commit_leftovers(work: &Path) -> Result<(), String> {
    let status = git(Some(work), &["status", "--porcelain"])?;
    if status.trim().is_empty() {
        return Ok(());
    }
    git(Some(work), &["add", "-A"])?;
    git(
        Some(work),
        &[
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            "Leftovers of the agent's run",
        ],
    )?;
    Ok(())
}

fn write_result(work: &Path, branch: &str, result: &Path) -> Result<(), String> {
    if std::env::var("GIT_AGENT_TESTPLUG_RESULT").as_deref() == Ok("garbage") {
        return std::fs::write(result, "this is not a bundle\n").map_err(|e| e.to_string());
    }
    let refname = format!("refs/heads/{branch}");
    git(
        Some(work),
        &[
            "bundle",
            "create",
            "--quiet",
            &result.to_string_lossy(),
            &refname,
        ],
    )?;
    Ok(())
}

fn git(dir: Option<&Path>, args: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("git");
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let output = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("git: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
