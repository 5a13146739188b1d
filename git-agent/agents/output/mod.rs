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

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An event-stream format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Claude,
    Codex,
    Gemini,
    Opencode,
    Aider,
    Text,
}

impl Format {
    pub const ALL: &[Format] = &[
        Self::Claude,
        Self::Codex,
        Self::Gemini,
        Self::Opencode,
        Self::Aider,
        Self::Text,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claude => "claude",
            Self::Codex => "codex",
            Self::Gemini => "gemini",
            Self::Opencode => "opencode",
            Self::Aider => "aider",
            Self::Text => "text",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|f| f.as_str() == name)
    }
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
}

/// Tokens and cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}

fn add_f(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    }
}

impl Usage {
    /// The sum of two usages (unknown + unknown stays unknown).
    pub fn plus(&self, other: &Usage) -> Usage {
        Usage {
            input_tokens: add(self.input_tokens, other.input_tokens),
            output_tokens: add(self.output_tokens, other.output_tokens),
            cached_tokens: add(self.cached_tokens, other.cached_tokens),
            cost_usd: add_f(self.cost_usd, other.cost_usd),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }
}

/// What a run amounted to, as far as the agent told us.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default)]
    pub turns: u32,
    /// `Some(true)` success, `Some(false)` the agent reported failure, `None` it did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// The agent's final answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The error the agent reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Usage::is_empty")]
    pub usage: Usage,
    /// The last thing the agent said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_text: Option<String>,
    /// Permissions the agent was refused (tool and what it wanted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied: Vec<String>,
}

const KEEP_CHARS: usize = 2000;

fn clip(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= KEEP_CHARS {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(KEEP_CHARS).collect();
    clipped.push('…');
    clipped
}

impl Outcome {
    /// Folds one event in. Returns true if something worth recording changed.
    pub fn apply(&mut self, event: &Event) -> bool {
        match event {
            Event::Session(id) => {
                if self.session_id.as_deref() == Some(id) {
                    return false;
                }
                self.session_id = Some(id.clone());
            }
            Event::Text { text, partial } => {
                let text = text.trim();
                if text.is_empty() {
                    return false;
                }
                // Streamed deltas continue the previous text.
                match (&mut self.last_text, partial) {
                    (Some(last), true) => last.push_str(text),
                    _ => self.last_text = Some(clip(text)),
                }
                return false;
            }
            Event::Tool(_) | Event::Retry(_) => return false,
            Event::Denied(what) => {
                if self.denied.len() >= 20 || self.denied.contains(what) {
                    return false;
                }
                self.denied.push(what.clone());
            }
            Event::Turn => self.turns += 1,
            Event::Usage { usage, total } => {
                self.usage = if *total {
                    self.usage_total(usage)
                } else {
                    self.usage.plus(usage)
                };
            }
            Event::Result { ok, text, turns } => {
                self.ok = Some(*ok && self.ok != Some(false));
                if let Some(t) = text.as_deref().filter(|t| !t.trim().is_empty()) {
                    if *ok {
                        self.result = Some(clip(t));
                    } else {
                        self.error.get_or_insert_with(|| clip(t));
                    }
                }
                if let Some(n) = turns {
                    self.turns = *n;
                }
            }
            Event::Error(message) => {
                self.ok = Some(false);
                self.error.get_or_insert_with(|| clip(message));
            }
        }
        true
    }

    /// A reported total wins over what was added up, field by field.
    fn usage_total(&self, total: &Usage) -> Usage {
        Usage {
            input_tokens: total.input_tokens.or(self.usage.input_tokens),
            output_tokens: total.output_tokens.or(self.usage.output_tokens),
            cached_tokens: total.cached_tokens.or(self.usage.cached_tokens),
            cost_usd: total.cost_usd.or(self.usage.cost_usd),
        }
    }
}

/// `$0.0194`, `$1.20`.
pub fn format_cost(usd: f64) -> String {
    if usd >= 1.0 {
        format!("${usd:.2}")
    } else if usd >= 0.01 {
        format!("${usd:.3}")
    } else {
        format!("${usd:.4}")
    }
}

/// Parses one line of output in `format`.
pub fn parse_line(format: Format, line: &str) -> Vec<Event> {
    let line = line.trim_end_matches(['\n', '\r']);
    match format {
        Format::Text => plain(line),
        Format::Aider => aider(line),
        _ => {
            let Ok(value) = serde_json::from_str::<Value>(line.trim()) else {
                return Vec::new();
            };
            if !value.is_object() {
                return Vec::new();
            }
            match format {
                Format::Claude => claude(&value),
                Format::Codex => codex(&value),
                Format::Gemini => gemini(&value),
                Format::Opencode => opencode(&value),
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

fn claude(v: &Value) -> Vec<Event> {
    let mut events = Vec::new();
    let kind = v.get("type").and_then(s).unwrap_or("");
    if matches!(kind, "system" | "result")
        && let Some(id) = v.get("session_id").and_then(s)
    {
        events.push(Event::Session(id.to_owned()));
    }
    match kind {
        "system" if v.get("subtype").and_then(s) == Some("api_retry") => {
            let status = v
                .get("error_status")
                .map_or_else(String::new, |e| format!(" (HTTP {e})"));
            let attempt = v.get("attempt").and_then(u).unwrap_or(0);
            events.push(Event::Retry(format!("API error{status}, retry {attempt}")));
        }
        "assistant" => {
            let content = v.pointer("/message/content").and_then(Value::as_array);
            for block in content.into_iter().flatten() {
                match block.get("type").and_then(s) {
                    Some("text") => {
                        if let Some(t) = block.get("text").and_then(s) {
                            events.push(Event::Text {
                                text: t.to_owned(),
                                partial: false,
                            });
                        }
                    }
                    Some("tool_use") => {
                        let name = block.get("name").and_then(s).unwrap_or("tool");
                        events.push(Event::Tool(tool_summary(
                            name,
                            block.get("input").unwrap_or(&Value::Null),
                        )));
                    }
                    _ => {}
                }
            }
        }
        "result" => {
            let is_error = v.get("is_error").and_then(Value::as_bool).unwrap_or(false)
                || v.get("subtype")
                    .and_then(s)
                    .is_some_and(|st| st.starts_with("error"));
            let usage = v.get("usage").cloned().unwrap_or(Value::Null);
            let cached = add(
                usage.get("cache_read_input_tokens").and_then(u),
                usage.get("cache_creation_input_tokens").and_then(u),
            );
            events.push(Event::Usage {
                usage: Usage {
                    input_tokens: usage.get("input_tokens").and_then(u),
                    output_tokens: usage.get("output_tokens").and_then(u),
                    cached_tokens: cached,
                    cost_usd: v.get("total_cost_usd").and_then(Value::as_f64),
                },
                total: true,
            });
            let text = v.get("result").and_then(s).map(str::to_owned).or_else(|| {
                v.get("errors").and_then(Value::as_array).map(|errs| {
                    errs.iter()
                        .filter_map(|e| e.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                })
            });
            let turns = v
                .get("num_turns")
                .and_then(u)
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
            events.push(Event::Result {
                ok: !is_error,
                text,
                turns,
            });
        }
        _ => {}
    }
    events
}

fn codex(v: &Value) -> Vec<Event> {
    let mut events = Vec::new();
    match v.get("type").and_then(s).unwrap_or("") {
        "thread.started" => {
            if let Some(id) = v.get("thread_id").and_then(s) {
                events.push(Event::Session(id.to_owned()));
            }
        }
        "item.completed" => {
            let item = v.get("item").unwrap_or(&Value::Null);
            match item.get("type").and_then(s).unwrap_or("") {
                "agent_message" => {
                    if let Some(t) = item.get("text").and_then(s) {
                        events.push(Event::Text {
                            text: t.to_owned(),
                            partial: false,
                        });
                    }
                }
                "command_execution" => {
                    let cmd = item.get("command").and_then(s).unwrap_or("");
                    events.push(Event::Tool(tool_summary(
                        "Shell",
                        &serde_json::json!({ "command": cmd }),
                    )));
                }
                "file_change" => {
                    for change in item
                        .get("changes")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let kind = change.get("kind").and_then(s).unwrap_or("edit");
                        let path = change.get("path").and_then(s).unwrap_or("");
                        events.push(Event::Tool(format!("File {kind} {path}")));
                    }
                }
                "error" => {
                    if let Some(m) = item.get("message").and_then(s) {
                        events.push(Event::Retry(m.to_owned()));
                    }
                }
                _ => {}
            }
        }
        "turn.completed" => {
            let usage = v.get("usage").unwrap_or(&Value::Null);
            events.push(Event::Turn);
            events.push(Event::Usage {
                usage: Usage {
                    input_tokens: usage.get("input_tokens").and_then(u),
                    output_tokens: add(
                        usage.get("output_tokens").and_then(u),
                        usage.get("reasoning_output_tokens").and_then(u),
                    ),
                    cached_tokens: usage.get("cached_input_tokens").and_then(u),
                    cost_usd: None,
                },
                total: false,
            });
            events.push(Event::Result {
                ok: true,
                text: None,
                turns: None,
            });
        }
        "turn.failed" => {
            let message = v
                .pointer("/error/message")
                .and_then(s)
                .unwrap_or("the turn failed");
            events.push(Event::Error(unwrap_api_error(message)));
        }
        "error" => {
            if let Some(m) = v.get("message").and_then(s) {
                events.push(Event::Error(unwrap_api_error(m)));
            }
        }
        _ => {}
    }
    events
}

/// Error texts that are themselves JSON (`{"error": {"message": "…"}}`) read better unwrapped.
fn unwrap_api_error(message: &str) -> String {
    serde_json::from_str::<Value>(message)
        .ok()
        .and_then(|v| v.pointer("/error/message").and_then(s).map(str::to_owned))
        .unwrap_or_else(|| message.to_owned())
}

fn gemini(v: &Value) -> Vec<Event> {
    let mut events = Vec::new();
    match v.get("type").and_then(s).unwrap_or("") {
        "init" => {
            if let Some(id) = v.get("session_id").and_then(s) {
                events.push(Event::Session(id.to_owned()));
            }
        }
        "message" if v.get("role").and_then(s) == Some("assistant") => {
            if let Some(t) = v.get("content").and_then(s) {
                let partial = v.get("delta").and_then(Value::as_bool).unwrap_or(false);
                events.push(Event::Text {
                    text: t.to_owned(),
                    partial,
                });
            }
        }
        "tool_use" => {
            let name = v.get("tool_name").and_then(s).unwrap_or("tool");
            events.push(Event::Tool(tool_summary(
                name,
                v.get("parameters").unwrap_or(&Value::Null),
            )));
        }
        "result" => {
            let stats = v.get("stats").unwrap_or(&Value::Null);
            events.push(Event::Usage {
                usage: Usage {
                    input_tokens: stats.get("input_tokens").and_then(u),
                    output_tokens: stats.get("output_tokens").and_then(u),
                    cached_tokens: stats.get("cached").and_then(u),
                    cost_usd: None,
                },
                total: true,
            });
            let ok = v.get("status").and_then(s) == Some("success");
            let text = v.pointer("/error/message").and_then(s).map(|m| {
                let m = m.trim().trim_start_matches('[').trim_end_matches(']');
                let m = m.strip_prefix("API Error: ").unwrap_or(m);
                unwrap_api_error(m)
            });
            events.push(Event::Result {
                ok,
                text,
                turns: None,
            });
        }
        "error" => {
            let message = v
                .get("message")
                .and_then(s)
                .or_else(|| v.pointer("/error/message").and_then(s));
            events.push(Event::Error(message.unwrap_or("error").to_owned()));
        }
        _ => {}
    }
    events
}

fn opencode(v: &Value) -> Vec<Event> {
    let mut events = Vec::new();
    if let Some(id) = v.get("sessionID").and_then(s) {
        events.push(Event::Session(id.to_owned()));
    }
    let part = v.get("part").unwrap_or(&Value::Null);
    match v.get("type").and_then(s).unwrap_or("") {
        "text" => {
            if let Some(t) = part.get("text").and_then(s) {
                events.push(Event::Text {
                    text: t.to_owned(),
                    partial: false,
                });
            }
        }
        "tool_use" => {
            let name = part.get("tool").and_then(s).unwrap_or("tool");
            events.push(Event::Tool(tool_summary(
                name,
                part.pointer("/state/input").unwrap_or(&Value::Null),
            )));
        }
        "step_finish" => {
            let tokens = part.get("tokens").unwrap_or(&Value::Null);
            events.push(Event::Turn);
            events.push(Event::Usage {
                usage: Usage {
                    input_tokens: tokens.get("input").and_then(u),
                    output_tokens: add(
                        tokens.get("output").and_then(u),
                        tokens.get("reasoning").and_then(u),
                    ),
                    cached_tokens: tokens.pointer("/cache/read").and_then(u),
                    cost_usd: part.get("cost").and_then(Value::as_f64),
                },
                total: false,
            });
            if part.get("reason").and_then(s) == Some("stop") {
                events.push(Event::Result {
                    ok: true,
                    text: None,
                    turns: None,
                });
            }
        }
        "error" => {
            let message = v
                .pointer("/error/data/message")
                .and_then(s)
                .or_else(|| v.pointer("/error/message").and_then(s))
                .or_else(|| v.pointer("/error/name").and_then(s))
                .unwrap_or("error");
            events.push(Event::Error(message.to_owned()));
        }
        _ => {}
    }
    events
}

fn aider(line: &str) -> Vec<Event> {
    let trimmed = line.trim();
    // `Tokens: 775 sent, 26 received. Cost: $0.00083 message, $0.00083 session.`
    if let Some(rest) = trimmed.strip_prefix("Tokens: ") {
        let number = |text: &str, suffix: &str| -> Option<u64> {
            let end = text.find(suffix)?;
            let start = text[..end].trim_end().rfind(' ').map_or(0, |i| i + 1);
            parse_count(text[start..end].trim())
        };
        let cost = rest
            .find("Cost: $")
            .and_then(|i| rest[i..].split(", $").nth(1))
            .and_then(|session| session.split(' ').next())
            .and_then(|n| n.parse::<f64>().ok());
        // Tokens are per message and add up; the cost is the session's running total.
        return vec![
            Event::Turn,
            Event::Usage {
                usage: Usage {
                    input_tokens: number(rest, " sent"),
                    output_tokens: number(rest, " received"),
                    ..Usage::default()
                },
                total: false,
            },
            Event::Usage {
                usage: Usage {
                    cost_usd: cost,
                    ..Usage::default()
                },
                total: true,
            },
        ];
    }
    if trimmed.starts_with("litellm.") && trimmed.contains("Error") {
        let message = trimmed.split_once(" - ").map_or(trimmed, |(_, m)| m);
        return vec![Event::Error(message.to_owned())];
    }
    if trimmed.is_empty() || is_aider_chrome(trimmed) {
        return Vec::new();
    }
    vec![Event::Text {
        text: trimmed.to_owned(),
        partial: false,
    }]
}

/// Aider's own status lines, not the model's words.
fn is_aider_chrome(line: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "Aider v",
        "Model: ",
        "Git repo: ",
        "Repo-map: ",
        "Analytics have been",
        "Detected dumb terminal",
        "Added .aider",
        "You can skip this check",
        "Applied edit to ",
        "Commit ",
        "Restored previous",
    ];
    PREFIXES.iter().any(|p| line.starts_with(p))
}

/// `775`, `1.2k`, `3k`.
fn parse_count(text: &str) -> Option<u64> {
    if let Some(k) = text.strip_suffix('k') {
        return k.parse::<f64>().ok().map(|n| (n * 1000.0).round() as u64);
    }
    text.parse().ok()
}

/// Parses one line the agent wrote to stderr (mostly noise; a few CLIs report refusals there).
pub fn parse_stderr_line(format: Format, line: &str) -> Vec<Event> {
    let line = line.trim();
    match format {
        // `permission requested: external_directory (/path/*); auto-rejecting`
        Format::Opencode => line
            .strip_prefix("permission requested: ")
            .and_then(|rest| rest.strip_suffix("; auto-rejecting"))
            .map(|what| vec![Event::Denied(what.to_owned())])
            .unwrap_or_default(),
        // Plain agents say what went wrong on stderr: it is what they said last.
        Format::Text => plain(line),
        _ => Vec::new(),
    }
}

/// A plain-text agent: every non-empty line is something it said.
fn plain(line: &str) -> Vec<Event> {
    let line = line.trim();
    if line.is_empty() {
        return Vec::new();
    }
    vec![Event::Text {
        text: line.to_owned(),
        partial: false,
    }]
}

/// What the end of a stream tells: opencode ends a run early, with exit 0, when it rejects a
/// permission; a run that never reached its final `stop` step did not finish.
pub fn end_of_stream(format: Format, outcome: &mut Outcome) {
    if format == Format::Opencode && outcome.ok.is_none() {
        let why = outcome.denied.first().map_or_else(String::new, |d| {
            format!(" after a refused permission ({d})")
        });
        outcome.apply(&Event::Error(format!(
            "opencode stopped before finishing{why}"
        )));
    }
}

/// Turns a raw log back into text for people, line by line, keeping the state needed to join
/// streamed deltas.
#[derive(Debug)]
pub struct Renderer {
    format: Format,
    open_line: bool,
}

impl Renderer {
    pub fn new(format: Format) -> Self {
        Self {
            format,
            open_line: false,
        }
    }

    /// The text to show for one raw line (may be empty: the line carries nothing to read).
    pub fn line(&mut self, raw: &str) -> String {
        let raw = raw.trim_end_matches(['\n', '\r']);
        let is_structured = matches!(
            self.format,
            Format::Claude | Format::Codex | Format::Gemini | Format::Opencode
        );
        let events = parse_line(self.format, raw);
        if events.is_empty() {
            if is_structured
                && serde_json::from_str::<Value>(raw.trim()).is_ok_and(|v| v.is_object())
            {
                return String::new(); // protocol chatter
            }
            if self.format == Format::Aider
                && (raw.trim().is_empty() || is_aider_chrome(raw.trim()))
            {
                return format!("{}{raw}\n", self.close());
            }
            return format!("{}{raw}\n", self.close());
        }
        let mut out = String::new();
        for event in events {
            match event {
                Event::Text {
                    text,
                    partial: true,
                } => {
                    out.push_str(&text);
                    self.open_line = true;
                }
                Event::Text {
                    text,
                    partial: false,
                } => {
                    out.push_str(&self.close());
                    out.push_str(text.trim_end());
                    out.push('\n');
                }
                Event::Tool(summary) => {
                    out.push_str(&self.close());
                    out.push_str(&format!("  > {summary}\n"));
                }
                Event::Retry(m) => {
                    out.push_str(&self.close());
                    out.push_str(&format!("  (retrying: {m})\n"));
                }
                Event::Error(m) => {
                    out.push_str(&self.close());
                    out.push_str(&format!("error: {m}\n"));
                }
                Event::Result {
                    ok: false,
                    text: Some(t),
                    ..
                } => {
                    out.push_str(&self.close());
                    out.push_str(&format!("error: {t}\n"));
                }
                Event::Turn if self.format == Format::Aider => {
                    // Keep aider's own token line: it is what the user would have seen.
                    out.push_str(&self.close());
                    out.push_str(raw.trim());
                    out.push('\n');
                }
                _ => {}
            }
        }
        out
    }

    /// Ends a line left open by streamed deltas.
    pub fn close(&mut self) -> String {
        if std::mem::take(&mut self.open_line) {
            "\n".to_owned()
        } else {
            String::new()
        }
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

    #[test]
    fn aider_token_lines() {
        let mut outcome = Outcome::default();
        for line in [
            "Tokens: 1.2k sent, 26 received. Cost: $0.0100 message, $0.0100 session.",
            "Tokens: 800 sent, 4 received. Cost: $0.0025 message, $0.0125 session.",
        ] {
            for event in parse_line(Format::Aider, line) {
                outcome.apply(&event);
            }
        }
        assert_eq!(
            outcome.usage,
            Usage {
                input_tokens: Some(2000),
                output_tokens: Some(30),
                cached_tokens: None,
                cost_usd: Some(0.0125)
            }
        );
        assert_eq!(outcome.turns, 2);
    }

    #[test]
    fn costs_are_formatted() {
        assert_eq!(format_cost(0.019365), "$0.019");
        assert_eq!(format_cost(0.00083), "$0.0008");
        assert_eq!(format_cost(1.234), "$1.23");
    }
}
