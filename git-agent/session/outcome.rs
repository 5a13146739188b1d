//! What the record keeps of a run's outcome: the agent's session id, turns, result, error,
//! refused permissions, tokens and cost ([`Outcome`]), the rate or usage limit it ended on
//! ([`RateLimit`]), and the event-stream [`Format`] its output is read in.
//!
//! Plain record data whose serde shapes are part of the JSON schema. How an agent's output is
//! parsed and folded into an [`Outcome`] lives with the parsers (`crate::agents::output`).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

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

/// Tokens and cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens. What they count is the CLI's: claude's exclude the cached ones, codex's
    /// and gemini's include them (`crate::agents::pricing` knows which).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// What it cost in US dollars: as the agent reported it, or (`cost_estimated`) as priced
    /// from its tokens (`crate::agents::pricing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// `cost_usd` is our estimate from the tokens, not a cost the agent reported (absent when
    /// false). A sum is estimated if any part of it is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cost_estimated: bool,
}

/// Adds two counts; unknown plus unknown stays unknown (the format parsers sum parts too).
pub(crate) fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
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
            cost_estimated: self.cost_estimated || other.cost_estimated,
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
    /// The model the agent ran, as its CLI named it (or as its arguments or configuration
    /// name it, for codex, whose stream does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The last thing the agent said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_text: Option<String>,
    /// Permissions the agent was refused (tool and what it wanted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied: Vec<String>,
    /// The rate or usage limit the run failed on, if it did (absent from every other run's
    /// JSON). A run that went on to succeed has none: the CLI's own retries got through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Tokens by model while the run is followed, to price them (not recorded): claude's per
    /// message, gemini's per model.
    #[serde(skip)]
    pub by_model: Vec<(String, Usage)>,
    /// The message claude is streaming (its id and usage so far): its repeats replace it.
    #[serde(skip)]
    pub message: Option<(String, String, Usage)>,
}

/// A rate limit or usage limit an agent's CLI gave up on (HTTP 429, `rate_limit_error`,
/// `RESOURCE_EXHAUSTED`, "usage limit reached … resets at …"), after its own retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    /// What the CLI said, as it said it.
    pub message: String,
    /// When to try again: the reset time the CLI reported, or the moment its reported wait
    /// (`retry-after`, "try again in 30s") ends. None when it did not say, or said something
    /// unbelievable (in the past, or more than 8 days ahead): back off instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<Timestamp>,
}
