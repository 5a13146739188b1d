//! Step 5 of a merge: `--verify` runs the verify command where the result was built, on
//! exactly what will land, before the target moves. A failure refuses the merge (exit 1).
//!
//! Runs the command and reports it; never moves a ref or puts a worktree back (the caller,
//! which built the result, does).

use std::path::Path;

use anyhow::Result;
use git_agent::commands::Ctx;
use git_agent::git::repo::Repo;
use git_agent::ops::verify;
use git_agent::session::Session;

use super::{Options, Refused};

/// The verify command and where it was configured.
pub(super) type Command = (String, &'static str);

/// With `--verify`: the command to run, trusted first (it may prompt).
pub(super) fn command(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    s: &Session,
    opts: &Options,
) -> Result<Option<Command>> {
    if !opts.verify {
        return Ok(None);
    }
    Ok(Some(verify::command(repo, s, |c| {
        ctx.ensure_trusted(repo, c, opts.trust, None)
    })?))
}

/// Runs the verify command on what will land; an error (exit 1) if it fails.
pub(super) fn verify_here(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    s: &Session,
    dir: &Path,
    command: &Command,
) -> Result<Option<Refused>> {
    writeln!(ctx.err, "Verifying the result: {}", command.0)?;
    let err = &mut *ctx.err;
    let v = verify::run(&repo.state(), s, dir, &command.0, command.1, |line| {
        let _ = writeln!(err, "  {line}");
    })?;
    writeln!(ctx.err, "{}", verify::summary(&s.name, &v))?;
    if v.passed {
        return Ok(None);
    }
    Ok(Some(Refused {
        session: s.name.clone(),
        into: String::new(),
        why: format!(
            "verify failed on the merged result ({})",
            v.exit.map_or_else(|| "?".into(), |e| e.describe())
        ),
        paths: Vec::new(),
        hints: vec![format!(
            "see the output with: git agent show {}; nothing was merged",
            s.name
        )],
    }))
}
