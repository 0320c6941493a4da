//! The effect: facts batched into the raw tables, each fact inserted once.
//!
//! Three guards keep every raw table (and so every rollup fed from it) exact:
//! - **Duplicates**: a fact whose id a table already holds for its partition within the
//!   window is not written to that table again ([`Seen`], per table, seeded from ClickHouse
//!   on assignment).
//! - **Resume** ([`Mode::Resume`]): rows at or below the highest offset a table holds for
//!   their partition (`sink_progress`) are skipped, once ClickHouse is seen to hold the very
//!   record at such an offset (a recreated topic restarts its offsets and is written again).
//! - **Retention**: records older than the raw retention are not written; their day is
//!   dropped while the rollups keep what was counted.
//! - **Retries and replays**: before an insert is retried, and before every insert in
//!   [`Mode::Fill`] (replay), the sink asks which of the batch's records ClickHouse already
//!   holds, by offset and by id, and inserts only the rest.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prometheus_client::metrics::counter::Counter;
use serde::Deserialize;
use sightline_clickhouse::{progress, Batch, BatchConfig, Client};
use sightline_runtime::{retry, Shutdown};
use sightline_stage::{Durable, Effect, Fault};

use crate::rows::{Fact, Table, TableRow};
use crate::seen::Seen;

/// How the effect treats what ClickHouse already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The running sink: skip what lies at or below each table's stored offset.
    Resume,
    /// Replay: ClickHouse may hold any part of the range; ask before every insert.
    Fill,
}

/// How the effect writes.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The tables written (rows for others are dropped).
    pub tables: Vec<Table>,
    /// What to do about what ClickHouse already holds.
    pub mode: Mode,
    /// How far apart in event time two copies of one fact still count once.
    pub duplicate_window: Duration,
    /// Insert limits.
    pub batch: BatchConfig,
    /// Longest wait between retries.
    pub max_backoff: Duration,
    /// How long raw days are kept (`clickhouse.raw_retention_days`): older records are not
    /// written, since their day is dropped and the rollups already counted them.
    pub raw_retention: Duration,
}

/// The effect's counters.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Rows inserted.
    pub inserted: Counter,
    /// Rows skipped because ClickHouse already held them.
    pub skipped: Counter,
    /// Records skipped because their id was already written (published twice).
    pub duplicates: Counter,
    /// Records older than the raw retention, not written.
    pub expired: Counter,
}

/// Batched inserts into the raw tables.
pub struct ClickHouseTables {
    client: Client,
    tables: Vec<Table>,
    mode: Mode,
    window_ms: i64,
    batch: Batch<Fact>,
    watermarks: HashMap<(Table, String, i32), i64>,
    verified: HashSet<(String, i32)>,
    seen: HashMap<(Table, String, i32), Seen>,
    topics: HashMap<String, Vec<Table>>,
    max_backoff: Duration,
    retention_ms: i64,
    counts: Counts,
}

fn refused(what: &str, e: &sightline_clickhouse::Error) -> Fault {
    Fault::Fatal(format!(
        "ClickHouse refused {what}: {e}; check that `sightline migrate` ran against this database"
    ))
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Held {
    offset: i64,
    id: String,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct RecentId {
    id: String,
    ts_ms: u64,
}

impl ClickHouseTables {
    /// Writes as `settings` say; `topics` names, per input topic, the tables its records
    /// fill.
    pub fn new(
        client: Client,
        topics: HashMap<String, Vec<Table>>,
        settings: Settings,
        counts: Counts,
    ) -> Self {
        Self {
            client,
            tables: settings.tables,
            mode: settings.mode,
            window_ms: i64::try_from(settings.duplicate_window.as_millis()).unwrap_or(i64::MAX),
            batch: Batch::new(settings.batch),
            watermarks: HashMap::new(),
            verified: HashSet::new(),
            seen: HashMap::new(),
            topics,
            max_backoff: settings.max_backoff,
            retention_ms: i64::try_from(settings.raw_retention.as_millis()).unwrap_or(i64::MAX),
            counts,
        }
    }

    async fn call<T, F, Fut>(
        &self,
        what: &str,
        shutdown: &Shutdown,
        f: F,
    ) -> std::result::Result<T, Fault>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = sightline_clickhouse::Result<T>>,
    {
        retry(
            what,
            shutdown,
            self.max_backoff,
            sightline_clickhouse::Error::is_retryable,
            f,
        )
        .await
        .map_err(|e| {
            if e.is_retryable() {
                Fault::Transient(format!("{what}: {e}"))
            } else {
                refused(what, &e)
            }
        })
    }

    /// Whether the watermarks of `fact`'s partition can be trusted, asking ClickHouse the
    /// first time a record at or below one comes by. `None` when no table holds a row at
    /// this offset (the record wrote none), so it cannot tell.
    async fn trusted(
        &mut self,
        fact: &Fact,
        shutdown: &Shutdown,
    ) -> std::result::Result<Option<bool>, Fault> {
        let key = (fact.at.topic.clone(), fact.at.partition);
        if self.verified.contains(&key) {
            return Ok(Some(true));
        }
        let tables = self.topics.get(&fact.at.topic).cloned().unwrap_or_default();
        for table in tables {
            let client = self.client.clone();
            let at = &fact.at;
            let stored = self
                .call("checking what ClickHouse holds", shutdown, || {
                    progress::id_at(
                        &client,
                        table.name(),
                        table.id_column(),
                        &at.topic,
                        at.partition,
                        at.offset,
                    )
                })
                .await?;
            match stored {
                Some(id) if id == fact.id => {
                    self.verified.insert(key);
                    return Ok(Some(true));
                }
                Some(_) => {
                    tracing::warn!(
                        topic = %fact.at.topic,
                        partition = fact.at.partition,
                        "ClickHouse holds offsets this topic does not (was it recreated?); writing the partition from here"
                    );
                    self.watermarks
                        .retain(|(_, t, p), _| !(t == &key.0 && *p == key.1));
                    return Ok(Some(false));
                }
                None => {}
            }
        }
        Ok(None)
    }

    /// Keeps the rows of `fact` for the tables written and, in [`Mode::Resume`], not at or
    /// below what their table holds.
    async fn keep_new_rows(
        &mut self,
        fact: &mut Fact,
        shutdown: &Shutdown,
    ) -> std::result::Result<(), Fault> {
        let wanted = &self.tables;
        fact.rows.retain(|r| wanted.contains(&r.table()));
        if self.mode == Mode::Fill {
            return Ok(());
        }
        let (topic, partition, offset) = (fact.at.topic.clone(), fact.at.partition, fact.at.offset);
        let below = |w: &HashMap<(Table, String, i32), i64>, t: Table| {
            w.get(&(t, topic.clone(), partition))
                .is_some_and(|w| offset <= *w)
        };
        if !fact.rows.iter().any(|r| below(&self.watermarks, r.table())) {
            return Ok(());
        }
        if self.trusted(fact, shutdown).await? != Some(true) {
            return Ok(());
        }
        let before = fact.rows.len();
        let w = &self.watermarks;
        fact.rows.retain(|r| !below(w, r.table()));
        self.counts
            .skipped
            .inc_by((before - fact.rows.len()) as u64);
        Ok(())
    }

    /// Inserts `rows` of `table`; before a retry (and before the first attempt in
    /// [`Mode::Fill`]) drops the rows of records ClickHouse already holds.
    async fn insert_table(
        &self,
        table: Table,
        rows: &[&TableRow],
        shutdown: &Shutdown,
    ) -> std::result::Result<u64, Fault> {
        let first = AtomicBool::new(self.mode == Mode::Resume);
        let (client, first, skipped) = (&self.client, &first, &self.counts.skipped);
        self.call(
            &format!("inserting into {}", table.name()),
            shutdown,
            || async move {
                let mut todo: Vec<&TableRow> = rows.to_vec();
                if !first.swap(false, Ordering::SeqCst) {
                    let held = held(client, table, &todo).await?;
                    todo.retain(|r| !held.holds(r));
                }
                insert(client, table, &todo).await?;
                // Counted once, for the attempt that landed.
                skipped.inc_by((rows.len() - todo.len()) as u64);
                Ok(todo.len() as u64)
            },
        )
        .await
    }

    /// Every (input topic, table it fills) pair.
    fn written(&self) -> Vec<(String, Table)> {
        self.topics
            .iter()
            .flat_map(|(topic, tables)| tables.iter().map(|t| (topic.clone(), *t)))
            .collect()
    }

    /// Seeds the duplicate window of every partition from what ClickHouse holds.
    async fn seed(&mut self, shutdown: &Shutdown) -> std::result::Result<(), Fault> {
        self.seen.clear();
        let mut seeded = 0usize;
        for (topic, table) in self.written() {
            let (client, window) = (self.client.clone(), self.window_ms);
            let recent = self
                .call("reading recent ids", shutdown, || {
                    recent_ids(&client, table, &topic, window)
                })
                .await?;
            for (partition, ids) in recent {
                let seen = self
                    .seen
                    .entry((table, topic.clone(), partition))
                    .or_default();
                for r in ids {
                    seen.first_time(&r.id, i64::try_from(r.ts_ms).unwrap_or(0), window);
                    seeded += 1;
                }
            }
        }
        tracing::info!(ids = seeded, "duplicate window seeded from ClickHouse");
        Ok(())
    }
}

#[async_trait]
impl Effect for ClickHouseTables {
    type Item = Fact;

    async fn write(
        &mut self,
        facts: Vec<Fact>,
        shutdown: &Shutdown,
    ) -> std::result::Result<Durable, Fault> {
        let oldest_kept = sightline_events::now_ms().saturating_sub(self.retention_ms);
        let mut expired = 0u64;
        for mut fact in facts {
            // Its day is dropped (or about to be), and the rollups, which keep every day,
            // counted it when it was first written: writing it again would count it twice.
            if fact.ts_ms < oldest_kept {
                expired += 1;
                continue;
            }
            self.keep_new_rows(&mut fact, shutdown).await?;
            if fact.rows.is_empty() {
                continue;
            }
            // Per table: a crash between two tables' inserts leaves one holding the fact and
            // the other not.
            let window = self.window_ms;
            let tables: BTreeSet<Table> = fact.rows.iter().map(TableRow::table).collect();
            let mut written = vec![];
            for table in tables {
                let seen = self
                    .seen
                    .entry((table, fact.at.topic.clone(), fact.at.partition))
                    .or_default();
                if !seen.first_time(&fact.id, fact.ts_ms, window) {
                    written.push(table);
                }
            }
            if !written.is_empty() {
                fact.rows.retain(|r| !written.contains(&r.table()));
                if fact.rows.is_empty() {
                    self.counts.duplicates.inc();
                    continue;
                }
            }
            let size = fact.rows.iter().map(TableRow::approx_bytes).sum();
            self.batch.push(fact, size, Instant::now());
        }
        if expired > 0 {
            self.counts.expired.inc_by(expired);
            tracing::warn!(
                records = expired,
                "records older than the raw retention were not written (their day is dropped; the rollups have them)"
            );
        }
        if self.batch.is_due(Instant::now()) {
            self.flush(shutdown).await?;
        }
        Ok(if self.batch.is_empty() {
            Durable::Now
        } else {
            Durable::Later
        })
    }

    async fn flush(&mut self, shutdown: &Shutdown) -> std::result::Result<(), Fault> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let mut by_table: BTreeMap<Table, Vec<&TableRow>> = BTreeMap::new();
        for fact in self.batch.rows() {
            for row in &fact.rows {
                by_table.entry(row.table()).or_default().push(row);
            }
        }
        let mut inserted = 0;
        let mut marks: Vec<((Table, String, i32), i64)> = vec![];
        for (table, rows) in &by_table {
            inserted += self.insert_table(*table, rows, shutdown).await?;
            for r in rows {
                let at = r.source();
                marks.push(((*table, at.topic.to_string(), at.partition), at.offset));
            }
        }
        for (key, offset) in marks {
            let w = self.watermarks.entry(key).or_insert(offset);
            *w = (*w).max(offset);
        }
        self.counts.inserted.inc_by(inserted);
        tracing::debug!(rows = inserted, "batch inserted");
        self.batch.clear();
        Ok(())
    }

    fn deadline(&self) -> Option<Instant> {
        self.batch.deadline()
    }

    fn discard(&mut self) {
        // Their records are redone from the last commit by the partitions' owners.
        self.batch.clear();
    }

    async fn assigned(&mut self, shutdown: &Shutdown) -> std::result::Result<(), Fault> {
        self.watermarks.clear();
        self.verified.clear();
        for (topic, table) in self.written() {
            let client = self.client.clone();
            let marks = self
                .call("reading sink_progress", shutdown, || {
                    progress::watermarks(&client, table.name(), &topic)
                })
                .await?;
            for (partition, offset) in marks {
                self.watermarks
                    .insert((table, topic.clone(), partition), offset);
            }
        }
        tracing::info!(watermarks = ?self.watermarks, "resuming from ClickHouse");
        self.seed(shutdown).await
    }
}

/// What ClickHouse holds of some records of one table: their offsets and ids.
#[derive(Debug, Default)]
struct HeldSet {
    offsets: HashSet<(String, i32, i64)>,
    ids: HashSet<(String, i32, String)>,
}

impl HeldSet {
    fn holds(&self, r: &TableRow) -> bool {
        let at = r.source();
        let topic = at.topic.to_string();
        self.offsets
            .contains(&(topic.clone(), at.partition, at.offset))
            || self.ids.contains(&(topic, at.partition, at.id.to_string()))
    }
}

/// Asks which of `rows`' records `table` holds: by offset (an earlier attempt landed) or by
/// id (the same fact from another offset), per source partition and over the rows' range
/// of offsets and event times.
async fn held(
    client: &Client,
    table: Table,
    rows: &[&TableRow],
) -> sightline_clickhouse::Result<HeldSet> {
    // (topic, partition) → (min offset, max offset, min ts, max ts)
    let mut ranges: HashMap<(String, i32), (i64, i64, u64, u64)> = HashMap::new();
    for r in rows {
        let at = r.source();
        let (o, ts) = (at.offset, at.ts_ms);
        let e = ranges
            .entry((at.topic.to_string(), at.partition))
            .or_insert((o, o, ts, ts));
        *e = (e.0.min(o), e.1.max(o), e.2.min(ts), e.3.max(ts));
    }
    let mut out = HeldSet::default();
    for ((topic, partition), (lo, hi, t0, t1)) in ranges {
        let found: Vec<Held> = client
            .query(&format!(
                "SELECT _offset AS offset, {id} AS id FROM {table}                  WHERE _topic = ? AND _partition = ?                  AND ((_offset >= ? AND _offset <= ?) OR (ts_ms >= ? AND ts_ms <= ?))",
                id = table.id_column(),
                table = table.name(),
            ))
            .bind(&topic)
            .bind(partition)
            .bind(lo)
            .bind(hi)
            .bind(t0)
            .bind(t1)
            .fetch_all()
            .await?;
        for h in found {
            if h.offset >= lo && h.offset <= hi {
                out.offsets.insert((topic.clone(), partition, h.offset));
            }
            out.ids.insert((topic.clone(), partition, h.id));
        }
    }
    Ok(out)
}

/// Ids `table` holds per partition of `topic` within `window_ms` of each partition's latest
/// event time.
async fn recent_ids(
    client: &Client,
    table: Table,
    topic: &str,
    window_ms: i64,
) -> sightline_clickhouse::Result<Vec<(i32, Vec<RecentId>)>> {
    #[derive(Debug, clickhouse::Row, Deserialize)]
    struct Latest {
        partition: i32,
        ts_ms: u64,
    }
    let latest: Vec<Latest> = client
        .query(&format!(
            "SELECT _partition AS partition, max(ts_ms) AS ts_ms FROM {} WHERE _topic = ? GROUP BY _partition",
            table.name()
        ))
        .bind(topic)
        .fetch_all()
        .await?;
    let mut out = vec![];
    for l in latest {
        let from = l
            .ts_ms
            .saturating_sub(u64::try_from(window_ms).unwrap_or(0));
        let ids: Vec<RecentId> = client
            .query(&format!(
                "SELECT {id} AS id, ts_ms FROM {table} WHERE _topic = ? AND _partition = ? AND ts_ms >= ?",
                id = table.id_column(),
                table = table.name()
            ))
            .bind(topic)
            .bind(l.partition)
            .bind(from)
            .fetch_all()
            .await?;
        out.push((l.partition, ids));
    }
    Ok(out)
}

/// One insert of `rows` (all of `table`).
async fn insert(
    client: &Client,
    table: Table,
    rows: &[&TableRow],
) -> sightline_clickhouse::Result<()> {
    macro_rules! typed {
        ($ty:ty, $variant:ident) => {{
            let mut insert = client.insert::<$ty>(table.name()).await?;
            for r in rows {
                if let TableRow::$variant(row) = r {
                    insert.write(row).await?;
                }
            }
            insert.end().await?;
        }};
    }
    if rows.is_empty() {
        return Ok(());
    }
    use crate::rows::*;
    match table {
        Table::LlmCalls => typed!(CallRow, Call),
        Table::LlmMessages => typed!(MessageRow, Message),
        Table::Attachments => typed!(AttachmentRow, Attachment),
        Table::Verdicts => typed!(VerdictRow, Verdict),
        Table::Findings => typed!(FindingRow, Finding),
        Table::IncidentEvents => typed!(IncidentEventRow, IncidentEvent),
        Table::Notifications => typed!(NotificationRow, Notification),
    }
    Ok(())
}
