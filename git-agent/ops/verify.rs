//! The project's verify command (tests, lint) in a session's worktree, its result recorded in
//! the session (`list`, `show` and `review --compare` show it): `review --verify`, and
//! `merge --verify` on the merged result before the target moves.
//!
//! The command is git config `agent.verify`, else `verify` in `.git-agent.toml` at the
//! session's base commit (approved by the user, like setup hooks). It runs with `sh -c` in the
//! worktree with the session's environment, inside the session's write sandbox (the tests it
//! runs are the agent's work: see `crate::sandbox`). A session whose agent is still running is not
//! verified: the result would describe a moving target.

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Instant;

use std::path::Path;

use anyhow::Result;

use crate::error::Failure;
use crate::git::repo::Repo;
use crate::process::Cmd;
use crate::project::{ProjectCommand, ProjectFile};
use crate::session::{Exit, Session, Verify};
use crate::state::{Event, StateDir};

/// Lines of output kept in the record.
const TAIL: usize = 20;

/// The verify command for a session and where it comes from. One from the repository is
/// returned only once `approve` let it run (the caller asks the user: the library never
/// prompts).
pub fn command(
    repo: &Repo,
    s: &Session,
    approve: impl FnOnce(&[ProjectCommand]) -> Result<()>,
) -> Result<(String, &'static str)> {
    if let Some(cmd) = repo
        .config()
        .string("agent.verify")
        .filter(|c| !c.trim().is_empty())
    {
        return Ok((cmd, "config"));
    }
    let project = ProjectFile::at_commit(repo.gix(), &s.base.commit)?;
    let Some(cmd) = project
        .and_then(|p| p.verify)
        .filter(|c| !c.trim().is_empty())
    else {
        return Err(Failure::fatal("there is no verify command")
            .hint("set one with: git config agent.verify \"cargo test\"")
            .hint("or add verify = \"…\" to .git-agent.toml")
            .into());
    };
    approve(&[ProjectCommand::new("verify", cmd.clone())])?;
    Ok((cmd, "project"))
}

/// Refuses to verify a worktree an agent is still changing.
pub fn check_ready(s: &Session) -> Result<()> {
    use crate::session::State;
    let live = s.live_state();
    if matches!(live, State::Starting | State::Setup | State::Running) {
        return Err(Failure::fatal(format!(
            "the agent of '{}' is still running ({live})",
            s.name
        ))
        .hint(format!(
            "verify once it ends: git agent wait {0} && git agent review {0} --verify",
            s.name
        ))
        .into());
    }
    if !s.worktree.is_dir() {
        return Err(Failure::fatal(format!(
            "the worktree of '{}' is gone; there is nothing to verify",
            s.name
        ))
        .into());
    }
    crate::git::link::guard(s)
}

/// Runs the verify command in `dir` (the session's worktree, or where a merge result is being
/// prepared) with the session's environment; `echo` receives each output line as it comes
/// (to show it live), and the result is recorded in the session.
pub fn run(
    state: &StateDir,
    s: &Session,
    dir: &Path,
    command: &str,
    source: &str,
    mut echo: impl FnMut(&str),
) -> Result<Verify> {
    let mut cmd = Cmd::new("sh")
        .args(["-c", command])
        .current_dir(dir)
        .scrub_for_agent();
    for (k, v) in crate::supervisor::command_env(state, s) {
        cmd = cmd.env(k, v);
    }
    // The tests it runs are the agent's work: they get the agent's sandbox.
    let cmd = crate::supervisor::sandboxed_command(state, s, dir, cmd)?;
    let started = Instant::now();
    let mut child = cmd.spawn(Stdio::null(), Stdio::piped(), Stdio::piped(), true)?;
    let (tx, rx) = mpsc::channel::<String>();
    let mut readers = Vec::new();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    let mut tail: VecDeque<String> = VecDeque::new();
    for line in rx {
        echo(&line);
        if tail.len() == TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    let status = child.wait()?;
    for r in readers {
        let _ = r.join();
    }
    use std::os::unix::process::ExitStatusExt as _;
    let head = Cmd::git_in(dir)
        .args(["rev-parse", "HEAD"])
        .run()
        .ok()
        .map(|h| h.trim().to_owned());
    let verify = Verify {
        command: command.to_owned(),
        source: source.to_owned(),
        passed: status.success(),
        exit: Some(Exit {
            code: status.code(),
            signal: status.signal(),
        }),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        at: crate::time::now(),
        tail: tail.into_iter().collect(),
        head,
    };
    state.update(&s.name, |r| {
        r.verify = Some(verify.clone());
        Ok(())
    })?;
    let outcome = if verify.passed { "passed" } else { "failed" };
    state.append_event(&Event {
        detail: Some(outcome.into()),
        ..Event::new(&s.name, "verify")
    })?;
    Ok(verify)
}

/// `fix-login: verify passed in 12s`.
pub fn summary(name: &str, v: &Verify) -> String {
    let took = crate::time::format_duration(std::time::Duration::from_millis(v.duration_ms));
    if v.passed {
        format!("{name}: verify passed in {took}")
    } else {
        let exit = v
            .exit
            .map_or_else(String::new, |e| format!(" ({})", e.describe()));
        format!("{name}: verify FAILED{exit} in {took}")
    }
}
