//! Timestamps (RFC 3339, UTC) and human durations: `--timeout 30m`, "ran 3m12s", "5m ago".

use std::time::Duration;

use anyhow::Result;
use jiff::Timestamp;

use crate::error::Failure;

/// The current time.
pub fn now() -> Timestamp {
    Timestamp::now()
}

/// Parses `90`, `90s`, `30m`, `1h30m`, `2h`, `1d`, `500ms`. A bare number means seconds.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let invalid = || {
        Failure::usage(format!("invalid duration '{text}'"))
            .hint("use a number with a unit, e.g. 90s, 30m, 1h30m, 2h or 1d")
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid().into());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid().into());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(number),
            "s" | "sec" | "secs" => Duration::from_secs(number),
            "m" | "min" | "mins" => Duration::from_secs(number.saturating_mul(60)),
            "h" | "hr" | "hrs" => Duration::from_secs(number.saturating_mul(3600)),
            "d" | "day" | "days" => Duration::from_secs(number.saturating_mul(86_400)),
            _ => return Err(invalid().into()),
        };
        total = total.saturating_add(part);
    }
    Ok(total)
}

/// Parses an optional duration flag.
pub fn parse_flag(text: Option<&str>) -> Result<Option<Duration>> {
    text.map(parse_duration).transpose()
}

/// `45s`, `3m12s`, `1h05m`, `2d03h`: two units at most, for tables.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        if d < Duration::from_secs(1) && !d.is_zero() {
            return format!("{}ms", d.as_millis());
        }
        return format!("{secs}s");
    }
    let (days, hours, mins, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if days > 0 {
        format!("{days}d{hours:02}h")
    } else if hours > 0 {
        format!("{hours}h{mins:02}m")
    } else {
        format!("{mins}m{s:02}s")
    }
}

/// `2026-11-21 02:56:51 UTC`, for people.
pub fn format_timestamp(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The time between two timestamps (zero if `end` is earlier).
pub fn between(start: Timestamp, end: Timestamp) -> Duration {
    Duration::try_from(end.duration_since(start)).unwrap_or(Duration::ZERO)
}

/// `5m ago`, one unit, for tables.
pub fn format_ago(then: Timestamp, now: Timestamp) -> String {
    let secs = between(then, now).as_secs();
    let text = match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    };
    format!("{text} ago")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        for bad in ["", "m", "3x", "-1", "1.5h", "h1"] {
            assert!(parse_duration(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn formats_durations() {
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_secs(192)), "3m12s");
        assert_eq!(format_duration(Duration::from_secs(3900)), "1h05m");
        assert_eq!(
            format_duration(Duration::from_secs(2 * 86_400 + 3 * 3600)),
            "2d03h"
        );
        assert_eq!(format_duration(Duration::from_millis(120)), "120ms");
    }
}
