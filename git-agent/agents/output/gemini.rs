//! `gemini -p --output-format stream-json`: one JSON object a line. `init` gives the session
//! id; `result` ends the run with its stats. Its own retries go to stderr ("Attempt 3 failed:
//! … Retrying after 21800ms..."); a quota it gave up on is a failed `result` ("[API Error:
//! Resource has been exhausted (e.g. check quota).\nSuggested retry after 5s.]", "You have
//! exhausted your daily quota on this model.").
//!
//! Owns reading gemini's lines into [`Event`]s; it keeps no state and must not touch the
//! outcome or the log (the accumulator and the renderer do).

use serde_json::Value;

use super::{Event, Usage, limits, s, tool_summary, u, unwrap_api_error};

/// The events of one gemini line (already parsed as a JSON object).
pub(super) fn parse(v: &Value) -> Vec<Event> {
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
            let raw = v.pointer("/error/message").and_then(s);
            if !ok && let Some(m) = raw.filter(|m| limits::is_limit_message(m)) {
                events.push(limits::rate_limited(m, None));
            }
            let text = raw.map(|m| {
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
            let message = message.unwrap_or("error");
            if limits::is_limit_message(message) {
                events.push(limits::rate_limited(message, None));
            }
            events.push(Event::Error(message.to_owned()));
        }
        _ => {}
    }
    events
}
