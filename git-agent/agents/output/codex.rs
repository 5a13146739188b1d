//! `codex exec --json`: one JSON object a line. `thread.started` gives the session (thread)
//! id; `turn.completed` / `turn.failed` end a turn with its usage. Its own retries are `error`
//! lines saying `Reconnecting... 2/5 (…)`; a rate limit it gave up on is the final `error` and
//! `turn.failed` ("exceeded retry limit, last status: 429 Too Many Requests", or "You've hit
//! your usage limit. … try again at 2:00 PM.").
//!
//! Its stream never names the model (the supervisor takes it from the arguments or codex's
//! `config.toml`: `crate::agents::pricing::model_in_args`). `turn.completed` usage counts
//! cached input within `input_tokens` and reasoning within `output_tokens`
//! (`reasoning_output_tokens` is a breakdown of it, as in the Responses API).
//!
//! Owns reading codex's lines into [`Event`]s; it keeps no state and must not touch the
//! outcome or the log (the accumulator and the renderer do).

use serde_json::Value;

use super::{Event, Usage, limits, s, tool_summary, u, unwrap_api_error};

/// The events of one codex line (already parsed as a JSON object).
pub(super) fn parse(v: &Value) -> Vec<Event> {
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
                    output_tokens: usage.get("output_tokens").and_then(u),
                    cached_tokens: usage.get("cached_input_tokens").and_then(u),
                    ..Usage::default()
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
            failed(&mut events, message);
        }
        "error" => match v.get("message").and_then(s) {
            // A retry codex is making by itself, not the end of the run.
            Some(m) if m.starts_with("Reconnecting...") => events.push(Event::Retry(m.to_owned())),
            Some(m) => failed(&mut events, m),
            None => {}
        },
        _ => {}
    }
    events
}

/// A final error, and the rate limit it tells of, if any.
fn failed(events: &mut Vec<Event>, message: &str) {
    let message = unwrap_api_error(message);
    if limits::is_limit_message(&message) {
        events.push(limits::rate_limited(&message, None));
    }
    events.push(Event::Error(message));
}
