//! The anomaly job on back-filled history in ClickHouse 18.16: a volume spike and drop
//! written by `sightline simulate`, an error burst, a silent tenant and a new model each open
//! one incident on the incidents topic; a second run, and a restarted job once the sink has
//! stored them, open none again.

use std::collections::BTreeSet;
use std::time::Duration;

use sightline_anomaly::config::BusinessHours;
use sightline_anomaly::simulate::Shape;
use sightline_anomaly::{AnomalyConfig, Job};
use sightline_events::IncidentEvent;
use sightline_kafka::Topic;
use sightline_runtime::Shutdown;
use sightline_sink::rows::CallRow;
use sightline_testkit::{eventually, unique, TestEnv};

use super::processors::read_until;
use super::{sink_config, start_sink, WAIT};

/// A call of `tenant` at `ts_ms` with `model` and `status`.
fn call(tenant: &str, n: usize, ts_ms: i64, model: &str, status: &str) -> CallRow {
    let mut rows = sightline_anomaly::simulate::rows(
        &sightline_anomaly::simulate::Simulation {
            shape: Shape::Spike,
            tenant_id: tenant.into(),
            capability: "chat".into(),
            baseline: 1,
        },
        ts_ms,
    );
    let mut r = rows.swap_remove(0);
    r.call_id = format!("live-{tenant}-{n}");
    r.event_id = format!("live-{tenant}-{n}-r");
    r.ts_ms = ts_ms as u64;
    r.started_ms = ts_ms as u64 - 100;
    r.model = model.into();
    r.status = status.into();
    r._offset = n as i64;
    r._topic = "live".into();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomalies_in_back_filled_history_open_one_incident_each() {
    let env = TestEnv::new(1).await.expect("env");
    let now = sightline_events::now_ms();
    let client = env.clickhouse.client();
    for (shape, capability) in [(Shape::Spike, "chat"), (Shape::Drop, "code")] {
        let mut out = Vec::new();
        sightline_cli::simulate::run(
            &env.clickhouse,
            &sightline_cli::simulate::SimulateArgs {
                shape,
                tenant: "acme".into(),
                capability: capability.into(),
                baseline: 100,
            },
            now,
            &mut out,
        )
        .await
        .expect("simulate");
        assert!(String::from_utf8(out)
            .expect("utf8")
            .contains("yesterday a"));
    }
    let mut again = Vec::new();
    sightline_cli::simulate::run(
        &env.clickhouse,
        &sightline_cli::simulate::SimulateArgs {
            shape: Shape::Spike,
            tenant: "acme".into(),
            capability: "chat".into(),
            baseline: 100,
        },
        now,
        &mut again,
    )
    .await
    .expect("simulate again");
    assert!(
        String::from_utf8(again)
            .expect("utf8")
            .contains("already there; nothing written"),
        "simulate is safe to run twice"
    );
    // In the last complete 15 minutes: 40 calls, 10 failed; one with a model never used.
    let bucket = (now / 900_000 - 1) * 900_000;
    let mut live: Vec<CallRow> = (0..40)
        .map(|i| {
            let status = if i % 4 == 0 { "FAILED" } else { "OK" };
            call(
                "acme",
                i,
                bucket + 1_000 * i as i64,
                "simulated-model",
                status,
            )
        })
        .collect();
    live.push(call("acme", 40, bucket + 60_000, "gpt-5-new", "OK"));
    // A tenant whose calls stopped three hours ago.
    live.extend((0..3).map(|i| {
        call(
            "quiet",
            i,
            now - 3 * 3_600_000 - 60_000 * i as i64,
            "simulated-model",
            "OK",
        )
    }));
    sightline_anomaly::simulate::insert(&client, &live)
        .await
        .expect("live calls");

    let mut config = AnomalyConfig {
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        clickhouse: env.clickhouse.clone(),
        ..Default::default()
    };
    // Every hour of every day is business hours, so the test does not depend on the clock.
    config.anomaly.business_hours = BusinessHours {
        days: (1..=7).collect(),
        start_hour: 0,
        end_hour: 24,
        utc_offset_minutes: 0,
    };
    config.anomaly.metrics_listen = String::new();
    let shutdown = Shutdown::new();
    let mut job = Job::new(config.clone()).expect("job");
    let run = job.run_once(now, &shutdown).await.expect("run");
    let opened: BTreeSet<(String, String, String)> = run
        .opened
        .iter()
        .map(|i| (i.tenant_id.clone(), i.rule.clone(), i.title.clone()))
        .collect();
    let rules: Vec<(&str, &str)> = opened
        .iter()
        .map(|(t, r, _)| (t.as_str(), r.as_str()))
        .collect();
    assert_eq!(
        rules,
        [
            ("acme", "anomaly_error_rate"),
            ("acme", "anomaly_new_usage"),
            ("acme", "anomaly_volume_drop"),
            ("acme", "anomaly_volume_spike"),
            ("quiet", "anomaly_no_calls"),
        ],
        "{opened:#?}"
    );
    assert!(
        opened
            .iter()
            .any(|(_, _, title)| title == "New model: gpt-5-new"),
        "{opened:#?}"
    );
    assert!(
        opened
            .iter()
            .any(|(_, _, title)| title.starts_with("Volume spike for chat on")),
        "{opened:#?}"
    );

    // On the incidents topic, keyed by tenant, as the incidents processor keys its own.
    let codec = sightline_events::Codec::pinned().expect("codec");
    let written: Vec<IncidentEvent> =
        read_until(&env, Topic::Incidents, &codec, |got: &[IncidentEvent]| {
            got.len() >= 5
        })
        .await;
    assert_eq!(written.len(), 5);
    assert!(written
        .iter()
        .all(|i| i.partition_key == i.tenant_id && i.seq == 1));

    let again = job.run_once(now, &shutdown).await.expect("second run");
    assert_eq!(
        (again.found, again.opened.len()),
        (5, 0),
        "found again, opened once"
    );

    // A restarted job learns from ClickHouse what it opened.
    let mut sink = sink_config(&env, &unique("sink"));
    sink.sink.inputs = vec!["incidents".into()];
    let sink = start_sink(sink);
    eventually("the incidents in ClickHouse", WAIT, || async {
        let n: u64 = client
            .query("SELECT sum(open_incidents) FROM v_open_incidents_summary WHERE tenant_id IN ('acme', 'quiet')")
            .fetch_one()
            .await
            .unwrap_or(0);
        (n == 5).then_some(())
    })
    .await;
    sink.stop().await.expect("sink");
    let mut restarted = Job::new(config).expect("job");
    let third = restarted.run_once(now, &shutdown).await.expect("third run");
    assert_eq!((third.found, third.opened.len()), (5, 0));
    tokio::time::sleep(Duration::from_millis(10)).await;
}
