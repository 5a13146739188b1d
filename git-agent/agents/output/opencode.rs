//! `opencode run --format json`: one JSON object a line, each with the `sessionID`;
//! `step_finish` ends a step with its cost. It retries by itself silently; a rate limit it
//! gave up on is an `error` with `statusCode: 429` and the answer's `responseHeaders`
//! (`retry-after`, `retry-after-ms`). Refused permissions are reported on stderr, and a
//! run cut short by one still exits 0, so the end of the stream matters too.
//!
//! Owns reading opencode's lines (stdout and stderr) into [`Event`]s and what the end of its
//! stream means; it must not touch the log or the renderer.

use serde_json::Value;

use super::outcome::add;
use super::{Event, Outcome, Usage, limits, s, tool_summary, u};

/// The events of one opencode line (already parsed as a JSON object).
pub(super) fn parse(v: &Value) -> Vec<Event> {
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
                    cost_estimated: false,
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
            let data = v.pointer("/error/data").unwrap_or(&Value::Null);
            if data.get("statusCode").and_then(u) == Some(429) || limits::is_limit_message(message)
            {
                let headers = data.get("responseHeaders").unwrap_or(&Value::Null);
                let now = crate::time::now();
                let header = |name: &str| headers.get(name).and_then(s);
                let retry_after = header("retry-after-ms")
                    .and_then(|ms| ms.trim().parse::<f64>().ok())
                    .and_then(|ms| limits::retry_after_header(&(ms / 1000.0).to_string(), now))
                    .or_else(|| {
                        header("retry-after").and_then(|h| limits::retry_after_header(h, now))
                    });
                events.push(limits::rate_limited(message, retry_after));
            }
            events.push(Event::Error(message.to_owned()));
        }
        _ => {}
    }
    events
}

/// What opencode says on stderr: the permissions it refused.
pub(super) fn parse_stderr(line: &str) -> Vec<Event> {
    // `permission requested: external_directory (/path/*); auto-rejecting`
    line.strip_prefix("permission requested: ")
        .and_then(|rest| rest.strip_suffix("; auto-rejecting"))
        .map(|what| vec![Event::Denied(what.to_owned())])
        .unwrap_or_default()
}

/// opencode ends a run early, with exit 0, when it rejects a permission; a run that never
/// reached its final `stop` step did not finish.
pub(super) fn end_of_stream(outcome: &mut Outcome) {
    if outcome.ok.is_none() {
        let why = outcome.denied.first().map_or_else(String::new, |d| {
            format!(" after a refused permission ({d})")
        });
        outcome.apply(&Event::Error(format!(
            "opencode stopped before finishing{why}"
        )));
    }
}
