//! Rate limits and usage limits in what agents report: which final error messages are one
//! (HTTP 429, `rate_limit_error`, `RESOURCE_EXHAUSTED`, "usage limit reached", "You've hit
//! your session limit"), and when the message says to retry: a wait ("try again in 30s",
//! "Suggested retry after 5s.") or a reset time ("resets 3pm (Europe/London)", "try again at
//! 2:00 PM", "usage limit reached|1760000000"). The wordings come from the CLIs' captured
//! output and their own sources (`tests/fixtures/rate-limits/README.md`).
//!
//! Owns the words and the clock arithmetic shared by the per-format parsers, which decide
//! *which* of their events is a final error (never a retry the CLI is doing by itself). Every
//! time here is checked: one in the past, or further ahead than [`MAX_AHEAD`], is dropped
//! (the caller then backs off on its own), so a garbled message can never park a session.

use std::time::Duration;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use super::Event;

/// The furthest ahead a reported retry time is believed: a weekly limit and a day to spare.
pub const MAX_AHEAD: Duration = Duration::from_secs(8 * 24 * 3600);

/// Whether a final error message tells of a rate or usage limit.
pub(super) fn is_limit_message(message: &str) -> bool {
    let lower = message.to_lowercase();
    const WORDS: &[&str] = &[
        "rate limit",
        "rate_limit",
        "ratelimit",
        "too many requests",
        "resource_exhausted",
        "resource has been exhausted",
        "usage limit",
        "usage_limit",
        "exceeded your current quota",
        "exhausted your daily quota",
        "quota exceeded",
        "limit reached",
    ];
    WORDS.iter().any(|w| lower.contains(w))
        || (lower.contains("hit your") && lower.contains("limit"))
        || has_status_429(&lower)
}

/// `429` as an HTTP status (`API Error: 429`, `(429)`, `status: 429`, `"code":429`, `429 Too
/// Many Requests`): standing alone, and said to be a status; `line 429` is not one.
fn has_status_429(text: &str) -> bool {
    text.match_indices("429").any(|(i, _)| {
        let before = &text[..i];
        let after = &text[i + 3..];
        let alone = !before
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
            && !after
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.');
        let near: String = before
            .chars()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let said = ["status", "error", "code", "http", "("]
            .iter()
            .any(|w| near.contains(w))
            || after.starts_with(" too many")
            || after.starts_with(')');
        alone && said
    })
}

/// The event for a final limit error: the message, and when to retry as far as the message
/// (or the caller's structured `retry_after`) tells.
pub(super) fn rate_limited(message: &str, retry_after: Option<Duration>) -> Event {
    let message = message.trim();
    let now = Zoned::now();
    Event::RateLimited {
        message: message.to_owned(),
        retry_at: reset_in_text(message, &now),
        retry_after: retry_after
            .or_else(|| wait_in_text(message))
            .and_then(sane_wait),
    }
}

/// A wait no longer than [`MAX_AHEAD`] (a zero wait means "now" and is kept).
pub fn sane_wait(wait: Duration) -> Option<Duration> {
    (wait <= MAX_AHEAD).then_some(wait)
}

/// A reset time after `now` and no further than [`MAX_AHEAD`].
pub fn sane_reset(at: Timestamp, now: Timestamp) -> Option<Timestamp> {
    let ahead = now.duration_until(at);
    (ahead.is_positive() && ahead.unsigned_abs() <= MAX_AHEAD).then_some(at)
}

/// An absolute reset time given as Unix seconds (or milliseconds, by their size).
pub(super) fn reset_at_epoch(value: i64, now: Timestamp) -> Option<Timestamp> {
    let at = if value > 100_000_000_000 {
        Timestamp::from_millisecond(value).ok()?
    } else {
        Timestamp::from_second(value).ok()?
    };
    sane_reset(at, now)
}

/// A `retry-after` header's value: seconds, or an HTTP date.
pub(super) fn retry_after_header(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::try_from_secs_f64(secs).ok())
            .flatten()
            .and_then(sane_wait);
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let at = sane_reset(at, now)?;
    Some(now.duration_until(at).unsigned_abs())
}

/// "try again in 30s", "Please retry in 43.412s", "Suggested retry after 5s.", "resets in
/// 2h 30m": the first wait the message states.
pub(super) fn wait_in_text(text: &str) -> Option<Duration> {
    let lower = text.to_lowercase();
    const MARKERS: &[&str] = &[
        "try again in ",
        "retry in ",
        "retry after ",
        "resets in ",
        "reset in ",
    ];
    MARKERS
        .iter()
        .filter_map(|m| lower.find(m).map(|i| &lower[i + m.len()..]))
        .find_map(parse_wait)
}

/// `30s`, `1.5s`, `6m0s`, `2h 30m`, `500ms`, `5 minutes`, `1 hour and 5 minutes`.
fn parse_wait(text: &str) -> Option<Duration> {
    let mut rest = text.trim_start();
    let mut total = 0.0f64;
    let mut parts = 0;
    loop {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let Ok(number) = rest[..digits].parse::<f64>() else {
            break;
        };
        let after = rest[digits..].trim_start();
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let seconds = match &after[..unit_len] {
            "ms" | "millisecond" | "milliseconds" => 0.001,
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86_400.0,
            _ => break,
        };
        total += number * seconds;
        parts += 1;
        rest = after[unit_len..].trim_start();
        rest = rest
            .strip_prefix("and ")
            .or_else(|| rest.strip_prefix(", "))
            .unwrap_or(rest);
    }
    (parts > 0 && total.is_finite())
        .then(|| Duration::try_from_secs_f64(total).ok())
        .flatten()
}

/// "usage limit reached|1760000000", "resets 3pm", "resets at 3:30pm (Europe/London)",
/// "resets Jan 5, 3pm (UTC)", "try again at 2:00 PM", "try again at Dec 29th, 2025 10:15 PM":
/// the reset time the message states, read in the zone it names or else `now`'s (the CLI
/// runs on this machine, in its zone).
pub(super) fn reset_in_text(text: &str, now: &Zoned) -> Option<Timestamp> {
    // Claude Code's older form: the reset time in Unix seconds after a bar.
    if let Some((_, epoch)) = text.split_once("limit reached|") {
        let digits: String = epoch.chars().take_while(char::is_ascii_digit).collect();
        return digits
            .parse()
            .ok()
            .and_then(|n| reset_at_epoch(n, now.timestamp()));
    }
    let lower = text.to_lowercase();
    const MARKERS: &[&str] = &["resets at ", "resets ", "reset at ", "try again at "];
    MARKERS
        .iter()
        .filter_map(|m| lower.find(m).map(|i| &lower[i + m.len()..]))
        .find_map(|rest| parse_reset(rest, now))
}

/// `[Mon D[th][, YYYY][,]] H[:MM][ ]am|pm [(Zone/Name)]` or a 24-hour `HH:MM`.
fn parse_reset(text: &str, now: &Zoned) -> Option<Timestamp> {
    let mut words = text.split_whitespace().peekable();
    let mut date: Option<(i8, i8, Option<i16>)> = None;
    if let Some(month) = words.peek().and_then(|w| month_number(w)) {
        words.next();
        let day: String = words
            .next()?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let day: i8 = day.parse().ok()?;
        let mut year = None;
        if let Some(y) = words
            .peek()
            .map(|w| w.trim_end_matches(','))
            .filter(|w| w.len() == 4)
            .and_then(|w| w.parse::<i16>().ok())
        {
            year = Some(y);
            words.next();
        }
        date = Some((month, day, year));
    }
    // The time, with its am/pm possibly a word of its own.
    let mut clock = words.next()?.trim_end_matches([',', '.', ';']).to_owned();
    if let Some(next) = words.peek()
        && matches!(next.trim_end_matches([',', '.', ';', ')']), "am" | "pm")
    {
        clock.push_str(next.trim_end_matches([',', '.', ';', ')']));
        words.next();
    }
    let time = parse_clock(&clock)?;
    let zone = match words.next() {
        Some(w) if w.starts_with('(') => {
            let name = w.trim_start_matches('(').trim_end_matches([')', '.', ',']);
            // The lowered name is looked up as written by the CLI (zone names are not
            // case-sensitive in the tz database lookup).
            TimeZone::get(name).ok()?
        }
        _ => now.time_zone().clone(),
    };
    let today = now.with_time_zone(zone.clone()).date();
    let at = match date {
        Some((month, day, year)) => {
            let year = year.unwrap_or(today.year());
            let at = Date::new(year, month, day)
                .ok()?
                .to_datetime(time)
                .to_zoned(zone)
                .ok()?;
            // "Jan 5" said in late December is next year's.
            if year == today.year() && at.timestamp() < now.timestamp() {
                at.checked_add(jiff::Span::new().years(1)).ok()?
            } else {
                at
            }
        }
        None => {
            let at = today.to_datetime(time).to_zoned(zone).ok()?;
            if at.timestamp() <= now.timestamp() {
                at.tomorrow().ok()?
            } else {
                at
            }
        }
    };
    sane_reset(at.timestamp(), now.timestamp())
}

/// `3pm`, `3:30pm`, `11am`, `2:00pm`, `15:00`.
fn parse_clock(text: &str) -> Option<Time> {
    let (digits, meridiem) = if let Some(t) = text.strip_suffix("am") {
        (t, Some(false))
    } else if let Some(t) = text.strip_suffix("pm") {
        (t, Some(true))
    } else {
        (text, None)
    };
    let (hour, minute) = match digits.split_once(':') {
        Some((h, m)) => (h.parse::<i8>().ok()?, m.parse::<i8>().ok()?),
        None if meridiem.is_some() => (digits.parse::<i8>().ok()?, 0),
        None => return None, // a bare number is not a time
    };
    let hour = match meridiem {
        Some(pm) if (1..=12).contains(&hour) => hour % 12 + if pm { 12 } else { 0 },
        Some(_) => return None,
        None => hour,
    };
    Time::new(hour, minute, 0, 0).ok()
}

fn month_number(word: &str) -> Option<i8> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let word = word.trim_end_matches([',', '.']);
    if word.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| word.starts_with(m))
        .map(|i| i as i8 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Zoned {
        text.parse().unwrap()
    }

    #[test]
    fn limit_messages_are_told_from_other_failures() {
        for yes in [
            "API Error: Request rejected (429) · This request would exceed your organization's rate limit",
            "exceeded retry limit, last status: 429 Too Many Requests",
            "[API Error: Resource has been exhausted (e.g. check quota).]",
            "You’ve hit your usage limit. Try again at 2:00 PM.",
            "You've hit your session limit · resets 3pm (UTC)",
            "Claude AI usage limit reached|1760000000",
            "5-hour limit reached ∙ resets 3pm",
            "{\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\"}}",
        ] {
            assert!(is_limit_message(yes), "{yes}");
        }
        for no in [
            "API Error: 400 scripted failure",
            "invalid_request_error: prompt is too long (14290 tokens)",
            "Error: tool failed at line 429.5",
            "Error: syntax error in main.rs at line 429 column 3",
            "code 4290",
            "File has not been read yet",
            "",
        ] {
            assert!(!is_limit_message(no), "{no}");
        }
    }

    #[test]
    fn waits_are_read_from_the_words() {
        let secs = |s: u64| Some(Duration::from_secs(s));
        assert_eq!(wait_in_text("Please try again in 30s. Visit"), secs(30));
        assert_eq!(
            wait_in_text("Suggested retry after 5s.. Max attempts"),
            secs(5)
        );
        assert_eq!(
            wait_in_text("Please retry in 43.412s."),
            Some(Duration::from_millis(43_412))
        );
        assert_eq!(wait_in_text("try again in 6m0s"), secs(360));
        assert_eq!(wait_in_text("resets in 2h 30m"), secs(9000));
        assert_eq!(
            wait_in_text("try again in 1 hour and 5 minutes"),
            secs(3900)
        );
        assert_eq!(
            wait_in_text("try again in 500ms"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(wait_in_text("try again in a while"), None);
        assert_eq!(wait_in_text("try again in -5s"), None);
        assert_eq!(wait_in_text("no wait here"), None);
    }

    #[test]
    fn reset_times_are_read_in_the_named_or_local_zone() {
        let now = at("2026-12-05T11:30:00+00:00[UTC]");
        let ts = |s: &str| Some(s.parse::<Timestamp>().unwrap());
        assert_eq!(
            reset_in_text("You've hit your session limit · resets 3pm (UTC)", &now),
            ts("2026-12-05T15:00:00Z")
        );
        // Before now today: tomorrow.
        assert_eq!(
            reset_in_text("resets 9:15am", &now),
            ts("2026-12-06T09:15:00Z")
        );
        assert_eq!(
            reset_in_text("resets 3pm (Europe/Paris)", &now),
            ts("2026-12-05T14:00:00Z")
        );
        assert_eq!(
            reset_in_text("or try again at 2:00 PM.", &now),
            ts("2026-12-05T14:00:00Z")
        );
        assert_eq!(
            reset_in_text(
                "You've hit your weekly limit · resets Dec 9, 3pm (UTC)",
                &now
            ),
            ts("2026-12-09T15:00:00Z")
        );
        assert_eq!(
            reset_in_text("Try again at Dec 7th, 2026 10:15 PM.", &now),
            ts("2026-12-07T22:15:00Z")
        );
        assert_eq!(
            reset_in_text("Claude AI usage limit reached|1796482800", &now),
            ts("2026-12-05T15:00:00Z")
        );
        assert_eq!(
            reset_in_text("resets 15:30", &now),
            ts("2026-12-05T15:30:00Z")
        );
    }

    #[test]
    fn bad_reset_times_give_none() {
        let now = at("2026-12-05T11:30:00+00:00[UTC]");
        for bad in [
            "usage limit reached|1000",             // in the past
            "usage limit reached|99999999999999",   // far ahead
            "usage limit reached|",                 // nothing
            "try again at Jan 1st, 2020 10:15 PM.", // in the past
            "resets Dec 30, 3pm",                   // more than 8 days ahead
            "resets 25pm",
            "resets 13:75",
            "resets 3pm (Mars/Olympus)",
            "resets soon",
            "resets 42",
            "try again at Feb 31st, 2027 1 PM",
        ] {
            assert_eq!(reset_in_text(bad, &now), None, "{bad}");
        }
    }

    #[test]
    fn huge_or_past_structured_values_give_none() {
        let now: Timestamp = "2026-12-05T11:30:00Z".parse().unwrap();
        assert_eq!(sane_wait(Duration::from_secs(10 * 86_400)), None);
        assert_eq!(retry_after_header("30", now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after_header("99999999999", now), None);
        assert_eq!(retry_after_header("-3", now), None);
        assert_eq!(retry_after_header("NaN", now), None);
        assert_eq!(retry_after_header("soon", now), None);
        assert_eq!(
            retry_after_header("Sat, 05 Dec 2026 11:31:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            retry_after_header("Sat, 05 Dec 2026 11:00:00 GMT", now),
            None
        );
        assert_eq!(reset_at_epoch(-5, now), None);
        assert_eq!(reset_at_epoch(i64::MAX, now), None);
        assert_eq!(
            reset_at_epoch(1_796_482_800_000, now),
            Some("2026-12-05T15:00:00Z".parse().unwrap())
        );
    }
}
