//! `claude -p --output-format stream-json`: one JSON object a line. The session id comes with
//! `system` and `result` lines; the `result` line ends the run with its cost and usage. A rate
//! limit it gave up on is a failed `result` with `api_error_status: 429` (its own retries are
//! `api_retry` lines), or a usage-limit wording ("You've hit your session limit · resets 3pm
//! (Europe/Berlin)", "Claude AI usage limit reached|1753441200"); subscribers also get a
//! `rate_limit_event` whose `status` is `rejected` with the reset time (`resetsAt`).
//!
//! The model is named by `system` `init` (`claude-opus-4-8[1m]`) and each assistant line's
//! `message.model`; each assistant line also carries its message's `usage` so far (the
//! same message spans several lines, one per content block), which prices the run before
//! its `result` reports the real cost. A message's `cache_creation_input_tokens` count as
//! input there (cache writes cost at least that), its `cache_read_input_tokens` as cached.
//!
//! Owns reading claude's lines into [`Event`]s; it keeps no state and must not touch the
//! outcome or the log (the accumulator and the renderer do).

use serde_json::Value;

use super::outcome::add;
use super::{Event, Usage, limits, s, tool_summary, u};

/// The events of one claude line (already parsed as a JSON object).
pub(super) fn parse(v: &Value) -> Vec<Event> {
    let mut events = Vec::new();
    let kind = v.get("type").and_then(s).unwrap_or("");
    if matches!(kind, "system" | "result")
        && let Some(id) = v.get("session_id").and_then(s)
    {
        events.push(Event::Session(id.to_owned()));
    }
    match kind {
        "system" if v.get("subtype").and_then(s) == Some("init") => {
            if let Some(model) = model_of(v.get("model")) {
                events.push(Event::Model(model));
            }
        }
        "system" if v.get("subtype").and_then(s) == Some("api_retry") => {
            let status = v
                .get("error_status")
                .map_or_else(String::new, |e| format!(" (HTTP {e})"));
            let attempt = v.get("attempt").and_then(u).unwrap_or(0);
            events.push(Event::Retry(format!("API error{status}, retry {attempt}")));
        }
        // Sent with every answer to subscribers (`allowed`, `allowed_warning`); `rejected`
        // means this request was refused until `resetsAt`.
        "rate_limit_event" => {
            let info = v.get("rate_limit_info").unwrap_or(&Value::Null);
            if info.get("status").and_then(s) == Some("rejected") {
                let kind = info.get("rateLimitType").and_then(s).unwrap_or("usage");
                let now = crate::time::now();
                events.push(Event::RateLimited {
                    message: format!("{kind} limit reached"),
                    retry_at: info
                        .get("resetsAt")
                        .and_then(Value::as_i64)
                        .and_then(|at| limits::reset_at_epoch(at, now)),
                    retry_after: None,
                });
            }
        }
        "assistant" => assistant(v, &mut events),
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
                    cost_estimated: false,
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
            let status = v.get("api_error_status").and_then(u);
            if is_error
                && let Some(t) = text.as_deref()
                && (status == Some(429) || limits::is_limit_message(t))
            {
                events.push(limits::rate_limited(t, None));
            }
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

/// An assistant line: the model, its message's tokens so far, what it said, its tool calls.
fn assistant(v: &Value, events: &mut Vec<Event>) {
    let model = model_of(v.pointer("/message/model"));
    if let Some(m) = &model {
        events.push(Event::Model(m.clone()));
    }
    if let (Some(id), Some(usage)) = (
        v.pointer("/message/id").and_then(s),
        v.pointer("/message/usage").filter(|u| u.is_object()),
    ) {
        events.push(Event::MessageUsage {
            id: id.to_owned(),
            model,
            usage: Usage {
                input_tokens: add(
                    usage.get("input_tokens").and_then(u),
                    usage.get("cache_creation_input_tokens").and_then(u),
                ),
                output_tokens: usage.get("output_tokens").and_then(u),
                cached_tokens: usage.get("cache_read_input_tokens").and_then(u),
                ..Usage::default()
            },
        });
    }
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

/// A model name claude reported; not its placeholder for messages no model wrote.
fn model_of(v: Option<&Value>) -> Option<String> {
    v.and_then(s)
        .map(str::trim)
        .filter(|m| !m.is_empty() && !m.starts_with('<'))
        .map(str::to_owned)
}
