//! Commands in the foreground in a session's worktree, with its environment: `git agent run`
//! (the project's run script, or a command: the agent's work, so in its write sandbox) and
//! `git agent exec` (the user's own way in, outside it). The exit status passes through.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Result;

use crate::error::Failure;
use crate::process::Cmd;
use crate::session::Session;
use crate::state::StateDir;

/// A session whose worktree is there to run things in.
pub fn session_with_worktree(state: &StateDir, name: &str) -> Result<Session> {
    let s = state.load(name)?;
    if !s.worktree.is_dir() {
        return Err(Failure::fatal(format!(
            "the worktree of '{name}' is gone: {}",
            s.worktree.display()
        ))
        .into());
    }
    Ok(s)
}

/// Runs `cmd` in the foreground in the session's worktree with its environment (but not
/// the agent's run token), passing the exit status through; `sandboxed`: in the session's
/// write sandbox (`run` starts the agent's work; `exec` is the user's own way in). Signals
/// meant for the command (Ctrl-C) do not stop us first.
pub fn run(state: &StateDir, s: &Session, cmd: Cmd, sandboxed: bool) -> Result<u8> {
    let mut cmd = cmd.current_dir(&s.worktree).scrub_for_agent();
    // Without the agent's run token: what the user starts here is theirs, and `rm` or
    // `doctor --reap` never stop it.
    for (k, v) in crate::supervisor::command_env(state, s) {
        if k != crate::procs::TOKEN_VAR {
            cmd = cmd.env(k, v);
        }
    }
    if sandboxed {
        cmd = crate::supervisor::sandboxed_command(state, s, &s.worktree, cmd)?;
    }
    let ignored = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGQUIT,
        signal_hook::consts::SIGTERM,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&ignored))?;
    }
    let status = cmd.status_interactive()?;
    use std::os::unix::process::ExitStatusExt as _;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(sig)) => u8::try_from((128 + sig) & 0xff).unwrap_or(1),
        (None, None) => 1,
    })
}

/// The program of a command line given in `cwd`: a relative path (`./dev.sh`, `bin/x`) made
/// absolute, since it runs in the worktree; a bare name is looked up on PATH as it is.
pub fn program(cwd: &Path, program: &str) -> String {
    if program.contains('/') && Path::new(program).is_relative() {
        cwd.join(program).to_string_lossy().into_owned()
    } else {
        program.to_owned()
    }
}
