//! `git agent events [--follow] [--json] [NAME…]`: the stream of state changes of every
//! session, from `events.jsonl`, so scripts and editors can react without polling `list`.
//!
//! `--json` prints each event as the one-line JSON object stored (versioned, see
//! `man/json.md`); `--follow` keeps printing new events as they are appended (until
//! interrupted, or `--until-idle` when no agent runs any more).

use std::io::{BufRead as _, Seek as _};
use std::time::Duration;

use anyhow::Result;

use super::{Ctx, Format, OutputArgs};
use crate::state::Event;

#[derive(Debug, clap::Args)]
#[command(mut_args(super::reword("json", |a| a.help("One JSON object per line"))))]
pub struct Args {
    /// Only the events of these sessions
    #[arg(value_name = "NAME", value_parser = crate::cli::session_name)]
    pub names: Vec<String>,
    /// Keep printing events as they happen
    #[arg(short, long)]
    pub follow: bool,
    /// With --follow: stop once no session's agent is running
    #[arg(long, requires = "follow")]
    pub until_idle: bool,
    /// Only the last N events (before following)
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<usize>,
    #[command(flatten)]
    pub output: OutputArgs,
}

fn wanted(args: &Args, e: &Event) -> bool {
    args.names.is_empty() || args.names.contains(&e.session)
}

fn show(ctx: &mut Ctx<'_>, args: &Args, line: &str) -> Result<()> {
    let Ok(e) = serde_json::from_str::<Event>(line) else {
        return Ok(()); // a line from a newer git-agent, or torn: skipped
    };
    if !wanted(args, &e) {
        return Ok(());
    }
    if args.output.format() == Format::Json {
        writeln!(ctx.out, "{}", line.trim_end())?;
    } else {
        let what = match (&e.state, &e.detail) {
            (Some(s), Some(d)) => format!("{s} ({d})"),
            (Some(s), None) => s.to_string(),
            (None, Some(d)) => format!("{} {d}", e.event),
            (None, None) => e.event.clone(),
        };
        let what = if e.state.is_some() {
            what
        } else {
            what.trim().to_owned()
        };
        writeln!(
            ctx.out,
            "{}  {}  {what}",
            crate::time::format_timestamp(e.time),
            e.session
        )?;
    }
    Ok(())
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = ctx.repo()?;
    let state = repo.state();
    let path = state.events_path();
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let mut offset = 0u64;
    if let Some(f) = file.as_mut() {
        let mut lines = Vec::new();
        let mut reader = std::io::BufReader::new(&*f);
        let mut line = String::new();
        while reader.read_line(&mut line)? > 0 {
            if line.ends_with('\n') {
                offset += line.len() as u64;
                let keep = serde_json::from_str::<Event>(&line).is_ok_and(|e| wanted(&args, &e));
                if keep {
                    lines.push(std::mem::take(&mut line));
                }
            }
            line.clear();
        }
        let skip = args.tail.map_or(0, |n| lines.len().saturating_sub(n));
        for l in &lines[skip..] {
            show(ctx, &args, l)?;
        }
    }
    if !args.follow {
        return Ok(0);
    }
    ctx.out.flush()?;
    loop {
        // Checked before reading: events of the end are appended right after the record.
        let idle = args.until_idle
            && !ctx
                .sessions(&state)?
                .iter()
                .filter(|s| args.names.is_empty() || args.names.contains(&s.name))
                .any(|s| s.live_state().is_active());
        if file.is_none() {
            file = std::fs::File::open(&path).ok();
        }
        if let Some(f) = file.as_mut() {
            f.seek(std::io::SeekFrom::Start(offset))?;
            let mut reader = std::io::BufReader::new(&*f);
            let mut line = String::new();
            // Only whole lines: a writer appends each event with one write.
            while reader.read_line(&mut line)? > 0 && line.ends_with('\n') {
                offset += line.len() as u64;
                show(ctx, &args, &line)?;
                line.clear();
            }
            ctx.out.flush()?;
        }
        if idle {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
