//! Every model endpoint is inspected and recorded: the Responses API (whole and streamed),
//! legacy completions, embeddings and Anthropic message batches.

use sightline_testkit::evasions::AWS_KEY_ID;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_completions_embeddings_and_batches_are_recorded() {
    let (env, upstream, shim, shim_task) = shim_with(1, |_| {}).await;
    let sink = start_sink(sink_config(&env, &unique("sink")));
    let http = client();
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{shim}{path}"))
            .header("authorization", "Bearer sk-openai-caller")
            .json(&body)
            .send()
    };

    let whole = post(
        "/v1/responses",
        serde_json::json!({"model": "gpt-4o",
        "instructions": "be brief", "input": "first question"}),
    )
    .await
    .expect("responses");
    assert_eq!(whole.status(), 200);
    let v: serde_json::Value = whole.json().await.expect("json");
    assert_eq!(v["output"][0]["content"][0]["text"], ANSWER);

    let streamed = post("/v1/responses", serde_json::json!({"model": "gpt-4o", "stream": true,
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "second question"}]}]}))
    .await
    .expect("responses stream")
    .text()
    .await
    .expect("text");
    assert!(streamed.contains("event: response.completed"), "{streamed}");

    let completion = post(
        "/v1/completions",
        serde_json::json!({"model": "gpt-3.5-turbo-instruct",
        "prompt": "third question", "stream": true}),
    )
    .await
    .expect("completions")
    .text()
    .await
    .expect("text");
    assert!(completion.ends_with("data: [DONE]\n\n"), "{completion}");

    let embedded = post(
        "/v1/embeddings",
        serde_json::json!({"model": "text-embedding-3-small",
        "input": ["fourth question"]}),
    )
    .await
    .expect("embeddings");
    assert_eq!(embedded.status(), 200);

    let batch = serde_json::json!({"requests": [
        {"custom_id": "a", "params": {"model": "claude-sonnet-4", "max_tokens": 8, "messages": [{"role": "user", "content": "fifth question"}]}}]});
    let batched = post("/v1/messages/batches", batch).await.expect("batches");
    assert_eq!(batched.status(), 200);

    // A secret in any request of a batch, or in an embedding's input, refuses the call: these
    // endpoints have no reply to carry an explanation.
    for (path, body) in [
        (
            "/v1/messages/batches",
            serde_json::json!({"requests": [
            {"custom_id": "ok", "params": {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "fine"}]}},
            {"custom_id": "leak", "params": {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": format!("key {AWS_KEY_ID}")}]}}]}),
        ),
        (
            "/v1/embeddings",
            serde_json::json!({"model": "e", "input": format!("key {AWS_KEY_ID}")}),
        ),
    ] {
        let resp = post(path, body).await.expect("call");
        assert_eq!(resp.status(), 400, "{path}");
        assert_eq!(resp.headers()["x-sightline-blocked"], "true");
        let text = resp.text().await.expect("text");
        // Failure messages never print the reply: it might hold the key.
        assert!(
            !text.contains(AWS_KEY_ID),
            "{path}: the reply echoes the key"
        );
        assert!(text.contains("Sightline blocked"), "{path}: no explanation");
    }
    assert_eq!(
        upstream.requests().len(),
        5,
        "blocked calls never reach upstream"
    );

    // 7 calls; the two batch requests carry no message text, so they leave no REQUEST row.
    let rows = rows_when(&env, 12).await;
    let by_endpoint = |endpoint: &str, kind: &str| -> Vec<&CallRow> {
        rows.iter()
            .filter(|r| r.endpoint == endpoint && r.kind == kind)
            .collect()
    };
    let requests = by_endpoint("POST /v1/responses", "REQUEST");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].message_roles, ["system", "user"]);
    assert_eq!(requests[0].message_texts, ["be brief", "first question"]);
    assert_eq!(requests[1].message_texts, ["second question"]);
    for r in by_endpoint("POST /v1/responses", "RESPONSE") {
        assert_eq!(r.message_texts, [ANSWER], "{r:?}");
        assert_eq!(
            (r.input_tokens, r.output_tokens),
            (Some(OPENAI_USAGE.0), Some(OPENAI_USAGE.1)),
            "usage from the response, or from response.completed"
        );
    }
    let completion = by_endpoint("POST /v1/completions", "RESPONSE");
    assert_eq!(completion[0].message_texts, [ANSWER]);
    assert_eq!(
        by_endpoint("POST /v1/completions", "REQUEST")[0].message_texts,
        ["third question"]
    );
    assert_eq!(
        by_endpoint("POST /v1/embeddings", "RESPONSE")[0].input_tokens,
        Some(OPENAI_USAGE.0)
    );
    let batches = by_endpoint("POST /v1/messages/batches", "RESPONSE");
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[1].status, "BLOCKED");
    assert!(rows
        .iter()
        .all(|r| r.message_texts.iter().all(|t| !t.contains(AWS_KEY_ID))));
    shim_task.stop().await.expect("shim");
    sink.stop().await.expect("sink");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_carry_what_the_processors_need() {
    use sightline_shim::identity::{key_hash, KeyOwner};
    let (env, _upstream, shim, shim_task) = shim_with(1, |config| {
        config.identity.api_keys.insert(
            key_hash("sk-ant-ci-key"),
            KeyOwner {
                user: "ci-bot".into(),
                capability: Some("ci-review".into()),
                workspace: Some("repo-42".into()),
                ..KeyOwner::default()
            },
        );
    })
    .await;
    let http = client();
    let ask = |temperature: f64, key: &'static str, agent: &'static str| {
        http.post(format!("{shim}/v1/messages"))
            .header("x-api-key", key)
            .header("user-agent", agent)
            .header("x-claude-code-session-id", "5f0c8e52-1f5a-4c2e-9a53-0d1c2b3a4f5e")
            .json(&serde_json::json!({"model": "claude-sonnet-4", "max_tokens": 64, "temperature": temperature,
                "system": "You help ops@acme.example.",
                "messages": [{"role": "user", "content": "the same prompt"}]}))
            .send()
    };
    // Two resamples of one prompt, and a call from a registered key.
    for (t, key, agent) in [
        (1.0, "sk-ant-someone", "claude-cli/2.1.3 (external, cli)"),
        (0.5, "sk-ant-someone", "claude-cli/2.1.3 (external, cli)"),
        (1.0, "sk-ant-ci-key", "curl/8.5.0"),
    ] {
        assert_eq!(ask(t, key, agent).await.expect("call").status(), 200);
    }
    let codec = Codec::pinned().expect("codec");
    let mut events = vec![];
    for raw in raw_events(&env, 6).await {
        events.push(codec.decode::<LlmEvent>(&raw).await.expect("event"));
    }
    let requests: Vec<&LlmEvent> = events
        .iter()
        .filter(|e| e.kind == sightline_events::EventKind::Request)
        .collect();
    let hashes: Vec<_> = requests.iter().map(|e| e.content_hash.clone()).collect();
    assert!(
        hashes[0].is_some() && hashes[0] == hashes[1],
        "resamples share a content hash"
    );
    assert_eq!(requests[0].capability.as_deref(), Some("claude-code"));
    assert_eq!(requests[2].capability.as_deref(), Some("ci-review"));
    assert_eq!(requests[2].workspace_id.as_deref(), Some("repo-42"));
    let (someone, ci) = (
        requests[0].api_key_id.clone(),
        requests[2].api_key_id.clone(),
    );
    assert!(someone.is_some() && someone == requests[1].api_key_id && someone != ci);
    assert!(
        !someone.unwrap_or_default().contains("someone"),
        "a keyed id, never the key"
    );
    assert_eq!(requests[1].sampling.and_then(|s| s.temperature), Some(0.5));
    assert_eq!(
        requests[0].conversation_id.as_deref(),
        Some("session-5f0c8e52-1f5a-4c2e-9a53-0d1c2b3a4f5e"),
        "Claude Code's session header"
    );
    let email = requests[0]
        .findings
        .iter()
        .find(|f| f.rule_id == "email-address")
        .expect("the system prompt's address is found");
    assert_eq!(email.location.as_deref(), Some("/system"));
    assert_eq!(email.tier.as_deref(), Some("INFO"));
    let response = events
        .iter()
        .find(|e| e.kind == sightline_events::EventKind::Response)
        .expect("response");
    assert_eq!(response.stop_reason.as_deref(), Some("end_turn"));
    assert!(response.response_bytes.is_some_and(|b| b > 0));
    assert!(requests[0].request_bytes.is_some_and(|b| b > 0));
    shim_task.stop().await.expect("shim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_posts_are_recorded_without_text_relayed_or_refused_as_configured() {
    use sightline_shim::config::UnknownEndpoints;
    let (env, upstream, shim, shim_task) = shim_with(1, |_| {}).await;
    let body = format!("{{\"file\": \"secret plan {}\"}}", "x".repeat(100));
    let resp = client()
        .post(format!("{shim}/v1/files"))
        .header("anthropic-version", "2023-06-01")
        .body(body.clone())
        .send()
        .await
        .expect("call");
    let status = resp.status().as_u16();
    assert_eq!(upstream.requests().len(), 1, "relayed");
    assert_eq!(upstream.requests()[0].body, body.as_bytes(), "untouched");
    let codec = Codec::pinned().expect("codec");
    let mut events = vec![];
    for raw in raw_events(&env, 2).await {
        events.push(codec.decode::<LlmEvent>(&raw).await.expect("event"));
    }
    assert!(events.iter().all(|e| e.endpoint == "POST /v1/files"
        && e.provider == Provider::Anthropic
        && e.messages.is_empty()
        && e.content_hash.is_none()));
    assert_eq!(events[0].request_bytes, Some(body.len() as i64));
    assert_eq!(events[1].http_status, Some(i32::from(status)));
    assert!(events[1].response_bytes.is_some());
    shim_task.stop().await.expect("shim");

    let (_env, upstream, shim, shim_task) = shim_with(1, |config| {
        config.shim.unknown_endpoints = UnknownEndpoints::Reject;
    })
    .await;
    let resp = client()
        .post(format!("{shim}/v1/files"))
        .body("{}")
        .send()
        .await
        .expect("call");
    assert_eq!(resp.status(), 404);
    let err: serde_json::Value = resp.json().await.expect("json");
    assert!(err["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("shim.unknown_endpoints")));
    assert!(upstream.requests().is_empty());
    shim_task.stop().await.expect("shim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_api_calls_join_their_conversation() {
    let (env, upstream, shim, shim_task) = shim_with(1, |_| {}).await;
    let http = client();
    let ask =
        |body: serde_json::Value| http.post(format!("{shim}/v1/responses")).json(&body).send();
    let first = ask(serde_json::json!({"model": "gpt-4o", "input": "plan the migration"}))
        .await
        .expect("first");
    let id = first.json::<serde_json::Value>().await.expect("json")["id"]
        .as_str()
        .expect("response id")
        .to_string();
    // The next turn names only the response it continues, and is sent at once (an SDK does
    // not wait for the shim's events).
    ask(serde_json::json!({"model": "gpt-4o", "previous_response_id": id, "input": "and the rollback?"}))
        .await
        .expect("second");
    ask(serde_json::json!({"model": "gpt-4o", "conversation": {"id": "conv_68af1"}, "input": "hello"}))
        .await
        .expect("third");
    // A blocked reply's made-up id joins its conversation too, and never reaches upstream.
    let blocked = ask(serde_json::json!({"model": "gpt-4o", "input": format!("key {AWS_KEY_ID}")}))
        .await
        .expect("blocked");
    let blocked_id = blocked.json::<serde_json::Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    ask(serde_json::json!({"model": "gpt-4o", "previous_response_id": blocked_id, "input": "sorry, here it is without the key"}))
        .await
        .expect("after the block");
    let forwarded: serde_json::Value =
        serde_json::from_slice(&upstream.requests()[3].body).expect("json");
    assert!(
        forwarded.get("previous_response_id").is_none(),
        "a made-up id is not sent upstream: {forwarded}"
    );
    assert_eq!(forwarded["input"], "sorry, here it is without the key");

    let codec = Codec::pinned().expect("codec");
    let mut events = vec![];
    for raw in raw_events(&env, 10).await {
        events.push(codec.decode::<LlmEvent>(&raw).await.expect("event"));
    }
    let conversation = |i: usize| events[i].conversation_id.clone().expect("conversation");
    assert_eq!(
        conversation(2),
        conversation(0),
        "previous_response_id joins the conversation of that response"
    );
    assert_eq!(conversation(4), "conv_68af1");
    assert_eq!(
        conversation(8),
        conversation(6),
        "continued from a blocked reply"
    );
    shim_task.stop().await.expect("shim");
}
