//! `GET /api/v1/live`: server-sent events for the overview and incident pages. Every
//! `[dashboard] live_every` the server looks for CRITICAL verdicts and incident changes
//! within the caller's scope that it has not sent yet (looking a minute back, so rows the
//! sink writes late are not missed) and sends each once: `event: critical` and
//! `event: incident`, with JSON data.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use clickhouse::Row;
use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::range::{format_day, DAY_MS};
use crate::render::seg;
use crate::scope::{Cols, Scope, Sql};
use crate::store::Store;
use crate::Result;

/// How far back each look reaches.
const LOOK_BACK_MS: i64 = 60_000;

/// A CRITICAL verdict as the live view sends it.
#[derive(Debug, Clone, Serialize, Deserialize, Row)]
pub struct Critical {
    /// Verdict.
    pub verdict_id: String,
    /// Call.
    pub call_id: String,
    /// User.
    pub user_id: String,
    /// Conversation.
    pub conversation_id: String,
    /// Rules that fired.
    pub rules: Vec<String>,
    /// When, ms.
    pub ts_ms: u64,
}

/// An incident change as the live view sends it.
#[derive(Debug, Clone, Serialize, Deserialize, Row)]
pub struct IncidentChange {
    /// Event.
    pub event_id: String,
    /// Incident.
    pub incident_id: String,
    /// OPENED, STATUS_CHANGED…
    pub event_type: String,
    /// Status after.
    pub status: String,
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: String,
    /// When, ms.
    pub ts_ms: u64,
}

async fn look(
    store: &Store,
    scope: &Scope,
    since_ms: i64,
) -> Result<(Vec<Critical>, Vec<IncidentChange>)> {
    let day = format_day(since_ms.div_euclid(DAY_MS));
    let mut critical = Sql::new(
        "SELECT verdict_id, call_id, user_id, conversation_id, rules, ts_ms FROM verdicts WHERE ",
    );
    critical.append(&scope.filter(Cols::ALL)?).push(
        " AND event_date >= toDate(?) AND ts_ms >= ? AND tier = 'CRITICAL' AND decision != 'INHERITED' \
         ORDER BY ts_ms, verdict_id LIMIT 1000",
        [day.clone().into(), since_ms.into()],
    );
    let mut incidents = Sql::new(
        "SELECT event_id, incident_id, event_type, status, title, severity, ts_ms FROM incident_events WHERE ",
    );
    incidents.append(&scope.filter(Cols::INCIDENT)?).push(
        " AND event_date >= toDate(?) AND ts_ms >= ? ORDER BY ts_ms, event_id LIMIT 1000",
        [day.into(), since_ms.into()],
    );
    Ok((
        critical.query(store.client()).fetch_all().await?,
        incidents.query(store.client()).fetch_all().await?,
    ))
}

/// Live streams a caller may hold open at once.
pub const PER_CALLER: usize = 4;

/// Live streams open, per caller.
#[derive(Default)]
pub struct Open(std::sync::Mutex<HashMap<String, usize>>);

/// One caller's open stream; closing it (dropping this) frees the place.
pub struct Slot(std::sync::Arc<Open>, String);

impl Open {
    /// A place for one more stream of `caller`, if they hold fewer than [`PER_CALLER`].
    pub fn take(self: &std::sync::Arc<Self>, caller: String) -> Option<Slot> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(caller.clone()).or_default();
        if *n >= PER_CALLER {
            return None;
        }
        *n += 1;
        Some(Slot(self.clone(), caller))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = (self.0).0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// The event stream for `scope`, from `start_ms` on, until `stop` or the client goes.
pub fn stream(
    store: Store,
    scope: Scope,
    start_ms: i64,
    every: Duration,
    stop: CancellationToken,
    slot: Slot,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(256);
    tokio::spawn(async move {
        let _slot = slot;
        // Ids sent, with their time: forgotten once older than the look-back.
        let mut sent: HashMap<String, i64> = HashMap::new();
        loop {
            let now = crate::now_ms();
            let since = start_ms.max(now - LOOK_BACK_MS);
            match look(&store, &scope, since).await {
                Ok((critical, incidents)) => {
                    let mut out = vec![];
                    for c in critical {
                        if sent.insert(c.verdict_id.clone(), c.ts_ms as i64).is_none() {
                            let link = (!c.conversation_id.is_empty()).then(|| {
                                format!(
                                    "/dashboard/conversations/{}",
                                    seg(c.conversation_id.clone())
                                )
                            });
                            out.push(event("critical", &c, link));
                        }
                    }
                    for i in incidents {
                        if sent.insert(i.event_id.clone(), i.ts_ms as i64).is_none() {
                            let link = Some(format!(
                                "/dashboard/incidents/{}",
                                seg(i.incident_id.clone())
                            ));
                            out.push(event("incident", &i, link));
                        }
                    }
                    for e in out {
                        if tx.send(e).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "the live view could not look for events"),
            }
            sent.retain(|_, ts| *ts >= now - 2 * LOOK_BACK_MS);
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = stop.cancelled() => return,
                () = tx.closed() => return,
            }
        }
    });
    let events =
        futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
        );
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn event<T: Serialize>(kind: &str, data: &T, link: Option<String>) -> Event {
    let mut value = serde_json::to_value(data).unwrap_or_default();
    if let (Some(obj), Some(link)) = (value.as_object_mut(), link) {
        obj.insert("link".into(), link.into());
    }
    Event::default().event(kind).data(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_holds_a_few_streams_and_closing_one_frees_its_place() {
        let open = std::sync::Arc::new(Open::default());
        let held: Vec<Slot> = (0..PER_CALLER)
            .map(|_| open.take("acme/dana".into()).expect("place"))
            .collect();
        assert!(open.take("acme/dana".into()).is_none(), "full");
        assert!(open.take("acme/erin".into()).is_some(), "per caller");
        drop(held);
        assert!(open.take("acme/dana".into()).is_some(), "freed");
    }
}
