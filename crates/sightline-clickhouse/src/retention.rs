//! Raw-data retention: drops whole day partitions older than the configured age from the raw
//! tables. Rollups and incidents are not partitioned by day and are never touched.
//!
//! Safe to run twice: a second run finds nothing older than the cutoff.

use serde::Deserialize;

use crate::Result;

/// The raw tables, partitioned by `event_date` (`sql/0003_*`).
pub const RAW_TABLES: [&str; 7] = [
    "llm_calls",
    "llm_messages",
    "attachments",
    "verdicts",
    "findings",
    "incident_events",
    "notifications",
];

/// One partition dropped (or to drop, in a dry run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Table.
    pub table: String,
    /// The day, `YYYY-MM-DD`.
    pub day: String,
    /// Rows it held.
    pub rows: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct PartRow {
    table: String,
    partition: String,
    rows: u64,
}

/// The day partitions of the raw tables in `database` older than `cutoff` (`YYYY-MM-DD`,
/// kept), oldest first.
pub async fn expired(
    client: &clickhouse::Client,
    database: &str,
    cutoff: &str,
) -> Result<Vec<Dropped>> {
    let parts: Vec<PartRow> = client
        .query(
            "SELECT table, partition, sum(rows) AS rows FROM system.parts \
             WHERE database = ? AND active AND has(?, table) \
             GROUP BY table, partition ORDER BY partition, table",
        )
        .bind(database)
        .bind(RAW_TABLES.to_vec())
        .fetch_all()
        .await?;
    Ok(parts
        .into_iter()
        .filter_map(|p| {
            let day = day_of(&p.partition)?;
            (day.as_str() < cutoff).then_some(Dropped {
                table: p.table,
                day,
                rows: p.rows,
            })
        })
        .collect())
}

/// `2025-11-13` from a partition id as `system.parts` shows it (`'2025-11-13'` on 18.16,
/// `2025-11-13` or `20251113` on current releases); `None` for anything else.
fn day_of(partition: &str) -> Option<String> {
    let p = partition.trim_matches('\'');
    let day = if p.len() == 8 && p.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}-{}", &p[..4], &p[4..6], &p[6..])
    } else {
        p.to_string()
    };
    let ok = day.len() == 10
        && day.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    ok.then_some(day)
}

/// Drops `partitions`.
pub async fn drop(client: &clickhouse::Client, partitions: &[Dropped]) -> Result<()> {
    for p in partitions {
        client
            .query(&format!(
                "ALTER TABLE {} DROP PARTITION '{}'",
                p.table, p.day
            ))
            .execute()
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_day_of_a_partition_id_on_either_engine() {
        assert_eq!(day_of("'2025-11-13'").as_deref(), Some("2025-11-13"));
        assert_eq!(day_of("2025-11-13").as_deref(), Some("2025-11-13"));
        assert_eq!(day_of("20251113").as_deref(), Some("2025-11-13"));
        assert_eq!(day_of("202511"), None);
        assert_eq!(day_of("tuple()"), None);
    }
}
