//! `sightline simulate spike|drop`: writes synthetic call history into ClickHouse so the
//! anomaly checks (and the capability dashboards) have something to find in a demo.
//!
//! It inserts `llm_calls` rows read from the topic `simulated` (so the sink's progress and
//! replays never mistake them for real records); the materialized views roll them up like
//! any call. The history: `baseline` calls a day for the 14 days before yesterday, and
//! yesterday `spike`× or `drop`× that.

use sightline_sink::rows::CallRow;

/// The shape of the history written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// Yesterday at 3× the baseline.
    Spike,
    /// Yesterday at a fifth of the baseline.
    Drop,
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// Spike or drop.
    pub shape: Shape,
    /// Tenant.
    pub tenant_id: String,
    /// Capability.
    pub capability: String,
    /// Calls a day before yesterday.
    pub baseline: u64,
}

const DAY_MS: i64 = 86_400_000;

/// The rows of `sim` as of `now_ms`: 14 days of baseline, then yesterday's spike or drop.
pub fn rows(sim: &Simulation, now_ms: i64) -> Vec<CallRow> {
    let today = now_ms.div_euclid(DAY_MS);
    let mut out = vec![];
    for ago in 1..=15i64 {
        let n = match (ago, sim.shape) {
            (1, Shape::Spike) => sim.baseline * 3,
            (1, Shape::Drop) => sim.baseline / 5,
            _ => sim.baseline,
        };
        let day = today - ago;
        for i in 0..n {
            let ts = day * DAY_MS + 8 * 3_600_000 + (i as i64 * 36_000_000 / n.max(1) as i64);
            let call_id = format!("sim-{}-{}-{day}-{i}", sim.tenant_id, sim.capability);
            out.push(CallRow {
                call_id: call_id.clone(),
                event_id: format!("{call_id}-r"),
                logical_id: call_id,
                resample_role: "PRIMARY".into(),
                resample_index: 0,
                tenant_id: sim.tenant_id.clone(),
                user_id: format!("sim-user-{}", i % 5),
                team_id: "simulated".into(),
                conversation_id: String::new(),
                workspace_id: format!("sim-ws-{}", i % 3),
                capability: sim.capability.clone(),
                api_key_id: String::new(),
                provider: "ANTHROPIC".into(),
                model: "simulated-model".into(),
                endpoint: "POST /v1/messages".into(),
                streaming: 0,
                started_ms: u64::try_from(ts - 400).unwrap_or(0),
                ts_ms: u64::try_from(ts).unwrap_or(0),
                status: "OK".into(),
                http_status: Some(200),
                error: String::new(),
                input_tokens: 100,
                output_tokens: 50,
                cache_read_tokens: 0,
                cache_write_tokens: 0,
                cost_usd_micros: 900,
                latency_ms: 400,
                ttft_ms: None,
                stop_reason: "end_turn".into(),
                request_bytes: None,
                response_bytes: None,
                attachment_count: 0,
                user_agent: "sightline-simulate".into(),
                _topic: "simulated".into(),
                _partition: 0,
                _offset: ts,
            });
        }
    }
    out
}

/// Inserts `rows` into `llm_calls`.
pub async fn insert(
    client: &clickhouse::Client,
    rows: &[CallRow],
) -> sightline_clickhouse::Result<()> {
    let mut insert = client.insert::<CallRow>("llm_calls").await?;
    for r in rows {
        insert.write(r).await?;
    }
    insert.end().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spike_is_yesterday_at_three_times_the_baseline() {
        let sim = Simulation {
            shape: Shape::Spike,
            tenant_id: "acme".into(),
            capability: "chat".into(),
            baseline: 10,
        };
        let now = 1_796_040_000_000;
        let rows = rows(&sim, now);
        assert_eq!(rows.len(), 14 * 10 + 30);
        let yesterday = (now / DAY_MS - 1) * DAY_MS;
        let y: Vec<_> = rows
            .iter()
            .filter(|r| r.ts_ms as i64 >= yesterday && (r.ts_ms as i64) < yesterday + DAY_MS)
            .collect();
        assert_eq!(y.len(), 30);
        let ids: std::collections::HashSet<_> = rows.iter().map(|r| &r.call_id).collect();
        assert_eq!(ids.len(), rows.len(), "ids are unique");
    }
}
