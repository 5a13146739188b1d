//! `git agent notify <waiting|working|done> [MESSAGE]`: an agent (or one of its hooks) tells
//! what it is doing. Run inside the agent's worktree, it finds the session by
//! `GIT_AGENT_NAME` or by the worktree; `--session` names it explicitly.

use std::path::Path;

use anyhow::Result;

use super::Ctx;
use crate::error::Failure;
use crate::git::repo::Repo;
use crate::session::State;
use crate::state::status;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
For Claude Code, two hooks in the worktree's .claude/settings.json (or your own settings)
report waiting for input and the end of a turn:
  {\"hooks\": {\"Notification\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"git agent notify waiting\"}]}],
             \"Stop\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"git agent notify done\"}]}]}}")]
pub struct Args {
    /// waiting (needs the user), working, or done
    #[arg(value_name = "STATE")]
    pub state: String,
    /// Why, in a few words
    #[arg(value_name = "MESSAGE")]
    pub message: Vec<String>,
    /// The session [default: $GIT_AGENT_NAME, else the session of this worktree]
    #[arg(long, value_name = "NAME", value_parser = crate::cli::session_name)]
    pub session: Option<String>,
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    status::validate(&args.state)?;
    let repo = ctx.repo()?;
    let state = repo.state();
    let name = match args.session.or_else(|| {
        std::env::var("GIT_AGENT_NAME")
            .ok()
            .filter(|n| !n.is_empty())
    }) {
        Some(name) => name,
        None => session_of_worktree(&repo, &ctx.cwd)?,
    };
    let message = (!args.message.is_empty()).then(|| args.message.join(" "));
    // From inside its own run (a sandboxed agent cannot take the state lock), the report goes
    // through the status file the supervisor watches: the same effect, within 50 ms.
    if let Ok(file) = std::env::var("GIT_AGENT_STATUS_FILE")
        && std::env::var("GIT_AGENT_NAME").is_ok_and(|n| n == name)
        && std::path::Path::new(&file).starts_with(state.session_dir(&name))
    {
        use std::io::Write as _;
        // Keys in the order `json!` gave them (sorted): the line is as it always was.
        #[derive(serde::Serialize)]
        struct Line<'a> {
            message: Option<&'a str>,
            state: &'a str,
        }
        let line = serde_json::to_string(&Line {
            message: message.as_deref(),
            state: &args.state,
        })?;
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()))
            .map_err(|e| Failure::fatal(format!("could not write {file}: {e}")))?;
        return Ok(0);
    }
    state.load(&name)?;
    // A report about an ended session changes nothing, and is not an error: hooks fire late.
    if status::report(&state, &name, &args.state, message.clone())? == Some(State::Waiting) {
        // Recorded here, not by the supervisor: the user is told from here.
        crate::notify::session_entered(&state, &name, State::Waiting, message.as_deref());
    }
    Ok(0)
}

fn session_of_worktree(repo: &Repo, cwd: &Path) -> Result<String> {
    let here = std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_owned());
    let listing = repo.state().load_all()?;
    listing
        .sessions
        .into_iter()
        .find(|s| {
            here.starts_with(
                std::fs::canonicalize(&s.worktree).unwrap_or_else(|_| s.worktree.clone()),
            )
        })
        .map(|s| s.name)
        .ok_or_else(|| {
            Failure::fatal("not inside an agent session's worktree")
                .hint("name the session with --session NAME")
                .into()
        })
}
