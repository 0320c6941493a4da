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
    let bad = || BadRange::NotADate(s.chars().take(32).collect());
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let (y, m, d): (i64, i64, i64) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    let day = days_from_civil(y, m, d);
    // Reject 2026-02-31 and the like: the day must format back to itself.
    if !(1970..=9999).contains(&y) || format_day(day) != s {
        return Err(bad());
    }
    Ok(day)
}

/// `YYYY-MM-DD` of days since 1970-01-01.
pub fn format_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_and_bad_dates_are_refused() {
        assert_eq!(parse_day("1970-01-01"), Ok(0));
        assert_eq!(parse_day("2026-11-30"), Ok(20_787));
        assert_eq!(format_day(20_787), "2026-11-30");
        for d in 0..40_000 {
            assert_eq!(parse_day(&format_day(d)), Ok(d));
        }
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "26-11-30",
            "2026/11/30",
            "x",
            "2026-11-30'",
        ] {
            assert!(parse_day(bad).is_err(), "{bad}");
        }
    }

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
