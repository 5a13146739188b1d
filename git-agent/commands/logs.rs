//! `git agent logs NAME [-f]`: the agent's output; `-f` follows it until the agent ends.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::time::Duration;

use anyhow::Result;

use super::Ctx;
use crate::repo::Repo;
use crate::ui;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The session
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Keep printing new output until the agent ends
    #[arg(short, long)]
    pub follow: bool,
    /// Start with the last N lines only
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<usize>,
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = Repo::discover(&ctx.cwd)?;
    let state = repo.state();
    state.load(&args.name)?; // the session must exist
    let path = state.log_path(&args.name);

    let mut offset = 0u64;
    if let Some(n) = args.tail {
        let text = std::fs::read(&path).unwrap_or_default();
        offset = text.len() as u64;
        for line in crate::commands::show::tail(&path, n) {
            writeln!(ctx.out, "{line}")?;
        }
    }
    loop {
        // Read the state before draining, so output written just before the end is not lost.
        let session = state.load(&args.name)?;
        let ended = session.live_state().is_terminal();
        offset += copy_from(&path, offset, ctx.out)?;
        ctx.out.flush()?;
        if !args.follow {
            return Ok(0);
        }
        if ended {
            let mut line = format!(
                "git-agent: {} {}",
                session.name,
                ui::state(session.live_state())
            );
            if let Some(reason) = &session.reason {
                line.push_str(&format!(" ({reason})"));
            }
            writeln!(ctx.err, "{line}")?;
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Copies the file from `offset` to `out`; returns the number of bytes copied.
fn copy_from(path: &std::path::Path, offset: u64, out: &mut dyn std::io::Write) -> Result<u64> {
    let Ok(mut file) = File::open(path) else {
        return Ok(0);
    };
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    out.write_all(&buf)?;
    Ok(buf.len() as u64)
}
