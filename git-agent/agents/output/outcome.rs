//! The facts kept of a run, whatever the agent's format: its session id, turns, final result,
//! error, refused permissions, tokens and cost ([`Outcome`], folded from [`Event`]s), and how a
//! cost is shown.
//!
//! Owns the accumulator; it must not parse any format (the per-format files do) nor render.

use serde::{Deserialize, Serialize};

use super::Event;

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

/// Adds two counts; unknown plus unknown stays unknown (the format parsers sum parts too).
pub(super) fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_formatted() {
        assert_eq!(format_cost(0.019365), "$0.019");
        assert_eq!(format_cost(0.00083), "$0.0008");
        assert_eq!(format_cost(1.234), "$1.23");
    }
}
