//! The date range a page or export covers: `from` and `to` as `YYYY-MM-DD` (UTC, both days
//! included), by default the last `default_days` days. Pure.

use serde::Serialize;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// A range of whole UTC days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Range {
    /// First day, as days since 1970-01-01.
    pub from_day: i64,
    /// Last day (included).
    pub to_day: i64,
}

/// Why a range is refused (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRange {
    /// Not `YYYY-MM-DD`.
    #[error("'{0}' is not a date; use YYYY-MM-DD")]
    NotADate(String),
    /// `from` after `to`.
    #[error("from is after to")]
    Backwards,
    /// Longer than allowed.
    #[error("the range spans {0} days; at most {1} are allowed")]
    TooLong(i64, u32),
}

impl Range {
    /// The range a request asks for; `today` is days since the epoch.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: i64,
        default_days: u32,
        max_days: u32,
    ) -> Result<Self, BadRange> {
        let to_day = match to.filter(|s| !s.is_empty()) {
            Some(s) => parse_day(s)?,
            None => today,
        };
        let from_day = match from.filter(|s| !s.is_empty()) {
            Some(s) => parse_day(s)?,
            None => to_day - i64::from(default_days) + 1,
        };
        if from_day > to_day {
            return Err(BadRange::Backwards);
        }
        let days = to_day - from_day + 1;
        if days > i64::from(max_days) {
            return Err(BadRange::TooLong(days, max_days));
        }
        Ok(Self { from_day, to_day })
    }

    /// First millisecond.
    pub fn from_ms(&self) -> i64 {
        self.from_day * DAY_MS
    }

    /// First millisecond after the range.
    pub fn until_ms(&self) -> i64 {
        (self.to_day + 1) * DAY_MS
    }

    /// `from` as `YYYY-MM-DD`.
    pub fn from(&self) -> String {
        format_day(self.from_day)
    }

    /// `to` as `YYYY-MM-DD`.
    pub fn to(&self) -> String {
        format_day(self.to_day)
    }

    /// The query string that selects this range.
    pub fn query(&self) -> String {
        format!("from={}&to={}", self.from(), self.to())
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub fn parse_day(s: &str) -> Result<i64, BadRange> {
    sightline_runtime::calendar::parse_day(s)
        .ok_or_else(|| BadRange::NotADate(s.chars().take(32).collect()))
}

pub use sightline_runtime::calendar::format_day;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_last_days_and_limits_hold() {
        let r = Range::parse(None, None, 20_787, 7, 366).expect("default");
        assert_eq!(
            (r.from(), r.to()),
            ("2026-11-24".into(), "2026-11-30".into())
        );
        assert_eq!(r.until_ms() - r.from_ms(), 7 * DAY_MS);
        assert_eq!(
            Range::parse(Some("2026-11-30"), Some("2026-11-01"), 20_787, 7, 366),
            Err(BadRange::Backwards)
        );
        assert!(matches!(
            Range::parse(Some("2020-01-01"), None, 20_787, 7, 366),
            Err(BadRange::TooLong(..))
        ));
    }
}
