//! A fake upstream LLM API that answers in the providers' exact wire formats: Anthropic
//! Messages (and token counts, message batches), OpenAI Chat Completions, Responses,
//! Completions and Embeddings.
//!
//! Token usage is deterministic so tests can assert it: Anthropic answers report
//! [`ANTHROPIC_USAGE`], OpenAI answers [`OPENAI_USAGE`]. A request header `x-fake-status: NNN`
//! makes it answer with that status and the provider's error body. Streams can be held after
//! the first event by [`FakeUpstream::hold_streams`] to prove the shim relays without buffering.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::recorder::Received;

/// (input, output) tokens every Anthropic answer reports.
pub const ANTHROPIC_USAGE: (i64, i64) = (25, 11);
/// (prompt, completion) tokens every OpenAI answer reports.
pub const OPENAI_USAGE: (i64, i64) = (31, 13);
/// The assistant text of every answer, unless the request sets `x-fake-reply`.
pub const ANSWER: &str = "Hello from the fake upstream.";

/// Choice `i`'s text of an OpenAI answer with `n` > 1: choice 0 says [`ANSWER`] (or
/// `x-fake-reply`), choice `i` adds ` (choice i)`.
pub fn choice_answer(answer: &str, i: usize) -> String {
    if i == 0 {
        answer.to_string()
    } else {
        format!("{answer} (choice {i})")
    }
}

fn answer(headers: &HeaderMap) -> String {
    headers
        .get("x-fake-reply")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(ANSWER)
        .to_string()
}

#[derive(Default)]
struct Inner {
    requests: Mutex<Vec<Received>>,
    /// When set, streams pause after their first event until a permit is added.
    gate: Mutex<Option<Arc<Semaphore>>>,
    delay: Mutex<Duration>,
    /// Streams dropped before their last event: the client side went away.
    cancelled: Arc<std::sync::atomic::AtomicUsize>,
}

/// A running fake upstream.
#[derive(Clone)]
pub struct FakeUpstream {
    /// Base URL, e.g. `http://127.0.0.1:12345`.
    pub url: String,
    inner: Arc<Inner>,
}

impl FakeUpstream {
    /// Starts on an ephemeral loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts on `addr`.
    pub async fn start_on(addr: SocketAddr) -> anyhow::Result<Self> {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/v1/messages", post(anthropic))
            .route("/v1/chat/completions", post(openai))
            .route("/v1/messages/count_tokens", post(count_tokens))
            .route("/v1/messages/batches", post(batches))
            .route("/v1/responses", post(responses))
            .route("/v1/completions", post(completions))
            .route("/v1/embeddings", post(embeddings))
            .route("/v1/models", axum::routing::get(models))
            .fallback(unknown)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { url, inner })
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Received> {
        self.inner
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Makes streams pause after their first event; returns the gate to release them.
    pub fn hold_streams(&self) -> Arc<Semaphore> {
        let gate = Arc::new(Semaphore::new(0));
        if let Ok(mut g) = self.inner.gate.lock() {
            *g = Some(gate.clone());
        }
        gate
    }

    /// Streams the server stopped sending because the connection went away.
    pub fn cancelled_streams(&self) -> usize {
        self.inner
            .cancelled
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Delays every answer by `d` before the response headers.
    pub fn set_delay(&self, d: Duration) {
        if let Ok(mut delay) = self.inner.delay.lock() {
            *delay = d;
        }
    }
}

async fn record(inner: &Inner, path: &str, headers: &HeaderMap, body: &Bytes) -> Option<u16> {
    if let Ok(mut r) = inner.requests.lock() {
        r.push(Received {
            at: std::time::SystemTime::now(),
            path: path.into(),
            headers: headers.clone(),
            body: body.clone(),
        });
    }
    let delay = inner.delay.lock().map(|d| *d).unwrap_or_default();
    if !delay.is_zero() {
        // Not `tokio::time::sleep`: its timer ticks in whole milliseconds, which rounds every
        // delay up by as much as 1 ms and locks a load generator's requests to the tick. A
        // sleeping blocking-pool thread wakes within tens of microseconds.
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(delay)).await;
    }
    headers
        .get("x-fake-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn sse(inner: &Inner, events: Vec<String>) -> Response {
    let gate = inner.gate.lock().ok().and_then(|g| g.clone());
    let guard = CancelGuard {
        done: false,
        counter: inner.cancelled.clone(),
    };
    let stream = async_stream(events, gate, guard);
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Counts a stream as cancelled if it is dropped before its last event was taken.
struct CancelGuard {
    done: bool,
    counter: Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.done {
            self.counter
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

fn async_stream(
    events: Vec<String>,
    gate: Option<Arc<Semaphore>>,
    guard: CancelGuard,
) -> impl futures::Stream<Item = Result<Bytes, Infallible>> {
    futures::stream::unfold(
        (events.into_iter(), 0usize, gate, guard),
        |(mut it, i, gate, mut guard)| async move {
            if i == 1 {
                if let Some(g) = &gate {
                    // Held until the test has seen the first event through the shim.
                    if let Ok(p) = g.acquire().await {
                        p.forget();
                    }
                }
            }
            let ev = it.next()?;
            if it.len() == 0 {
                guard.done = true;
            }
            Some((Ok(Bytes::from(ev)), (it, i + 1, gate, guard)))
        },
    )
}

async fn anthropic(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(status) = record(&inner, "/v1/messages", &headers, &body).await {
        return error(
            status,
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}),
        );
    }
    let (req, model) = parse(&body, "claude-fake");
    let (input, output) = ANTHROPIC_USAGE;
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        let id = "msg_fake_stream";
        let mut events = vec![
            event(
                "message_start",
                json!({"type": "message_start", "message": {"id": id, "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": input, "output_tokens": 1}}}),
            ),
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            event("ping", json!({"type": "ping"})),
        ];
        for word in answer(&headers).split_inclusive(' ') {
            events.push(event("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}})));
        }
        events.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ));
        events.push(event("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": output}})));
        events.push(event("message_stop", json!({"type": "message_stop"})));
        return sse(&inner, events);
    }
    axum::Json(json!({
        "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": answer(&headers)}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": input, "output_tokens": output}
    }))
    .into_response()
}

async fn count_tokens(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&inner, "/v1/messages/count_tokens", &headers, &body).await;
    axum::Json(json!({"input_tokens": 42})).into_response()
}

async fn models(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    record(&inner, "/v1/models", &headers, &Bytes::new()).await;
    axum::Json(json!({"data": [{"id": "claude-sonnet-4", "type": "model"}, {"id": "gpt-4o", "object": "model"}], "has_more": false}))
        .into_response()
}

/// The provider's error body with the status the test asked for.
fn error(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        axum::Json(body),
    )
        .into_response()
}

/// The request as JSON (null when it is not) and the model it names.
fn parse(body: &[u8], default_model: &str) -> (Value, String) {
    let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(default_model)
        .to_string();
    (req, model)
}

fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

async fn openai(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(status) = record(&inner, "/v1/chat/completions", &headers, &body).await {
        return error(
            status,
            json!({"error": {"message": "slow down", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
        );
    }
    let (req, model) = parse(&body, "gpt-fake");
    let (prompt, completion) = OPENAI_USAGE;
    let usage = json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion});
    let created = 1_763_000_000;
    // `n` choices, as the API allows (1 to 128).
    let n = req
        .get("n")
        .and_then(Value::as_u64)
        .map_or(1, |n| n.clamp(1, 128) as usize);
    let answers: Vec<String> = (0..n)
        .map(|i| choice_answer(&answer(&headers), i))
        .collect();
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        let include_usage = req
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);
        let chunk = |index: usize, delta: Value, finish: Value, usage: Value| {
            let mut c = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": model, "system_fingerprint": null,
                "choices": [{"index": index, "delta": delta, "logprobs": null, "finish_reason": finish}]});
            if include_usage {
                c["usage"] = usage;
            }
            format!("data: {c}\n\n")
        };
        let mut events: Vec<String> = (0..n)
            .map(|i| {
                chunk(
                    i,
                    json!({"role": "assistant", "content": ""}),
                    Value::Null,
                    Value::Null,
                )
            })
            .collect();
        // Like the real API, the choices' chunks interleave: one word of each in turn.
        let words: Vec<Vec<&str>> = answers
            .iter()
            .map(|a| a.split_inclusive(' ').collect())
            .collect();
        let longest = words.iter().map(Vec::len).max().unwrap_or(0);
        for w in 0..longest {
            for (i, choice) in words.iter().enumerate() {
                if let Some(word) = choice.get(w) {
                    events.push(chunk(i, json!({"content": word}), Value::Null, Value::Null));
                }
            }
        }
        for i in 0..n {
            events.push(chunk(i, json!({}), json!("stop"), Value::Null));
        }
        if include_usage {
            events.push(format!(
                "data: {}\n\n",
                json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": model, "choices": [], "usage": usage})
            ));
        }
        events.push("data: [DONE]\n\n".into());
        return sse(&inner, events);
    }
    axum::Json(json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": created, "model": model,
        "choices": answers.iter().enumerate().map(|(i, a)| json!({"index": i, "message": {"role": "assistant", "content": a, "refusal": null}, "logprobs": null, "finish_reason": "stop"})).collect::<Vec<_>>(),
        "usage": usage
    }))
    .into_response()
}

/// OpenAI's rate-limit error, when the test asked for a status.
async fn openai_refusal(
    inner: &Inner,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Option<Response> {
    let status = record(inner, path, headers, body).await?;
    Some(error(
        status,
        json!({"error": {"message": "slow down", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
    ))
}

/// The Responses API: a response object, or its `response.*` events with the usage in
/// `response.completed`. Usage is [`OPENAI_USAGE`] as input and output tokens.
async fn responses(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = openai_refusal(&inner, "/v1/responses", &headers, &body).await {
        return refusal;
    }
    let (req, model) = parse(&body, "gpt-fake");
    let (input, output) = OPENAI_USAGE;
    let text = answer(&headers);
    let usage = json!({"input_tokens": input, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": input + output});
    let part = |text: &str| json!({"type": "output_text", "text": text, "annotations": []});
    let item = |status: &str, content: Value| json!({"type": "message", "id": "msg_fake", "status": status, "role": "assistant", "content": content});
    let response = |status: &str, output: Value, usage: Value| {
        json!({"id": "resp_fake", "object": "response", "created_at": 1_763_000_000, "status": status,
            "error": null, "incomplete_details": null, "model": model, "output": output,
            "parallel_tool_calls": true, "tool_choice": "auto", "tools": [], "usage": usage})
    };
    if req.get("stream").and_then(Value::as_bool) != Some(true) {
        return axum::Json(response(
            "completed",
            json!([item("completed", json!([part(&text)]))]),
            usage,
        ))
        .into_response();
    }
    let mut seq = 0;
    let mut next = |mut data: Value| {
        data["sequence_number"] = json!(seq);
        seq += 1;
        let name = data["type"].as_str().unwrap_or("").to_string();
        event(&name, data)
    };
    let at = json!({"item_id": "msg_fake", "output_index": 0, "content_index": 0});
    let with = |extra: Value| {
        let mut v = at.clone();
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        v
    };
    let mut events = vec![
        next(
            json!({"type": "response.created", "response": response("in_progress", json!([]), Value::Null)}),
        ),
        next(
            json!({"type": "response.in_progress", "response": response("in_progress", json!([]), Value::Null)}),
        ),
        next(
            json!({"type": "response.output_item.added", "output_index": 0, "item": item("in_progress", json!([]))}),
        ),
        next(with(
            json!({"type": "response.content_part.added", "part": part("")}),
        )),
    ];
    for word in text.split_inclusive(' ') {
        events.push(next(with(
            json!({"type": "response.output_text.delta", "delta": word}),
        )));
    }
    events.push(next(with(
        json!({"type": "response.output_text.done", "text": text}),
    )));
    events.push(next(with(
        json!({"type": "response.content_part.done", "part": part(&text)}),
    )));
    events.push(next(json!({"type": "response.output_item.done", "output_index": 0, "item": item("completed", json!([part(&text)]))})));
    events.push(next(json!({"type": "response.completed", "response": response("completed", json!([item("completed", json!([part(&text)]))]), usage)})));
    sse(&inner, events)
}

/// The legacy Completions API, whole or streamed.
async fn completions(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = openai_refusal(&inner, "/v1/completions", &headers, &body).await {
        return refusal;
    }
    let (req, model) = parse(&body, "gpt-fake-instruct");
    let (prompt, completion) = OPENAI_USAGE;
    let text = answer(&headers);
    let chunk = |text: &str, finish: Value| {
        json!({"id": "cmpl-fake", "object": "text_completion", "created": 1_763_000_000, "model": model,
            "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}]})
    };
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        let mut events: Vec<String> = text
            .split_inclusive(' ')
            .map(|w| format!("data: {}\n\n", chunk(w, Value::Null)))
            .collect();
        events.push(format!("data: {}\n\n", chunk("", json!("stop"))));
        events.push("data: [DONE]\n\n".into());
        return sse(&inner, events);
    }
    let mut whole = chunk(&text, json!("stop"));
    whole["usage"] = json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion});
    axum::Json(whole).into_response()
}

/// The Embeddings API: one small vector per input.
async fn embeddings(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = openai_refusal(&inner, "/v1/embeddings", &headers, &body).await {
        return refusal;
    }
    let (req, model) = parse(&body, "text-embedding-fake");
    let inputs = req
        .get("input")
        .and_then(Value::as_array)
        .map_or(1, Vec::len);
    let data: Vec<Value> = (0..inputs)
        .map(|i| json!({"object": "embedding", "index": i, "embedding": [0.25, -0.5, 0.125]}))
        .collect();
    axum::Json(json!({"object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": OPENAI_USAGE.0, "total_tokens": OPENAI_USAGE.0}}))
    .into_response()
}

/// Anthropic's Message Batches API: the batch, in progress.
async fn batches(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    record(&inner, "/v1/messages/batches", &headers, &body).await;
    let (req, _) = parse(&body, "");
    let n = req
        .get("requests")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    axum::Json(json!({"id": "msgbatch_fake", "type": "message_batch", "processing_status": "in_progress",
        "request_counts": {"processing": n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
        "ended_at": null, "created_at": "2026-11-30T00:00:00Z", "expires_at": "2026-12-01T00:00:00Z",
        "cancel_initiated_at": null, "results_url": null}))
    .into_response()
}

/// Any other path: recorded, and answered 404 as the providers do.
async fn unknown(
    State(inner): State<Arc<Inner>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&inner, uri.path(), &headers, &body).await;
    error(
        404,
        json!({"type": "error", "error": {"type": "not_found_error", "message": "Not Found"}}),
    )
}
