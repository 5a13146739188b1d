//! `git agent logs NAME [-f]`: what the agent said, readable: structured output (claude,
//! codex, gemini, opencode) is turned back into its text and tool calls; `--raw` prints the
//! log exactly as the agent wrote it. A session with several runs shows where each starts.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::time::Duration;

use anyhow::Result;

use super::Ctx;
use crate::agents::output::Renderer;
use crate::session::{RunKind, Session};
use crate::ui;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The session
    #[arg(value_name = "NAME", value_parser = crate::cli::session_name)]
    pub name: String,
    /// Keep printing new output until the agent ends
    #[arg(short, long)]
    pub follow: bool,
    /// Start with the last N lines only
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<usize>,
    /// Print the log as the agent wrote it (JSON events and all)
    #[arg(long)]
    pub raw: bool,
}

/// Turns log bytes into output lines: run markers, then rendered (or raw) lines.
pub struct Reader {
    renderer: Option<Renderer>,
    /// Start offsets of runs after the first, with their marker text, in order.
    markers: Vec<(u64, String)>,
    next_marker: usize,
    /// Bytes of an unfinished last line.
    partial: Vec<u8>,
    /// Log offset of the first byte of `partial`.
    offset: u64,
}

impl Reader {
    pub fn new(session: &Session, raw: bool) -> Self {
        let mut reader = Self {
            renderer: (!raw).then(|| Renderer::new(session.agent.format)),
            markers: Vec::new(),
            next_marker: 0,
            partial: Vec::new(),
            offset: 0,
        };
        reader.update_runs(session);
        reader
    }

    /// Learns about runs started since (a queued follow-up during `-f`).
    pub fn update_runs(&mut self, session: &Session) {
        if session.runs.len() < 2 {
            return;
        }
        self.markers = session
            .runs
            .iter()
            .filter(|r| r.started_at.is_some())
            .map(|r| {
                let kind = match r.kind {
                    RunKind::New => "task",
                    RunKind::Send => "follow-up",
                    RunKind::Resume => "resumed",
                    RunKind::Retry => "retried after a rate limit",
                };
                let first = r
                    .prompt
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("");
                let first: String = first.chars().take(60).collect();
                (r.log_offset, format!("── run {} ({kind}): {first} ──", r.n))
            })
            .collect();
    }

    /// Consumes bytes; returns the text to print (complete lines only, unless `end`).
    pub fn feed(&mut self, bytes: &[u8], end: bool) -> String {
        self.partial.extend_from_slice(bytes);
        let mut out = String::new();
        let mut start = 0;
        while let Some(pos) = self.partial[start..].iter().position(|b| *b == b'\n') {
            let line = self.partial[start..start + pos].to_vec();
            let at = self.offset + start as u64;
            self.line(&mut out, at, &line);
            start += pos + 1;
        }
        self.offset += start as u64;
        self.partial.drain(..start);
        if end && !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            let at = self.offset;
            self.offset += line.len() as u64;
            self.line(&mut out, at, &line);
        }
        if end && let Some(r) = &mut self.renderer {
            out.push_str(&r.close());
        }
        out
    }

    fn line(&mut self, out: &mut String, at: u64, line: &[u8]) {
        while let Some((offset, marker)) = self.markers.get(self.next_marker) {
            if *offset > at {
                break;
            }
            if let Some(r) = &mut self.renderer {
                out.push_str(&r.close());
            }
            out.push_str(&ui::dim(marker));
            out.push('\n');
            self.next_marker += 1;
        }
        let text = String::from_utf8_lossy(line);
        match &mut self.renderer {
            Some(r) => out.push_str(&r.line(&text)),
            None => {
                out.push_str(&text);
                out.push('\n');
            }
        }
    }
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = ctx.repo()?;
    let state = repo.state();
    let session = state.load(&args.name)?;
    let path = state.log_path(&args.name);
    let mut reader = Reader::new(&session, args.raw);

    let mut offset = 0u64;
    if let Some(n) = args.tail {
        let bytes = read_from(&path, 0)?;
        offset = bytes.len() as u64;
        let text = reader.feed(&bytes, !args.follow);
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines[lines.len().saturating_sub(n)..] {
            writeln!(ctx.out, "{line}")?;
        }
    }
    loop {
        // Read the state before draining, so output written just before the end is not lost.
        let session = state.load(&args.name)?;
        let ended = session.live_state().is_terminal();
        reader.update_runs(&session);
        let bytes = read_from(&path, offset)?;
        offset += bytes.len() as u64;
        let done = !args.follow || ended;
        write!(ctx.out, "{}", reader.feed(&bytes, done))?;
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

/// The file's bytes from `offset` on (nothing if it does not exist yet).
pub fn read_from(path: &std::path::Path, offset: u64) -> Result<Vec<u8>> {
    let Ok(mut file) = File::open(path) else {
        return Ok(Vec::new());
    };
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    Ok(buf)
}
