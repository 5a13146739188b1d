//! What an agent says about itself: `waiting` (it needs the user), `working`, or `done`.
//!
//! Two ways in, one effect: the agent (or one of its hooks) runs
//! `git agent notify <waiting|working|done> [MESSAGE]`, or writes the same words, or JSON
//! `{"state": "waiting", "message": "…"}`, to the file named by `GIT_AGENT_STATUS_FILE`
//! (the supervisor checks it every 50 ms). Either way the session's state becomes `waiting`
//! (for `waiting` and `done`: the user is needed) or `running` (for `working`), the message is
//! kept, and an event is logged. A report about a session that has ended changes nothing.

use anyhow::Result;

use crate::error::Failure;
use crate::session::{AgentStatus, State};
use crate::state::{Event, StateDir};

/// The words an agent may report.
pub const STATES: &[&str] = &["waiting", "working", "done"];

/// Parses the status file: `waiting [message]` or `{"state": …, "message": …}`.
pub fn parse(text: &str) -> Option<(String, Option<String>)> {
    let text = text.trim();
    if text.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let state = v.get("state")?.as_str()?.to_owned();
        let message = v.get("message").and_then(|m| m.as_str()).map(str::to_owned);
        return STATES.contains(&state.as_str()).then_some((state, message));
    }
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let rest = rest.trim();
    STATES
        .contains(&word)
        .then(|| (word.to_owned(), (!rest.is_empty()).then(|| rest.to_owned())))
}

/// Checks a status word given on the command line.
pub fn validate(word: &str) -> Result<()> {
    if STATES.contains(&word) {
        return Ok(());
    }
    Err(Failure::usage(format!("unknown status '{word}'"))
        .hint(format!("use one of: {}", STATES.join(", ")))
        .into())
}

/// Records a status report. Returns the state the session entered if the report moved it
/// to another one (a report that only changes the message is no transition), `None` if it
/// did not, or if the session has already ended.
pub fn report(
    state: &StateDir,
    name: &str,
    word: &str,
    message: Option<String>,
) -> Result<Option<State>> {
    let new_state = if word == "working" {
        State::Running
    } else {
        State::Waiting
    };
    let mut moved = false;
    let applied = state.update(name, |s| {
        if !matches!(s.state, State::Running | State::Waiting) {
            return Ok(false);
        }
        moved = s.state != new_state;
        let unchanged = s.state == new_state
            && s.status
                .as_ref()
                .is_some_and(|st| st.state == word && st.message == message);
        if unchanged {
            return Ok(false);
        }
        s.state = new_state;
        s.status = Some(AgentStatus {
            state: word.to_owned(),
            message: message.clone(),
            since: crate::time::now(),
        });
        Ok(true)
    })?;
    if applied {
        let detail = message.map_or_else(|| word.to_owned(), |m| format!("{word}: {m}"));
        state.append_event(&Event::state(name, new_state, Some(detail)))?;
    }
    Ok((applied && moved).then_some(new_state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_files() {
        assert_eq!(parse("waiting\n"), Some(("waiting".into(), None)));
        assert_eq!(
            parse("waiting  need a token \n"),
            Some(("waiting".into(), Some("need a token".into())))
        );
        assert_eq!(
            parse(r#"{"state":"done","message":"ok"}"#),
            Some(("done".into(), Some("ok".into())))
        );
        assert_eq!(parse(r#"{"state":"dancing"}"#), None);
        assert_eq!(parse("sleeping"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("{broken"), None);
    }
}
