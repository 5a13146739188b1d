//! `git-agent __supervise COMMON_DIR NAME`: the detached supervisor (internal; started by
//! `git agent new`), and the plan it belongs to advanced at its end.

use std::path::PathBuf;

use anyhow::Result;

use super::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository's common git directory
    pub common_dir: PathBuf,
    /// The session to supervise
    #[arg(value_parser = crate::cli::session_name)]
    pub name: String,
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let supervised = crate::supervisor::run(&args.common_dir, &args.name);
    // The session's end may be what its plan waits for: land it, start what can start.
    if let Ok(repo) = crate::git::repo::Repo::open_common(&args.common_dir)
        && let Err(err) = crate::ops::plan::drive::advance_for(&repo, &args.name)
    {
        // The supervisor's stderr is its log.
        writeln!(
            ctx.err,
            "could not advance the plan of {}: {err:#}",
            args.name
        )?;
    }
    supervised?;
    Ok(0)
}
