//! Reading what agents print: one parser per structured-output format, an accumulator for
//! the facts we keep (the agent's session id, turns, the final result, cost and tokens), and
//! a renderer that turns the stream back into text for people (`git agent logs`).
//!
//! Robustness rules: every line is data, never trusted. A line that is not JSON, is JSON of
//! an unknown shape, or is cut off yields no event and never an error; the raw line stays in
//! the session log untouched. Formats:
//!
//! | format     | CLI                                   | session id          | end of run            |
//! |------------|---------------------------------------|---------------------|-----------------------|
//! | `claude`   | `claude -p --output-format stream-json` | `session_id`      | `result` (cost, usage) |
//! | `codex`    | `codex exec --json`                   | `thread.started`    | `turn.completed/failed` |
//! | `gemini`   | `gemini -p --output-format stream-json` | `init.session_id` | `result` (stats)      |
//! | `opencode` | `opencode run --format json`          | `sessionID`         | `step_finish` (cost)  |
//! | `aider`    | plain text                            | none                | `Tokens: … Cost: …`   |
//! | `text`     | anything else                         | none                | exit code only        |
//!
//! One file per format (`claude`, `codex`, `gemini`, `opencode`, `aider`, `text`), each only
//! turning a line into [`Event`]s; [`Outcome`] (in `outcome.rs`) folds events into the facts
//! kept; [`Renderer`] (in `render.rs`) shows a log to people. This folder only reads text it
//! is given: it never runs the agent, writes the log or touches the session record.

mod aider;
mod claude;
mod codex;
mod gemini;
mod limits;
mod opencode;
mod outcome;
#[cfg(test)]
mod rate_limit_tests;
mod render;
mod text;

pub use crate::session::{Format, Outcome, RateLimit, Usage};
pub use limits::MAX_AHEAD;
pub use outcome::{format_cost, format_spend};
pub use render::Renderer;

use serde_json::Value;

/// True if agents printing `format` report what they spent (claude, opencode, aider).
pub fn reports_cost(format: Format) -> bool {
    matches!(format, Format::Claude | Format::Opencode | Format::Aider)
}

/// True if agents printing `format` report their cost or their tokens, so a budget can be
/// held: all but a plain command's. Tokens are priced with `crate::agents::pricing`.
pub fn reports_spend(format: Format) -> bool {
    format != Format::Text
}

/// Something an agent reported.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The agent's own session (conversation) id, used to resume it.
    Session(String),
    /// Text the agent said. `partial` text continues on the next event (streamed deltas).
    Text { text: String, partial: bool },
    /// A tool call, summarised (`Write hello.txt`, `Bash: ls`).
    Tool(String),
    /// A transient error the agent retries.
    Retry(String),
    /// One model turn or step finished.
    Turn,
    /// Token usage and cost: `total` replaces what was counted so far, otherwise it adds.
    Usage { usage: Usage, total: bool },
    /// The model the agent runs (the last one named wins).
    Model(String),
    /// The tokens of one model message so far (claude's assistant lines, several per message
    /// with the same `id`: a repeat replaces what the earlier lines said). Added to the run's
    /// usage, and kept by model to price it mid-run.
    MessageUsage {
        id: String,
        model: Option<String>,
        usage: Usage,
    },
    /// The run's tokens so far on one model (gemini's `stats.models`), kept to price them;
    /// the run's total comes in its own `Usage` event.
    ModelUsage { model: String, usage: Usage },
    /// The run's final result.
    Result {
        ok: bool,
        text: Option<String>,
        turns: Option<u32>,
    },
    /// An error the agent reported (it may still exit 0, as aider does).
    Error(String),
    /// A permission the agent was refused (it carries on, or stops, depending on the CLI).
    Denied(String),
    /// The CLI gave up on a rate limit or usage limit (never one it is still retrying by
    /// itself). `retry_at` is a reset time it reported; `retry_after` a wait it reported,
    /// counted from when the event is folded. Both already checked (see `limits.rs`): none
    /// when absent, in the past, or unbelievably far ahead. Comes with the `Error` or failed
    /// `Result` of the same failure, which it does not replace.
    RateLimited {
        message: String,
        retry_at: Option<jiff::Timestamp>,
        retry_after: Option<std::time::Duration>,
    },
}

/// Parses one line of output in `format`.
pub fn parse_line(format: Format, line: &str) -> Vec<Event> {
    let line = line.trim_end_matches(['\n', '\r']);
    match format {
        Format::Text => text::parse(line),
        Format::Aider => aider::parse(line),
        _ => {
            let Ok(value) = serde_json::from_str::<Value>(line.trim()) else {
                return Vec::new();
            };
            if !value.is_object() {
                return Vec::new();
            }
            match format {
                Format::Claude => claude::parse(&value),
                Format::Codex => codex::parse(&value),
                Format::Gemini => gemini::parse(&value),
                Format::Opencode => opencode::parse(&value),
                Format::Aider | Format::Text => Vec::new(),
            }
        }
    }
}

fn s(v: &Value) -> Option<&str> {
    v.as_str()
}

fn u(v: &Value) -> Option<u64> {
    v.as_u64()
}

/// A short, one-line summary of a tool call's input: a path, a command, or nothing.
fn tool_summary(name: &str, input: &Value) -> String {
    let detail = [
        "file_path",
        "filePath",
        "path",
        "command",
        "cmd",
        "pattern",
        "url",
        "description",
    ]
    .iter()
    .find_map(|k| input.get(k).and_then(s))
    .map(|d| d.lines().next().unwrap_or("").to_owned());
    match detail {
        Some(d) if !d.is_empty() => {
            let d: String = if d.chars().count() > 120 {
                d.chars().take(119).collect::<String>() + "…"
            } else {
                d
            };
            format!("{name} {d}")
        }
        _ => name.to_owned(),
    }
}

/// Error texts that are themselves JSON (`{"error": {"message": "…"}}`) read better unwrapped.
fn unwrap_api_error(message: &str) -> String {
    serde_json::from_str::<Value>(message)
        .ok()
        .and_then(|v| v.pointer("/error/message").and_then(s).map(str::to_owned))
        .unwrap_or_else(|| message.to_owned())
}

/// Parses one line the agent wrote to stderr (mostly noise; a few CLIs report refusals there).
pub fn parse_stderr_line(format: Format, line: &str) -> Vec<Event> {
    let line = line.trim();
    match format {
        Format::Opencode => opencode::parse_stderr(line),
        // Plain agents say what went wrong on stderr: it is what they said last.
        Format::Text => text::parse(line),
        _ => Vec::new(),
    }
}

/// What the end of a stream tells (only opencode's says anything: see `opencode.rs`).
pub fn end_of_stream(format: Format, outcome: &mut Outcome) {
    if format == Format::Opencode {
        opencode::end_of_stream(outcome);
    }
}

/// Folds a whole output into an outcome (used for tests and for recovering a record).
pub fn outcome_of(format: Format, text: &str) -> Outcome {
    let mut outcome = Outcome::default();
    for line in text.lines() {
        for event in parse_line(format, line) {
            outcome.apply(&event);
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_never_panics_and_yields_nothing() {
        let lines = [
            "",
            "not json",
            "{",
            "[1,2]",
            "{\"type\":",
            "\u{0}\u{1}",
            "{\"type\":\"result\",\"usage\":7}",
            "null",
            "\"str\"",
        ];
        for format in Format::ALL {
            for line in lines {
                let _ = parse_line(*format, line);
                let _ = Renderer::new(*format).line(line);
            }
        }
        assert!(parse_line(Format::Claude, "{\"type\":\"mystery\"}").is_empty());
    }
}
