//! `git agent path NAME`: the session's worktree path, for `cd "$(git agent path NAME)"`
//! (a subcommand cannot change its shell's directory).

use anyhow::Result;

use super::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The session
    #[arg(value_name = "NAME", value_parser = crate::cli::session_name)]
    pub name: String,
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = ctx.repo()?;
    let s = repo.state().load(&args.name)?;
    writeln!(ctx.out, "{}", s.worktree.display())?;
    if !s.worktree.is_dir() {
        ctx.warn(&format!("{} does not exist any more", s.worktree.display()))?;
        return Ok(crate::error::code::NEGATIVE);
    }
    Ok(0)
}
