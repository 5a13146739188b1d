//! The five CLIs' captured rate-limit and usage-limit output (`tests/fixtures/rate-limits/`,
//! see its README) folded into an outcome: rate-limited, with the retry time they reported;
//! and their HTTP 400 and successful runs (`tests/fixtures/events/`): never rate-limited.

use std::time::Duration;

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use super::{Format, Outcome, RateLimit, parse_line, parse_stderr_line};

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/",
            $path
        ))
    };
}

/// A run's outcome from its stdout and stderr, as the supervisor folds them.
fn fold(format: Format, stdout: &str, stderr: &str) -> Outcome {
    let mut outcome = Outcome::default();
    for line in stdout.lines() {
        for event in parse_line(format, line) {
            outcome.apply(&event);
        }
    }
    for line in stderr.lines() {
        for event in parse_stderr_line(format, line) {
            outcome.apply(&event);
        }
    }
    outcome
}

fn limited(outcome: &Outcome) -> &RateLimit {
    assert_eq!(outcome.ok, Some(false), "{outcome:#?}");
    outcome
        .rate_limit
        .as_ref()
        .unwrap_or_else(|| panic!("not rate-limited: {outcome:#?}"))
}

/// `retry_at` is `wait` from now, give or take the test's own run time.
fn assert_in(limit: &RateLimit, wait: Duration) {
    let at = limit.retry_at.expect("a retry time");
    let from_now = Timestamp::now().duration_until(at).unsigned_abs();
    assert!(
        from_now <= wait && wait - from_now < Duration::from_secs(30),
        "{limit:?}: {from_now:?} from now, expected {wait:?}"
    );
}

/// The next time the clock shows `hour:minute` in `zone`.
fn next_at(zone: &TimeZone, hour: i8, minute: i8) -> Timestamp {
    let now = Zoned::now().with_time_zone(zone.clone());
    let today = now
        .date()
        .to_datetime(Time::new(hour, minute, 0, 0).unwrap())
        .to_zoned(zone.clone())
        .unwrap();
    if today.timestamp() <= now.timestamp() {
        today.tomorrow().unwrap().timestamp()
    } else {
        today.timestamp()
    }
}

#[test]
fn claude_gives_up_on_429_after_its_own_retries() {
    let outcome = fold(
        Format::Claude,
        fixture!("rate-limits/claude.stdout"),
        fixture!("rate-limits/claude.stderr"),
    );
    let limit = limited(&outcome);
    assert!(
        limit
            .message
            .starts_with("API Error: Request rejected (429)")
    );
    // Its ten `api_retry` lines said when *it* would retry, not when we should: nothing.
    assert_eq!(limit.retry_at, None);
}

#[test]
fn claude_usage_limit_resets_at_the_time_it_names() {
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    let reset = next_at(&berlin, 15, 0);
    let stdout = fixture!("rate-limits/claude-usage-limit.stdout")
        .replace("{RESET_EPOCH}", &reset.as_second().to_string());
    let outcome = fold(Format::Claude, &stdout, "");
    let limit = limited(&outcome);
    assert_eq!(
        limit.message,
        "You've hit your session limit · resets 3pm (Europe/Berlin)"
    );
    assert_eq!(limit.retry_at, Some(reset));

    let reset = Timestamp::now().as_second() + 2 * 3600;
    let stdout = fixture!("rate-limits/claude-usage-limit-legacy.stdout")
        .replace("{RESET_EPOCH}", &reset.to_string());
    let outcome = fold(Format::Claude, &stdout, "");
    assert_eq!(
        limited(&outcome).retry_at,
        Some(Timestamp::from_second(reset).unwrap())
    );
}

#[test]
fn codex_gives_up_after_five_reconnects() {
    let outcome = fold(
        Format::Codex,
        fixture!("rate-limits/codex.stdout"),
        fixture!("rate-limits/codex.stderr"),
    );
    let limit = limited(&outcome);
    assert_eq!(
        limit.message,
        "exceeded retry limit, last status: 429 Too Many Requests"
    );
    assert_eq!(limit.retry_at, None);
    // Its own retries are not what the run failed with.
    assert_eq!(outcome.error.as_deref(), Some(limit.message.as_str()));
}

#[test]
fn codex_usage_limit_says_when_in_local_time() {
    let outcome = fold(
        Format::Codex,
        fixture!("rate-limits/codex-usage-limit.stdout"),
        fixture!("rate-limits/codex-usage-limit.stderr"),
    );
    let limit = limited(&outcome);
    assert!(limit.message.contains("You’ve hit your usage limit"));
    assert_eq!(limit.retry_at, Some(next_at(&TimeZone::system(), 14, 0)));
}

#[test]
fn gemini_quota_suggests_a_retry_delay() {
    let outcome = fold(
        Format::Gemini,
        fixture!("rate-limits/gemini.stdout"),
        fixture!("rate-limits/gemini.stderr"),
    );
    let limit = limited(&outcome);
    assert!(limit.message.contains("Resource has been exhausted"));
    assert_in(limit, Duration::from_secs(5));
}

#[test]
fn gemini_daily_quota_gives_no_time() {
    let outcome = fold(
        Format::Gemini,
        fixture!("rate-limits/gemini-usage-limit.stdout"),
        fixture!("rate-limits/gemini-usage-limit.stderr"),
    );
    let limit = limited(&outcome);
    assert!(limit.message.contains("exhausted your daily quota"));
    assert_eq!(limit.retry_at, None);
}

#[test]
fn opencode_reports_the_answers_retry_after_header() {
    let outcome = fold(
        Format::Opencode,
        fixture!("rate-limits/opencode.stdout"),
        fixture!("rate-limits/opencode.stderr"),
    );
    let limit = limited(&outcome);
    assert!(limit.message.starts_with("Rate limit reached for requests"));
    // The header (5 s) wins over the words of the message ("try again in 30s").
    assert_in(limit, Duration::from_secs(5));
}

#[test]
fn aider_prints_its_last_rate_limit_error_and_exits_0() {
    let outcome = fold(
        Format::Aider,
        fixture!("rate-limits/aider.stdout"),
        fixture!("rate-limits/aider.stderr"),
    );
    let limit = limited(&outcome);
    assert_eq!(limit.message, "Rate limit reached for");
    assert_eq!(limit.retry_at, None);
}

#[test]
fn errors_that_are_not_limits_and_good_runs_are_never_rate_limited() {
    for (format, out, err) in [
        (
            Format::Claude,
            fixture!("events/claude/error.out"),
            fixture!("events/claude/error.err"),
        ),
        (
            Format::Codex,
            fixture!("events/codex/error.out"),
            fixture!("events/codex/error.err"),
        ),
        (
            Format::Gemini,
            fixture!("events/gemini/error.out"),
            fixture!("events/gemini/error.err"),
        ),
        (
            Format::Opencode,
            fixture!("events/opencode/error.out"),
            fixture!("events/opencode/error.err"),
        ),
        (
            Format::Aider,
            fixture!("events/aider/error.out"),
            fixture!("events/aider/error.err"),
        ),
        (Format::Claude, fixture!("events/claude/run1.out"), ""),
        (Format::Codex, fixture!("events/codex/run1.out"), ""),
        (Format::Gemini, fixture!("events/gemini/run1.out"), ""),
        (Format::Opencode, fixture!("events/opencode/run1.out"), ""),
        (Format::Aider, fixture!("events/aider/run1.out"), ""),
    ] {
        let outcome = fold(format, out, err);
        assert_eq!(outcome.rate_limit, None, "{format:?}: {outcome:#?}");
    }
    // A plain agent's words are never read as a limit: it may say anything.
    let text = fold(
        Format::Text,
        "HTTP 429: rate limit reached, try again in 5s",
        "",
    );
    assert_eq!(text.rate_limit, None);
}

#[test]
fn a_limit_the_cli_got_through_is_forgotten() {
    // claude retried a 429 by itself and then answered: no limit, the run succeeded.
    let stdout = [
        r#"{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":5000,"error_status":429,"error":"rate_limit"}"#,
        r#"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":4102444800,"rateLimitType":"five_hour"}}"#,
        r#"{"type":"result","subtype":"success","is_error":false,"result":"Done.","num_turns":1}"#,
    ]
    .join("\n");
    let outcome = fold(Format::Claude, &stdout, "");
    assert_eq!(outcome.ok, Some(true));
    assert_eq!(outcome.rate_limit, None);
}

#[test]
fn garbled_limits_still_count_with_no_time() {
    for (format, line) in [
        (
            Format::Claude,
            r#"{"type":"result","is_error":true,"api_error_status":429,"result":"API Error: 429 ###"}"#,
        ),
        (
            Format::Claude,
            r#"{"type":"result","is_error":true,"result":"Claude AI usage limit reached|12"}"#,
        ),
        (
            Format::Claude,
            r#"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":"soon"}}"#,
        ),
        (
            Format::Codex,
            r#"{"type":"turn.failed","error":{"message":"You've hit your usage limit. Try again at 99:99 XM."}}"#,
        ),
        (
            Format::Gemini,
            r#"{"type":"result","status":"error","error":{"message":"RESOURCE_EXHAUSTED retry after 999999999s"}}"#,
        ),
        (
            Format::Opencode,
            r#"{"type":"error","error":{"name":"APIError","data":{"message":"slow down","statusCode":429,"responseHeaders":{"retry-after":"-1"}}}}"#,
        ),
        (
            Format::Opencode,
            r#"{"type":"error","error":{"name":"APIError","data":{"message":"slow down","statusCode":429,"responseHeaders":{"retry-after":"1e300"}}}}"#,
        ),
    ] {
        let outcome = fold(format, line, "");
        let limit = outcome
            .rate_limit
            .as_ref()
            .unwrap_or_else(|| panic!("{line}"));
        assert_eq!(limit.retry_at, None, "{line}");
    }
}

#[test]
fn a_retry_after_ms_header_is_read_in_milliseconds() {
    let line = r#"{"type":"error","error":{"name":"APIError","data":{"message":"Too Many Requests","statusCode":429,"responseHeaders":{"retry-after-ms":"90000","retry-after":"5"}}}}"#;
    let outcome = fold(Format::Opencode, line, "");
    assert_in(limited(&outcome), Duration::from_secs(90));
}

#[test]
fn the_record_json_of_other_runs_is_unchanged() {
    let outcome = fold(Format::Claude, fixture!("events/claude/run1.out"), "");
    let json = serde_json::to_value(&outcome).unwrap();
    assert!(json.get("rate_limit").is_none(), "{json}");
    let limited = fold(Format::Codex, fixture!("rate-limits/codex.stdout"), "");
    let json = serde_json::to_value(&limited).unwrap();
    assert_eq!(
        json["rate_limit"],
        serde_json::json!({"message": "exceeded retry limit, last status: 429 Too Many Requests"})
    );
    let back: Outcome = serde_json::from_value(json).unwrap();
    assert_eq!(back, limited);
}
