//! The access audit log: every page view, API read, export, incident action and refused
//! request becomes a row of `access_audit` (who, what, when, from where, result).
//!
//! Requests hand entries to a bounded channel and a writer task inserts them in batches
//! (after at most 500 ms, or at 1,000 entries). A full channel makes requests wait rather
//! than lose an entry; a failed insert is retried until shutdown, then tried once more.

use std::time::Duration;

use sightline_clickhouse::Client;
use sightline_runtime::{retry, Shutdown};
use tokio::sync::mpsc;

use crate::store::AuditRow;

/// Entries waiting for the writer.
const QUEUE: usize = 10_000;
const BATCH: usize = 1_000;
const EVERY: Duration = Duration::from_millis(500);

/// Where requests send their audit entries.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<AuditRow>,
}

impl AuditLog {
    /// A log writing to `access_audit` through `client`, and its writer task (it ends after
    /// `shutdown`, once every entry sent before it is written).
    pub fn start(client: Client, shutdown: Shutdown) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(write(client, rx, shutdown));
        (Self { tx }, task)
    }

    /// Records one entry (waits while the queue is full).
    pub async fn record(&self, row: AuditRow) {
        if self.tx.send(row).await.is_err() {
            tracing::error!("the audit writer has stopped; an access entry was not written");
        }
    }
}

/// Runs until every sender is gone (the server has answered its last request).
async fn write(client: Client, mut rx: mpsc::Receiver<AuditRow>, shutdown: Shutdown) {
    let mut batch: Vec<AuditRow> = Vec::with_capacity(BATCH);
    let mut open = true;
    while open {
        match rx.recv().await {
            Some(row) => batch.push(row),
            None => open = false,
        }
        // Whatever else arrives within EVERY, up to a batch.
        let deadline = tokio::time::Instant::now() + EVERY;
        while open && batch.len() < BATCH {
            tokio::select! {
                got = rx.recv() => match got {
                    Some(row) => batch.push(row),
                    None => open = false,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        // Retried until shutdown starts; then tried once more.
        let mut written = retry(
            "writing the access audit log",
            &shutdown,
            Duration::from_secs(10),
            |_| true,
            || insert(&client, &batch),
        )
        .await;
        if written.is_err() && shutdown.is_triggered() {
            written = insert(&client, &batch).await;
        }
        if let Err(e) = written {
            tracing::error!(error = %e, lost = batch.len(), "access audit entries could not be written");
        }
        batch.clear();
    }
}

async fn insert(client: &Client, rows: &[AuditRow]) -> Result<(), clickhouse::error::Error> {
    let mut insert = client.insert::<AuditRow>("access_audit").await?;
    for row in rows {
        insert.write(row).await?;
    }
    insert.end().await
}
