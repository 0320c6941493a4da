//! The shim's trust boundary end to end: identity headers from an address that is not the
//! trusted proxy, and secrets hidden from a raw-JSON scanner, against the real broker and
//! ClickHouse.

use std::net::IpAddr;

use sightline_shim::identity::Untrusted;
use sightline_testkit::evasions::evasions;

use super::*;

/// A client whose connections come from `address` (any 127.0.0.0/8 address is this host).
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(WAIT)
        .local_address(address.parse::<IpAddr>().expect("address"))
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_headers_count_only_from_the_trusted_proxy() {
    let (env, _upstream, shim, shim_task) = shim_with(1, |_| {}).await;
    let sink = start_sink(sink_config(&env, &unique("sink")));
    let body = serde_json::json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
    let spoof = |c: &reqwest::Client, shim: &str| {
        c.post(format!("{shim}/v1/messages"))
            .header("x-sightline-user", "mallory")
            .header("x-sightline-team", "finance")
            .header("x-sightline-tenant", "lenient-tenant")
            .json(&body)
    };

    // From another address: ignored, counted.
    let resp = spoof(&client_from("127.0.0.2"), &shim)
        .send()
        .await
        .expect("call");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        metric(&shim, "sightline_shim_untrusted_identity_headers_total").await,
        1
    );
    let rows = rows_when(&env, 2).await;
    assert!(
        rows.iter()
            .all(|r| r.user_id == "anonymous" && r.tenant_id == "acme" && r.team_id.is_none()),
        "a spoofed identity was recorded: {rows:?}"
    );
    // From the proxy's address: trusted.
    let resp = spoof(&client_from("127.0.0.1"), &shim)
        .send()
        .await
        .expect("call");
    assert_eq!(resp.status(), 200);
    let rows = rows_when(&env, 4).await;
    assert!(
        rows[2..]
            .iter()
            .all(|r| r.user_id == "mallory" && r.tenant_id == "lenient-tenant"),
        "{rows:?}"
    );
    assert_eq!(
        metric(&shim, "sightline_shim_untrusted_identity_headers_total").await,
        1
    );
    shim_task.stop().await.expect("shim");
    sink.stop().await.expect("sink");

    // Configured to refuse them: 401, and nothing reaches upstream.
    let (_env, upstream, shim, shim_task) = shim_with(1, |config| {
        config.identity.untrusted_headers = Untrusted::Reject;
    })
    .await;
    let resp = spoof(&client_from("127.0.0.2"), &shim)
        .send()
        .await
        .expect("call");
    assert_eq!(resp.status(), 401);
    let err: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(err["error"]["type"], "authentication_error");
    assert!(upstream.requests().is_empty());
    shim_task.stop().await.expect("shim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_hidden_from_a_raw_json_scan_are_blocked_and_never_published() {
    let (env, upstream, shim, shim_task) = shim_with(1, |_| {}).await;
    let sink = start_sink(sink_config(&env, &unique("sink")));
    let cases = evasions();
    assert!(cases.len() >= 20, "{}", cases.len());
    let http = client();
    for e in &cases {
        let resp = http
            .post(format!("{shim}{}", e.path))
            .header("content-type", "application/json")
            .body(e.body.clone())
            .send()
            .await
            .expect("call");
        assert_eq!(resp.status(), 200, "{}", e.name);
        assert_eq!(
            resp.headers()
                .get("x-sightline-blocked")
                .map(|v| v.as_bytes()),
            Some(&b"true"[..]),
            "{} was not blocked",
            e.name
        );
    }
    assert!(
        upstream.requests().is_empty(),
        "a blocked request reached upstream"
    );
    let expected = cases.len() * 2;
    let rows = rows_when(&env, expected).await;
    let records = raw_events(&env, expected).await;
    for e in &cases {
        for value in &e.values {
            assert!(
                rows.iter()
                    .all(|r| r.message_texts.iter().all(|t| !t.contains(value.as_str()))),
                "{}: a piece of the value is in ClickHouse",
                e.name
            );
            assert!(
                records
                    .iter()
                    .all(|r| !String::from_utf8_lossy(r).contains(value.as_str())),
                "{}: a piece of the value is on the topic",
                e.name
            );
        }
    }
    shim_task.stop().await.expect("shim");
    sink.stop().await.expect("sink");
}
