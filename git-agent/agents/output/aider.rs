//! aider's plain-text output: no session id; a `Tokens: … Cost: …` line ends each message
//! with its tokens and the session's running cost; a `litellm.…Error` line is an error (a
//! `litellm.RateLimitError` a rate limit: aider prints one per attempt, the last is final,
//! and exits 0; the message is wrapped at 80 columns, so its "try again in" is lost); its
//! own status lines (chrome) are not the model's words.
//!
//! Owns reading aider's lines into [`Event`]s and knowing its chrome; it must not touch the
//! outcome or the log.

use super::{Event, Usage, limits};

/// The events of one line aider printed.
pub(super) fn parse(line: &str) -> Vec<Event> {
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
        let mut events = Vec::new();
        if limits::is_limit_message(trimmed) {
            events.push(limits::rate_limited(message, None));
        }
        events.push(Event::Error(message.to_owned()));
        return events;
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
pub(super) fn is_aider_chrome(line: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::super::{Format, Outcome, Usage, parse_line};

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
                cost_usd: Some(0.0125),
                cost_estimated: false,
            }
        );
        assert_eq!(outcome.turns, 2);
    }
}
