//! `git-agent __supervise COMMON_DIR NAME`: the detached supervisor (internal; started by
//! `git agent new`).

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

pub fn run(_ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    crate::supervisor::run(&args.common_dir, &args.name)?;
    Ok(0)
}
