//! The setup step of a new session: submodules, then the approved setup hook, in the new
//! worktree, before the agent's first run; sandboxed when the base commit is an agent's work.
//!
//! Owns the `setup` part of the record (`State::Setup`, its start, end and exit). It does
//! not record the session's end: a failed or stopped setup returns a `RunEnd` for `finish`.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::Result;

use super::RunEnd;
use super::env::command_env;
use super::run::{Sandboxed, sandbox_for};
use super::watch::{Follow, open_log, watch};
use crate::runner::{LaunchSpec, LocalRunner, Runner};
use crate::session::{Exit, Session, Setup, State};
use crate::state::StateDir;

/// Submodules, then the setup hook, in the new worktree; `Some(end)` if the session ends
/// here (setup failed or was stopped), `None` to go on to the agent.
pub(super) fn setup(
    state: &StateDir,
    session: &Session,
    signalled: &AtomicBool,
) -> Result<Option<RunEnd>> {
    let name = session.name.as_str();
    let Some(setup) = session.setup.clone() else {
        return Ok(None);
    };
    let (mut log, log_offset) = open_log(state, name)?;
    let now = crate::time::now();
    state.enter(name, State::Setup, setup.command.clone(), |s| {
        if let Some(st) = &mut s.setup {
            st.started_at = Some(now);
            st.log_offset = log_offset;
        }
    })?;
    let mut follow = Follow::new(state, session, &mut log, signalled);
    let plan = match plan(state, session, &setup) {
        Ok(plan) => plan,
        Err(reason) => return Ok(Some(RunEnd::ended(State::SetupFailed, &reason))),
    };
    let (ended, exit) = run_steps(&mut follow, plan)?;
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

/// What the setup runs, and how.
struct Plan {
    /// Each step: its name (for messages), program and arguments.
    steps: Vec<(String, PathBuf, Vec<String>)>,
    env: Vec<(String, String)>,
    /// The paths the sandbox allows (`None`: not sandboxed).
    sandbox: Option<Vec<PathBuf>>,
}

/// The steps of `setup`, their environment and their sandbox; or why the sandbox could not be
/// made (the setup then failed).
fn plan(state: &StateDir, session: &Session, setup: &Setup) -> std::result::Result<Plan, String> {
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
            Err(err) => return Err(format!("{err:#}")),
        }
    } else {
        None
    };
    Ok(Plan {
        steps,
        env,
        sandbox,
    })
}

/// Runs the steps of `plan` one after the other until one fails or is stopped: how the
/// setup ended if it did (`None`: it succeeded), and the exit of the last step that ran.
fn run_steps(follow: &mut Follow<'_>, plan: Plan) -> Result<(Option<RunEnd>, Option<Exit>)> {
    let session = follow.session;
    let Plan {
        steps,
        env,
        sandbox,
    } = plan;
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
        // The setup hook runs here, whatever runs the agent: it prepares the worktree.
        let watched = watch(
            follow,
            &LocalRunner,
            launched,
            |_, line| {
                if !line.trim().is_empty() {
                    line.trim().clone_into(&mut last_line);
                }
                Ok(true)
            },
            || Ok(None),
        )?;
        exit = watched.exit.as_ref().ok().copied();
        if let Some((_, reason)) = watched.stopped {
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
    Ok((ended, exit))
}

/// True if no ref of the user's (a branch outside the sessions' own folder, a remote-tracking
/// branch, a tag) holds the session's base commit: it is then an agent's work.
fn base_is_agents_work(state: &StateDir, session: &Session) -> bool {
    let common_dir = state.root().parent().unwrap_or(state.root());
    let Ok(out) = crate::git::command()
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
    let agents_folder = crate::sandbox::own_ref_folder(&session.branch, session.branch_ours())
        .map(|f| format!("refs/{}/", f.display()));
    !out.lines().any(|r| {
        let session_branch = r
            .strip_prefix("refs/heads/")
            .is_some_and(|b| sessions.iter().any(|s| s == b));
        let in_agents_folder = agents_folder.as_ref().is_some_and(|f| r.starts_with(f));
        !(session_branch || in_agents_folder)
    })
}
