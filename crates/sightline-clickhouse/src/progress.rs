//! Resume from ClickHouse: the highest offset each sink table holds per source partition.
//!
//! `sink_progress` is fed by a materialized view on every sink table, so it is updated in the
//! same insert as the rows themselves. A sink skips records at or below these offsets.

use std::collections::HashMap;

use crate::Result;

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct ProgressRow {
    partition: i32,
    offset: i64,
}

/// Highest stored offset per partition of `topic` in `table`.
pub async fn watermarks(
    client: &clickhouse::Client,
    table: &str,
    topic: &str,
) -> Result<HashMap<i32, i64>> {
    let rows: Vec<ProgressRow> = client
        .query(
            "SELECT partition, max(offset) FROM sink_progress \
             WHERE table_name = ? AND topic = ? GROUP BY partition",
        )
        .bind(table)
        .bind(topic)
        .fetch_all()
        .await?;
    Ok(rows.into_iter().map(|r| (r.partition, r.offset)).collect())
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct IdRow {
    id: String,
}

/// The id (column `id_column`) of the row `table` holds for `topic`/`partition`/`offset`,
/// if any.
pub async fn id_at(
    client: &clickhouse::Client,
    table: &str,
    id_column: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<Option<String>> {
    let rows: Vec<IdRow> = client
        .query(&format!(
            "SELECT {id_column} AS id FROM {table} WHERE _topic = ? AND _partition = ? AND _offset = ? LIMIT 1"
        ))
        .bind(topic)
        .bind(partition)
        .bind(offset)
        .fetch_all()
        .await?;
    Ok(rows.into_iter().next().map(|r| r.id))
}
