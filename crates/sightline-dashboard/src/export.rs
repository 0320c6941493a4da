//! `GET /api/v1/export?from&to&format=csv|jsonl`: every call in the range within the
//! caller's scope, with user attribution, newest last. ClickHouse formats the rows and the
//! server passes its response through chunk by chunk, so memory stays flat however many
//! rows there are. The row count comes first, in `x-sightline-rows`, for progress bars.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use serde::Deserialize;

use crate::range::{format_day, Range};
use crate::scope::{Cols, Scope, Sql};
use crate::store::{Store, EVENTS_IN_RANGE};
use crate::{Error, Result};

/// Columns of an export, in order.
pub const COLUMNS: &str = "toString(toDateTime(intDiv(ts_ms, 1000), 'UTC')) AS time_utc, ts_ms, \
    tenant_id, user_id, team_id, conversation_id, call_id, logical_id, resample_role, provider, model, \
    endpoint, status, http_status, input_tokens, output_tokens, cost_usd_micros, latency_ms, capability, \
    workspace_id, api_key_id";

/// An export request.
#[derive(Debug, Clone, Deserialize)]
pub struct ExportQuery {
    /// First day (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Last day, included.
    pub to: Option<String>,
    /// `csv` (default) or `jsonl`.
    pub format: Option<String>,
}

/// The export as a streamed response.
pub async fn export(
    store: &Store,
    scope: &Scope,
    range: &Range,
    format: Option<&str>,
) -> Result<Response> {
    let (clickhouse_format, content_type, ext) = match format.unwrap_or("csv") {
        "csv" => ("CSVWithNames", "text/csv; charset=utf-8", "csv"),
        "jsonl" => ("JSONEachRow", "application/x-ndjson", "jsonl"),
        other => {
            return Err(Error::BadRequest(format!(
                "format '{}' is not csv or jsonl",
                other.chars().take(16).collect::<String>()
            )))
        }
    };
    let filter = scope.filter(Cols::ALL)?;
    // The count and the rows read one snapshot, rows inserted up to this second: the stream
    // holds at least the rows counted (more only if some arrive within this second).
    let snapshot_s = crate::now_ms().div_euclid(1000);
    let mut where_ = Sql::new(" WHERE ");
    where_.append(&filter).push(
        &format!(
            " AND {EVENTS_IN_RANGE} AND ts_ms >= ? AND ts_ms < ? AND _inserted_at <= toDateTime(?)"
        ),
        [
            format_day(range.from_day).into(),
            format_day(range.to_day).into(),
            range.from_ms().into(),
            range.until_ms().into(),
            snapshot_s.into(),
        ],
    );
    let mut count = Sql::new("SELECT toUInt64(count()) FROM llm_calls");
    count.append(&where_);
    let rows: u64 = count.query(store.client()).fetch_one().await?;
    let mut rows_sql = Sql::new(format!("SELECT {COLUMNS} FROM llm_calls"));
    rows_sql
        .append(&where_)
        .push(" ORDER BY ts_ms, call_id", []);
    // Exports may run long: no query time limit for the rows.
    let unlimited = store
        .client()
        .clone()
        .with_setting("max_execution_time", "0");
    let cursor = rows_sql.query(&unlimited).fetch_bytes(clickhouse_format)?;
    let chunks = futures::stream::unfold(Some(cursor), |state| async move {
        let mut cursor = state?;
        match cursor.next().await {
            Ok(Some(bytes)) => Some((Ok(bytes), Some(cursor))),
            Ok(None) => None,
            Err(e) => {
                // The client sees a cut-off body (no final newline, fewer rows than the
                // header said), never a silently short file.
                tracing::error!(error = %e, "an export stream failed");
                Some((
                    Err(std::io::Error::other("the export was interrupted")),
                    None,
                ))
            }
        }
    })
    .boxed();
    let name = format!("sightline-calls-{}-{}.{ext}", range.from(), range.to());
    let mut response = Response::new(Body::from_stream(chunks));
    *response.status_mut() = StatusCode::OK;
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert("x-sightline-rows", HeaderValue::from(rows));
    Ok(response)
}
