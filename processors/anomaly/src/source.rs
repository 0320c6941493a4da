//! Reads what the checks need from the rollups (`sql/0004_*`).

use std::collections::HashSet;

use serde::Deserialize;

use crate::checks::{Bucket, DailyVolume, FirstSeen};
use crate::config::AnomalySection;

/// What the rollups hold for one run.
#[derive(Debug, Default)]
pub struct Read {
    /// Interactions per tenant, capability and day, for the lookback and 14 days before.
    pub volumes: Vec<DailyVolume>,
    /// Calls and errors per tenant and 15 minutes, for the last two hours.
    pub buckets: Vec<Bucket>,
    /// Per tenant with calls in the last 14 days: the start of its last bucket with calls.
    pub last_calls: Vec<(String, i64)>,
    /// When each capability, model and attachment type was first seen per tenant.
    pub first_seen: Vec<FirstSeen>,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct VolumeRow {
    tenant_id: String,
    capability: String,
    day_number: u32,
    interactions: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct BucketRow {
    tenant_id: String,
    start: u32,
    calls: u64,
    errors: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct LastRow {
    tenant_id: String,
    last: u32,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct SeenRow {
    tenant_id: String,
    dimension: String,
    value: String,
    first_seen_ms: u64,
}

/// Reads the rollups as of `now_ms`.
pub async fn read(
    client: &clickhouse::Client,
    now_ms: i64,
    s: &AnomalySection,
) -> sightline_clickhouse::Result<Read> {
    let now_s = now_ms / 1000;
    let days_back = s.lookback_days + 15;
    let volumes: Vec<VolumeRow> = client
        .query(
            "SELECT tenant_id, capability, toUInt32(day) AS day_number, countMerge(interactions) AS interactions \
             FROM capability_daily WHERE day >= toDate(toDateTime(?)) - ? \
             GROUP BY tenant_id, capability, day_number",
        )
        .bind(now_s)
        .bind(days_back)
        .fetch_all()
        .await?;
    let buckets: Vec<BucketRow> = client
        .query(
            "SELECT tenant_id, toUInt32(bucket) AS start, sum(calls) AS calls, sum(errors) AS errors \
             FROM tenant_quarter_hourly WHERE bucket >= toDateTime(?) - 7200 \
             GROUP BY tenant_id, start",
        )
        .bind(now_s)
        .fetch_all()
        .await?;
    let last: Vec<LastRow> = client
        .query(
            "SELECT tenant_id, toUInt32(max(bucket)) AS last FROM tenant_quarter_hourly \
             WHERE bucket >= toDateTime(?) - 14 * 86400 AND bucket <= toDateTime(?) AND calls > 0 \
             GROUP BY tenant_id",
        )
        .bind(now_s)
        .bind(now_s)
        .fetch_all()
        .await?;
    let seen: Vec<SeenRow> = client
        .query(
            "SELECT tenant_id, dimension, value, minMerge(first_seen_ms) AS first_seen_ms \
             FROM tenant_first_seen GROUP BY tenant_id, dimension, value",
        )
        .fetch_all()
        .await?;
    Ok(Read {
        volumes: volumes
            .into_iter()
            .map(|r| DailyVolume {
                tenant_id: r.tenant_id,
                capability: r.capability,
                day: i64::from(r.day_number),
                interactions: r.interactions,
            })
            .collect(),
        buckets: buckets
            .into_iter()
            .map(|r| Bucket {
                tenant_id: r.tenant_id,
                start_ms: i64::from(r.start) * 1000,
                calls: r.calls,
                errors: r.errors,
            })
            .collect(),
        last_calls: last
            .into_iter()
            .map(|r| (r.tenant_id, i64::from(r.last) * 1000))
            .collect(),
        first_seen: seen
            .into_iter()
            .map(|r| FirstSeen {
                tenant_id: r.tenant_id,
                dimension: r.dimension,
                value: r.value,
                first_seen_ms: i64::try_from(r.first_seen_ms).unwrap_or(i64::MAX),
            })
            .collect(),
    })
}

/// Which of `ids` ClickHouse holds as incidents.
pub async fn existing_incidents(
    client: &clickhouse::Client,
    ids: &[String],
) -> sightline_clickhouse::Result<HashSet<String>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let held: Vec<String> = client
        .query("SELECT DISTINCT incident_id FROM incident_events WHERE has(?, incident_id)")
        .bind(ids)
        .fetch_all()
        .await?;
    Ok(held.into_iter().collect())
}
