//! Events survive a schema registry that cannot be reached: they wait in the spool, in
//! order, and reach the topic exactly once when it answers again.

use std::sync::Arc;

use sightline_events::{Codec, RegistryConfig, RegistryResolver};
use sightline_testkit::registry::FakeRegistry;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_goes_down_mid_traffic_loses_nothing() {
    let mut registry = FakeRegistry::start().await.expect("registry");
    let url = registry.url.clone();
    let spool = std::env::temp_dir().join(unique("spool"));
    let config = |env: &TestEnv, upstream: &str| {
        let mut c = shim_config(env, upstream);
        c.schema_registry = RegistryConfig {
            url: Some(url.clone()),
        };
        c.shim.spool_dir = spool.clone();
        c
    };
    let env = TestEnv::new(1).await.expect("env");
    let upstream = FakeUpstream::start().await.expect("upstream");
    let http = client();
    let call = |shim: String, i: usize| {
        http.post(format!("{shim}/v1/messages"))
            .json(&serde_json::json!({"model": "m", "max_tokens": 8,
                "messages": [{"role": "user", "content": format!("question {i}")}]}))
            .send()
    };
    let (shim, shim_task) = start_shim(config(&env, &upstream.url)).await;
    for i in 0..3 {
        assert_eq!(call(shim.clone(), i).await.expect("call").status(), 200);
    }
    eventually("the first events delivered", WAIT, || async {
        (metric(&shim, "sightline_shim_events_delivered_total").await >= 6).then_some(())
    })
    .await;
    // The registry goes down; the shim restarts meanwhile (a deploy), so it has no cached id.
    registry.stop();
    shim_task.stop().await.expect("shim");
    let (shim, shim_task) = start_shim(config(&env, &upstream.url)).await;
    for i in 3..6 {
        assert_eq!(call(shim.clone(), i).await.expect("call").status(), 200);
    }
    eventually("events kept in the spool", WAIT, || async {
        (metric(&shim, "sightline_shim_spool_bytes").await > 0).then_some(())
    })
    .await;
    registry.up().await.expect("registry up");
    for i in 6..8 {
        assert_eq!(call(shim.clone(), i).await.expect("call").status(), 200);
    }
    // This shim delivered the 10 events of the calls made after the restart.
    every_event_once_in_order(&env, &shim, &registry.url, 8, 10).await;
    shim_task.stop().await.expect("shim");
    let _ = std::fs::remove_dir_all(&spool);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_in_the_spool_while_the_registry_is_down() {
    let mut registry = FakeRegistry::down().await.expect("registry address");
    let url = registry.url.clone();
    let (env, _upstream, shim, shim_task) = shim_with(1, |config| {
        config.schema_registry = RegistryConfig {
            url: Some(url.clone()),
        };
    })
    .await;
    let http = client();
    let call = |i: usize| {
        http.post(format!("{shim}/v1/messages"))
            .json(&serde_json::json!({"model": "m", "max_tokens": 8,
                "messages": [{"role": "user", "content": format!("question {i}")}]}))
            .send()
    };
    // The registry is down: calls are served, their events cannot be encoded.
    for i in 0..5 {
        assert_eq!(call(i).await.expect("call").status(), 200);
    }
    eventually("events kept in the spool", WAIT, || async {
        (metric(&shim, "sightline_shim_events_unencodable_total").await >= 1
            && metric(&shim, "sightline_shim_spool_bytes").await > 0)
            .then_some(())
    })
    .await;
    assert_eq!(metric(&shim, "sightline_shim_events_lost_total").await, 0);
    assert_eq!(
        metric(&shim, "sightline_shim_events_delivered_total").await,
        0
    );

    // It comes back mid-traffic.
    registry.up().await.expect("registry up");
    for i in 5..10 {
        assert_eq!(call(i).await.expect("call").status(), 200);
    }
    every_event_once_in_order(&env, &shim, &registry.url, 10, 20).await;
    shim_task.stop().await.expect("shim");
}

/// Once the spool has replayed (`shim` having delivered `delivered_here` events), the topic
/// holds the REQUEST and RESPONSE of each of `calls` calls ("question 0", "question 1"…)
/// exactly once, in order, and nothing was lost.
async fn every_event_once_in_order(
    env: &TestEnv,
    shim: &str,
    registry: &str,
    calls: usize,
    delivered_here: u64,
) {
    let events = 2 * calls;
    eventually("the spool replayed", 3 * WAIT, || async {
        (metric(shim, "sightline_shim_spool_bytes").await == 0
            && metric(shim, "sightline_shim_events_delivered_total").await >= delivered_here)
            .then_some(())
    })
    .await;
    assert_eq!(metric(shim, "sightline_shim_events_lost_total").await, 0);
    let codec = Codec::new(Arc::new(RegistryResolver::new(registry))).expect("codec");
    let mut ids = std::collections::BTreeMap::new();
    let mut questions = vec![];
    for raw in raw_events(env, events).await {
        let event: LlmEvent = codec.decode(&raw).await.expect("event");
        *ids.entry(event.event_id.clone()).or_insert(0) += 1;
        if event.kind == sightline_events::EventKind::Request {
            questions.extend(event.messages.into_iter().map(|m| m.text));
        }
    }
    assert_eq!(ids.len(), events, "every event arrived");
    assert!(ids.values().all(|n| *n == 1), "exactly once: {ids:?}");
    let expected: Vec<String> = (0..calls).map(|i| format!("question {i}")).collect();
    assert_eq!(questions, expected, "in order");
    let total = count_records(env, Topic::Events, events, Duration::from_secs(3)).await;
    assert_eq!(total, events, "no record sent twice");
}
