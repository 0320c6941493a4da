//! The anomaly checks: pure functions from what the rollups hold to anomalies, and from an
//! anomaly to the incident that reports it. No I/O, no clock: `now_ms` is passed in.

use std::collections::{BTreeMap, HashMap};

use sightline_events::{
    derived_id, key_part, IncidentCategory, IncidentEvent, IncidentEventType, IncidentSeverity,
    IncidentStatus,
};

use crate::config::{AnomalySection, BusinessHours};

const DAY_MS: i64 = 86_400_000;
const BUCKET_MS: i64 = 15 * 60_000;

/// What kind of anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A day's volume of a capability far above its 14-day median.
    Spike,
    /// A day's volume of a capability far below its 14-day median.
    Drop,
    /// No calls for too long during business hours.
    Silence,
    /// Too many failed calls in a 15-minute bucket.
    ErrorRate,
    /// A capability, model or attachment type never seen before for the tenant.
    New,
}

impl Kind {
    /// The incident rule name.
    pub fn rule(self) -> &'static str {
        match self {
            Kind::Spike => "anomaly_volume_spike",
            Kind::Drop => "anomaly_volume_drop",
            Kind::Silence => "anomaly_no_calls",
            Kind::ErrorRate => "anomaly_error_rate",
            Kind::New => "anomaly_new_usage",
        }
    }
}

/// One anomaly found.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    /// Its kind.
    pub kind: Kind,
    /// Tenant.
    pub tenant_id: String,
    /// What it is about: a capability and day, a bucket, a `dimension=value`.
    pub subject: String,
    /// The time it concerns (start of the day or bucket, or when first seen).
    pub at_ms: i64,
    /// One line for people.
    pub title: String,
    /// The figures behind it.
    pub description: String,
}

/// Interactions of one capability on one day (`capability_daily`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyVolume {
    /// Tenant.
    pub tenant_id: String,
    /// Capability.
    pub capability: String,
    /// Days since the epoch.
    pub day: i64,
    /// Calls that day.
    pub interactions: u64,
}

/// Calls and errors of one tenant in one 15-minute bucket (`tenant_quarter_hourly`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Tenant.
    pub tenant_id: String,
    /// Bucket start, epoch millis.
    pub start_ms: i64,
    /// Calls.
    pub calls: u64,
    /// Failed calls.
    pub errors: u64,
}

/// When a value was first seen for a tenant (`tenant_first_seen`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstSeen {
    /// Tenant.
    pub tenant_id: String,
    /// `capability`, `model` or `attachment_type`.
    pub dimension: String,
    /// The value.
    pub value: String,
    /// First seen, epoch millis.
    pub first_seen_ms: i64,
}

fn median(mut v: Vec<u64>) -> f64 {
    v.sort_unstable();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
    }
}

/// Volume spikes and drops: each complete day of the last `lookback_days` against the median
/// of the 14 days before it. Days without calls count as 0 for the day judged; for the median
/// only days with calls count (as in `ai_audit_capability_anomalies`).
pub fn volume(rows: &[DailyVolume], now_ms: i64, s: &AnomalySection) -> Vec<Anomaly> {
    let today = now_ms.div_euclid(DAY_MS);
    let mut series: BTreeMap<(&str, &str), HashMap<i64, u64>> = BTreeMap::new();
    for r in rows {
        series
            .entry((&r.tenant_id, &r.capability))
            .or_default()
            .insert(r.day, r.interactions);
    }
    let lookback = i64::try_from(s.lookback_days).unwrap_or(1);
    let mut out = vec![];
    for ((tenant, capability), days) in series {
        for day in (today - lookback)..today {
            let history: Vec<u64> = (day - 14..day)
                .filter_map(|d| days.get(&d).copied())
                .collect();
            if (history.len() as u64) < s.min_baseline_days {
                continue;
            }
            let m = median(history.clone());
            let volume = days.get(&day).copied().unwrap_or(0);
            let kind = if volume as f64 > s.spike_ratio * m {
                Kind::Spike
            } else if (volume as f64) < s.drop_ratio * m {
                Kind::Drop
            } else {
                continue;
            };
            let word = if kind == Kind::Spike { "spike" } else { "drop" };
            out.push(Anomaly {
                kind,
                tenant_id: tenant.to_string(),
                subject: format!("{capability}/{}", date(day)),
                at_ms: day * DAY_MS,
                title: format!("Volume {word} for {capability} on {}", date(day)),
                description: format!(
                    "{volume} calls to {capability} on {} against a median of {m} over the {} days with calls before it ({:.2}×; thresholds {}× and {}×)",
                    date(day),
                    history.len(),
                    if m > 0.0 { volume as f64 / m } else { 0.0 },
                    s.spike_ratio,
                    s.drop_ratio
                ),
            });
        }
    }
    out
}

/// Buckets whose error rate is above the threshold, with enough calls to judge; complete
/// buckets only.
pub fn error_rate(buckets: &[Bucket], now_ms: i64, s: &AnomalySection) -> Vec<Anomaly> {
    buckets
        .iter()
        .filter(|b| b.start_ms + BUCKET_MS <= now_ms && b.calls >= s.min_calls)
        .filter(|b| b.errors as f64 > s.error_rate * b.calls as f64)
        .map(|b| Anomaly {
            kind: Kind::ErrorRate,
            tenant_id: b.tenant_id.clone(),
            subject: format!("{}", b.start_ms),
            at_ms: b.start_ms,
            title: format!(
                "Error rate {:.1}% in 15 minutes",
                100.0 * b.errors as f64 / b.calls as f64
            ),
            description: format!(
                "{} of {} calls failed in the 15 minutes from {} UTC (threshold {:.1}%)",
                b.errors,
                b.calls,
                time(b.start_ms),
                100.0 * s.error_rate
            ),
        })
        .collect()
}

/// Whether the 15-minute slot starting at `ms` (UTC) lies in business hours.
fn in_business_hours(ms: i64, h: &BusinessHours) -> bool {
    let local = ms + i64::from(h.utc_offset_minutes) * 60_000;
    let day = local.div_euclid(DAY_MS);
    // 1970-01-01 was a Thursday (ISO 4).
    let weekday = ((day + 3).rem_euclid(7) + 1) as u8;
    let hour = (local.rem_euclid(DAY_MS) / 3_600_000) as u8;
    h.days.contains(&weekday) && hour >= h.start_hour && hour < h.end_hour
}

/// Tenants with no calls for longer than `silence` counted in business hours only: from the
/// end of each tenant's last bucket with calls up to `now_ms`.
pub fn silence(last_call: &[(String, i64)], now_ms: i64, s: &AnomalySection) -> Vec<Anomaly> {
    let silence_ms = i64::try_from(s.silence.as_millis()).unwrap_or(i64::MAX);
    last_call
        .iter()
        .filter_map(|(tenant, last_bucket)| {
            let quiet_from = last_bucket + BUCKET_MS;
            let mut slot = quiet_from;
            let mut quiet = 0i64;
            while slot + BUCKET_MS <= now_ms {
                if in_business_hours(slot, &s.business_hours) {
                    quiet += BUCKET_MS;
                }
                slot += BUCKET_MS;
            }
            (quiet > silence_ms).then(|| Anomaly {
                kind: Kind::Silence,
                tenant_id: tenant.clone(),
                subject: format!("{quiet_from}"),
                at_ms: quiet_from,
                title: "No AI calls during business hours".into(),
                description: format!(
                    "no calls since {} UTC: {} minutes of business hours (threshold {} minutes)",
                    time(quiet_from),
                    quiet / 60_000,
                    silence_ms / 60_000
                ),
            })
        })
        .collect()
}

/// Values first seen within `new_within` of `now_ms`, for tenants seen before that.
pub fn new_usage(seen: &[FirstSeen], now_ms: i64, s: &AnomalySection) -> Vec<Anomaly> {
    let within = i64::try_from(s.new_within.as_millis()).unwrap_or(i64::MAX);
    let horizon = now_ms - within;
    let mut earliest: HashMap<&str, i64> = HashMap::new();
    for f in seen {
        let e = earliest.entry(&f.tenant_id).or_insert(f.first_seen_ms);
        *e = (*e).min(f.first_seen_ms);
    }
    seen.iter()
        .filter(|f| f.first_seen_ms >= horizon && earliest[f.tenant_id.as_str()] < horizon)
        .map(|f| {
            let what = f.dimension.replace('_', " ");
            Anomaly {
                kind: Kind::New,
                tenant_id: f.tenant_id.clone(),
                subject: format!("{}={}", f.dimension, f.value),
                at_ms: f.first_seen_ms,
                title: format!("New {what}: {}", f.value),
                description: format!(
                    "{what} '{}' first used at {} UTC; never seen before for this tenant",
                    f.value,
                    time(f.first_seen_ms)
                ),
            }
        })
        .collect()
}

/// The incident that reports `a`: opened once, with an id derived from its rule, tenant
/// and subject, so finding it again yields the same record.
pub fn incident(a: &Anomaly) -> IncidentEvent {
    let rule = a.kind.rule();
    let dedupe_key = format!(
        "{rule}/{}/{}",
        key_part(&a.tenant_id, &['/']),
        key_part(&a.subject, &['/'])
    );
    let incident_id = derived_id(&["anomaly", &dedupe_key]);
    let (severity, category) = match a.kind {
        Kind::Spike => (IncidentSeverity::Medium, IncidentCategory::Cost),
        Kind::Drop => (IncidentSeverity::Medium, IncidentCategory::Performance),
        Kind::Silence | Kind::ErrorRate => (IncidentSeverity::High, IncidentCategory::Performance),
        Kind::New => (IncidentSeverity::Low, IncidentCategory::Compliance),
    };
    IncidentEvent {
        event_id: IncidentEvent::id_for(&incident_id, 1),
        incident_id,
        seq: 1,
        event_type: IncidentEventType::Opened,
        partition_key: a.tenant_id.clone(),
        tenant_id: a.tenant_id.clone(),
        user_id: None,
        rule: rule.into(),
        dedupe_key,
        severity,
        category,
        status: IncidentStatus::Open,
        previous_status: None,
        title: a.title.clone(),
        description: a.description.clone(),
        first_seen_ms: a.at_ms,
        last_seen_ms: a.at_ms,
        occurrences: 1,
        links: vec![],
        assignee: None,
        actor: "sightline-anomaly".into(),
        note: None,
        command_id: None,
        at_ms: a.at_ms,
        closed_at_ms: None,
        source_topic: "clickhouse".into(),
        source_partition: 0,
        source_offset: 0,
        sources: vec![],
    }
}

/// `YYYY-MM-DD` of a day number (days since the epoch).
pub fn date(day: i64) -> String {
    sightline_runtime::calendar::format_day(day)
}

fn time(ms: i64) -> String {
    let secs = ms.rem_euclid(DAY_MS) / 1000;
    format!(
        "{} {:02}:{:02}",
        date(ms.div_euclid(DAY_MS)),
        secs / 3600,
        secs % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-30 (a Monday) 12:00 UTC.
    const NOW: i64 = 1_796_040_000_000;

    fn settings() -> AnomalySection {
        AnomalySection::default()
    }

    fn history(capability: &str, per_day: &[(i64, u64)]) -> Vec<DailyVolume> {
        per_day
            .iter()
            .map(|(ago, n)| DailyVolume {
                tenant_id: "acme".into(),
                capability: capability.into(),
                day: NOW / DAY_MS - ago,
                interactions: *n,
            })
            .collect()
    }

    #[test]
    fn dates_and_weekdays() {
        assert_eq!(date(NOW / DAY_MS), "2026-11-30");
        assert_eq!(date(0), "1970-01-01");
        let h = BusinessHours::default();
        assert!(in_business_hours(NOW, &h), "Monday noon");
        assert!(!in_business_hours(NOW - 2 * DAY_MS, &h), "Saturday noon");
        assert!(!in_business_hours(NOW + 7 * 3_600_000, &h), "Monday 19:00");
    }

    #[test]
    fn a_day_above_175_percent_of_the_median_is_a_spike_and_below_40_a_drop() {
        let mut rows: Vec<(i64, u64)> = (2..=15).map(|ago| (ago, 100)).collect();
        rows.push((1, 176));
        let found = volume(&history("chat", &rows), NOW, &settings());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, Kind::Spike);
        assert_eq!(found[0].subject, "chat/2026-11-29");

        let mut rows: Vec<(i64, u64)> = (2..=15).map(|ago| (ago, 100)).collect();
        rows.push((1, 175));
        assert!(
            volume(&history("chat", &rows), NOW, &settings()).is_empty(),
            "1.75× is not above"
        );

        let rows: Vec<(i64, u64)> = (2..=15).map(|ago| (ago, 100)).collect();
        let found = volume(&history("code", &rows), NOW, &settings());
        assert_eq!(
            found
                .iter()
                .map(|a| (a.kind, a.subject.as_str()))
                .collect::<Vec<_>>(),
            [(Kind::Drop, "code/2026-11-29")],
            "a day without calls is a drop to zero"
        );
    }

    #[test]
    fn too_little_history_is_not_judged() {
        let rows: Vec<(i64, u64)> = (2..=4).map(|ago| (ago, 100)).chain([(1, 1000)]).collect();
        assert!(volume(&history("chat", &rows), NOW, &settings()).is_empty());
    }

    #[test]
    fn error_rate_over_five_percent_in_a_complete_bucket() {
        let b = |start_ms, calls, errors| Bucket {
            tenant_id: "acme".into(),
            start_ms,
            calls,
            errors,
        };
        let found = error_rate(
            &[
                b(NOW - 3 * BUCKET_MS, 100, 5),
                b(NOW - 2 * BUCKET_MS, 100, 6),
                b(NOW - 2 * BUCKET_MS, 10, 9),
                b(NOW - BUCKET_MS / 2, 100, 50),
            ],
            NOW,
            &settings(),
        );
        assert_eq!(
            found.iter().map(|a| a.at_ms).collect::<Vec<_>>(),
            [NOW - 2 * BUCKET_MS],
            "5% is not above; 10 calls are too few; the current bucket is not complete"
        );
    }

    #[test]
    fn silence_counts_business_hours_only() {
        let s = settings();
        // Last calls ended Monday 09:45: 2 h 15 min of business hours by noon.
        let monday_0930 = NOW - 2 * 3_600_000 - 30 * 60_000;
        let found = silence(&[("acme".into(), monday_0930)], NOW, &s);
        assert_eq!(found.len(), 1, "{found:?}");
        // Last calls Friday 17:00: Friday 17:15–18:00 and Monday 09:00–12:00 are 3 h 45 min.
        let friday_1700 = NOW - 3 * DAY_MS + 5 * 3_600_000;
        assert_eq!(silence(&[("acme".into(), friday_1700)], NOW, &s).len(), 1);
        // Last calls Monday 10:45: 1 h.
        assert!(silence(&[("acme".into(), NOW - 75 * 60_000)], NOW, &s).is_empty());
        // Sunday: no business hours, however long.
        let sunday_noon = NOW - DAY_MS;
        let saturday_0000 = NOW - 2 * DAY_MS - 12 * 3_600_000;
        assert!(silence(&[("acme".into(), saturday_0000)], sunday_noon, &s).is_empty());
    }

    #[test]
    fn new_values_only_for_tenants_with_older_history() {
        let f = |tenant: &str, dimension: &str, value: &str, ago_ms: i64| FirstSeen {
            tenant_id: tenant.into(),
            dimension: dimension.into(),
            value: value.into(),
            first_seen_ms: NOW - ago_ms,
        };
        let found = new_usage(
            &[
                f("acme", "model", "claude-sonnet-4", 30 * DAY_MS),
                f("acme", "model", "gpt-5", 3_600_000),
                f("fresh", "model", "gpt-5", 3_600_000),
            ],
            NOW,
            &settings(),
        );
        assert_eq!(
            found
                .iter()
                .map(|a| (a.tenant_id.as_str(), a.subject.as_str()))
                .collect::<Vec<_>>(),
            [("acme", "model=gpt-5")],
            "a brand-new tenant's first day is not an anomaly"
        );
    }

    #[test]
    fn an_anomaly_found_twice_is_the_same_incident() {
        let a = Anomaly {
            kind: Kind::Spike,
            tenant_id: "acme".into(),
            subject: "chat/2026-11-29".into(),
            at_ms: NOW,
            title: "t".into(),
            description: "d".into(),
        };
        let (one, two) = (incident(&a), incident(&a.clone()));
        assert_eq!(one, two);
        assert_eq!(one.partition_key, "acme");
        assert_eq!(one.event_type, IncidentEventType::Opened);
        let mut other = a.clone();
        other.subject = "chat/2026-11-28".into();
        assert_ne!(incident(&other).incident_id, one.incident_id);
    }
}
