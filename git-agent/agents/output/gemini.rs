//! `gemini -p --output-format stream-json`: one JSON object a line. `init` gives the session
//! id; `result` ends the run with its stats. Its own retries go to stderr ("Attempt 3 failed:
//! … Retrying after 21800ms..."); a quota it gave up on is a failed `result` ("[API Error:
//! Resource has been exhausted (e.g. check quota).\nSuggested retry after 5s.]", "You have
//! exhausted your daily quota on this model.").
//!
//! `init` names the model asked for (`auto` when gemini routes each request itself); the
//! `result` stats give the tokens per model actually used (`stats.models`: the router's
//! flash-lite and the main model), which price the run. Input tokens include the cached.
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
            if let Some(model) = v.get("model").and_then(s).filter(|m| !is_routed(m)) {
                events.push(Event::Model(model.to_owned()));
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
            let models = stats.get("models").and_then(Value::as_object);
            let mut main: Option<(&str, u64)> = None;
            for (model, used) in models.into_iter().flatten() {
                let usage = tokens(used);
                let total = used.get("total_tokens").and_then(u).unwrap_or(0);
                if main.is_none_or(|(_, most)| total > most) {
                    main = Some((model, total));
                }
                events.push(Event::ModelUsage {
                    model: model.clone(),
                    usage,
                });
            }
            if let Some((model, _)) = main {
                events.push(Event::Model(model.to_owned()));
            }
            events.push(Event::Usage {
                usage: tokens(stats),
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

/// The tokens of a `stats` object (the run's, or one model's).
fn tokens(stats: &Value) -> Usage {
    Usage {
        input_tokens: stats.get("input_tokens").and_then(u),
        output_tokens: stats.get("output_tokens").and_then(u),
        cached_tokens: stats.get("cached").and_then(u),
        ..Usage::default()
    }
}

/// `auto` (and `auto-…`): gemini picks a model per request; the stats name them.
fn is_routed(model: &str) -> bool {
    model == "auto" || model.starts_with("auto-")
}
