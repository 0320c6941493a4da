//! Days since 1970-01-01 and their `YYYY-MM-DD` names (UTC, proleptic Gregorian), with
//! Howard Hinnant's civil-calendar algorithms. Pure.

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i64) -> String {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{m:02}-{d:02}", if m <= 2 { y + 1 } else { y })
}

/// The day number of a `YYYY-MM-DD` date from 1970 to 9999; `None` for anything else
/// (2026-02-30 included).
pub fn parse_day(s: &str) -> Option<i64> {
    let mut parts = s.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1970..=9999).contains(&y) {
        return None;
    }
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let day = era * 146_097 + doe - 719_468;
    // The day must name itself back: no 2026-02-30, 2026-13-01 or +1 signs.
    (format_day(day) == s).then_some(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_and_bad_dates_are_refused() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(parse_day("2026-11-30"), Some(20_787));
        assert_eq!(format_day(20_787), "2026-11-30");
        for d in 0..40_000 {
            assert_eq!(parse_day(&format_day(d)), Some(d));
        }
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "26-11-30",
            "2026/11/30",
            "x",
            "2026-11-30'",
            "+026-11-30",
            "2026-11-30-1",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }
}
