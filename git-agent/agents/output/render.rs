//! Turning a raw log back into text for people (`git agent logs`, `show`): the events of each
//! line as text, tool calls and errors marked, streamed deltas joined into lines, protocol
//! chatter dropped.
//!
//! Owns that rendering; it reads lines through [`parse_line`] and must not keep any fact of the
//! run (the outcome does).

use serde_json::Value;

use super::{Event, Format, aider, parse_line};

/// Turns a raw log back into text for people, line by line, keeping the state needed to join
/// streamed deltas.
#[derive(Debug)]
pub struct Renderer {
    format: Format,
    open_line: bool,
}

impl Renderer {
    pub fn new(format: Format) -> Self {
        Self {
            format,
            open_line: false,
        }
    }

    /// The text to show for one raw line (may be empty: the line carries nothing to read).
    pub fn line(&mut self, raw: &str) -> String {
        let raw = raw.trim_end_matches(['\n', '\r']);
        let is_structured = matches!(
            self.format,
            Format::Claude | Format::Codex | Format::Gemini | Format::Opencode
        );
        let events = parse_line(self.format, raw);
        if events.is_empty() {
            if is_structured
                && serde_json::from_str::<Value>(raw.trim()).is_ok_and(|v| v.is_object())
            {
                return String::new(); // protocol chatter
            }
            if self.format == Format::Aider
                && (raw.trim().is_empty() || aider::is_aider_chrome(raw.trim()))
            {
                return format!("{}{raw}\n", self.close());
            }
            return format!("{}{raw}\n", self.close());
        }
        let mut out = String::new();
        for event in events {
            match event {
                Event::Text {
                    text,
                    partial: true,
                } => {
                    out.push_str(&text);
                    self.open_line = true;
                }
                Event::Text {
                    text,
                    partial: false,
                } => {
                    out.push_str(&self.close());
                    out.push_str(text.trim_end());
                    out.push('\n');
                }
                Event::Tool(summary) => {
                    out.push_str(&self.close());
                    out.push_str(&format!("  > {summary}\n"));
                }
                Event::Retry(m) => {
                    out.push_str(&self.close());
                    out.push_str(&format!("  (retrying: {m})\n"));
                }
                Event::Error(m) => {
                    out.push_str(&self.close());
                    out.push_str(&format!("error: {m}\n"));
                }
                Event::Result {
                    ok: false,
                    text: Some(t),
                    ..
                } => {
                    out.push_str(&self.close());
                    out.push_str(&format!("error: {t}\n"));
                }
                Event::Turn if self.format == Format::Aider => {
                    // Keep aider's own token line: it is what the user would have seen.
                    out.push_str(&self.close());
                    out.push_str(raw.trim());
                    out.push('\n');
                }
                _ => {}
            }
        }
        out
    }

    /// Ends a line left open by streamed deltas.
    pub fn close(&mut self) -> String {
        if std::mem::take(&mut self.open_line) {
            "\n".to_owned()
        } else {
            String::new()
        }
    }
}
