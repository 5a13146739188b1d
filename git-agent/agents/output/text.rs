//! Any other agent (`text`, and a command after `--`): plain text with no structure, so every
//! non-empty line, on stdout or stderr, is something it said; only the exit code tells the end.
//!
//! Owns that reading; it must not touch the outcome or the log.

use super::Event;

/// A plain-text agent: every non-empty line is something it said.
pub(super) fn parse(line: &str) -> Vec<Event> {
    let line = line.trim();
    if line.is_empty() {
        return Vec::new();
    }
    vec![Event::Text {
        text: line.to_owned(),
        partial: false,
    }]
}
