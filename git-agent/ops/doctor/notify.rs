//! Notification settings that cannot be read: a notification is never sent on a setting we
//! do not understand (see [`crate::notify`]), so the doctor names it.

use super::Finding;
use crate::git::repo::Config;

/// A bad `agent.notify` value, words in `agent.notify.on` that name no state, an
/// `agent.notifyTimeout` that is no duration.
pub(super) fn check_settings(config: &Config, findings: &mut Vec<Finding>) {
    if config.boolean("agent.notify").is_err() {
        let value = config.string("agent.notify").unwrap_or_default();
        findings.push(Finding::new(
            "notify-config",
            None,
            format!(
                "agent.notify = '{value}' is not on or off: no notification is sent (git config agent.notify on)"
            ),
        ));
    }
    if let Err(err) = config.duration("agent.notifyTimeout") {
        findings.push(Finding::new(
            "notify-config",
            None,
            format!(
                "agent.notifyTimeout: {}: a notification command is given the default 30s",
                crate::error::Report::from_error(&err).message
            ),
        ));
    }
    if let Some(list) = config.string("agent.notify.on") {
        let unknown: Vec<&str> = crate::notify::words(&list)
            .filter(|w| {
                !crate::notify::WORDS
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(w))
            })
            .collect();
        if !unknown.is_empty() {
            findings.push(Finding::new(
                "notify-config",
                None,
                format!(
                    "agent.notify.on names no state: {} (use: {})",
                    unknown.join(", "),
                    crate::notify::WORDS.join(", ")
                ),
            ));
        }
    }
}
