//! The facts kept of a run, whatever the agent's format: its session id, turns, final result,
//! error, refused permissions, tokens and cost, the rate limit it ended on ([`Outcome`], folded
//! from [`Event`]s), and how a cost is shown.
//!
//! Owns the accumulator; it must not parse any format (the per-format files do) nor render.

use super::Event;
pub use crate::session::Outcome;
pub(super) use crate::session::outcome::add;
use crate::session::{RateLimit, Usage};

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
            Event::Turn => {
                // A turn the model answered: any limit before it was got through.
                self.rate_limit = None;
                self.turns += 1;
            }
            Event::Usage { usage, total } => {
                self.usage = if *total {
                    self.usage_total(usage)
                } else {
                    self.usage.plus(usage)
                };
                if usage.cost_usd.is_some() && !usage.cost_estimated {
                    // A reported cost always wins over our estimate.
                    self.usage.cost_estimated = false;
                }
            }
            Event::Model(model) => {
                if self.model.as_deref() == Some(model) {
                    return false;
                }
                self.model = Some(model.clone());
            }
            Event::MessageUsage { id, model, usage } => {
                let model = model
                    .clone()
                    .or_else(|| self.model.clone())
                    .unwrap_or_default();
                let earlier = match self.message.take() {
                    Some((last, m, u)) if last == *id && m == model => Some(u),
                    _ => None,
                };
                let zero = Usage::default();
                let earlier = earlier.as_ref().unwrap_or(&zero);
                self.usage = replaced(&self.usage, earlier, usage);
                match self.by_model.iter_mut().find(|(m, _)| *m == model) {
                    Some((_, u)) => *u = replaced(u, earlier, usage),
                    None => self.by_model.push((model.clone(), *usage)),
                }
                self.message = Some((id.clone(), model, *usage));
            }
            Event::ModelUsage { model, usage } => {
                match self.by_model.iter_mut().find(|(m, _)| m == model) {
                    Some((_, u)) => *u = *usage,
                    None => self.by_model.push((model.clone(), *usage)),
                }
                return false;
            }
            Event::Result { ok, text, turns } => {
                if *ok && self.ok != Some(false) {
                    // The CLI's own retries got through after all.
                    self.rate_limit = None;
                }
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
            Event::RateLimited {
                message,
                retry_at,
                retry_after,
            } => {
                let now = crate::time::now();
                let waited = retry_after.and_then(|wait| now.checked_add(wait).ok());
                // A later report of the same limit may lack the time an earlier one gave
                // (claude's final result after its `rate_limit_event`).
                let earlier = self.rate_limit.as_ref().and_then(|r| r.retry_at);
                let limit = RateLimit {
                    message: clip(message),
                    retry_at: retry_at
                        .or(waited)
                        .or(earlier)
                        .and_then(|at| super::limits::sane_reset(at, now)),
                };
                if self.rate_limit.as_ref() == Some(&limit) {
                    return false;
                }
                self.rate_limit = Some(limit);
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
            cost_estimated: if total.cost_usd.is_some() {
                total.cost_estimated
            } else {
                self.usage.cost_estimated
            },
        }
    }
}

/// `total` with the tokens of `earlier` taken out and those of `now` put in (a streamed
/// message reported again).
fn replaced(total: &Usage, earlier: &Usage, now: &Usage) -> Usage {
    let swap = |t: Option<u64>, e: Option<u64>, n: Option<u64>| {
        add(t.map(|t| t.saturating_sub(e.unwrap_or(0))), n)
    };
    Usage {
        input_tokens: swap(total.input_tokens, earlier.input_tokens, now.input_tokens),
        output_tokens: swap(
            total.output_tokens,
            earlier.output_tokens,
            now.output_tokens,
        ),
        cached_tokens: swap(
            total.cached_tokens,
            earlier.cached_tokens,
            now.cached_tokens,
        ),
        ..*total
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

/// What was spent, for people: `$0.0194`, or `~$0.12 (estimated)` when priced from tokens.
pub fn format_spend(usage: &Usage) -> Option<String> {
    let usd = usage.cost_usd?;
    Some(if usage.cost_estimated {
        format!("~{} (estimated)", format_cost(usd))
    } else {
        format_cost(usd)
    })
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
