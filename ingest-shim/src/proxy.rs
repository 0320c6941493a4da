//! HTTP front: routes, forwarding and the server lifecycle.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use futures::StreamExt;
use sightline_detect::FingerprintKey;
use sightline_events::{CallStatus, LlmEvent, Provider};
use sightline_kafka::{Producer, Topic, TopicNames};
use sightline_policy::{Context, Policy};
use sightline_runtime::Shutdown;

use crate::block;
use crate::extract::{parse_request, RequestInfo};
use crate::identity::{self, Identity};
use crate::inline::{self, Inspection};
use crate::publish::{self, Publisher};
use crate::relay::{CallRecord, Relay, ResponseScanner};
use crate::spool::Spool;
use crate::sse::Observer;
use crate::ShimConfig;

/// Conversation header.
pub const CONVERSATION_HEADER: &str = "x-sightline-conversation";

/// Bodies larger than this are parsed off the async reactor.
const INLINE_PARSE_LIMIT: usize = 64 * 1024;

/// Shared by every request.
#[derive(Debug, Clone)]
pub struct AppState {
    config: Arc<ShimConfig>,
    http: reqwest::Client,
    /// The upstream base URLs, parsed once: parsing a URL (with its IDNA host) costs more
    /// than the rest of building the upstream request.
    bases: Arc<UpstreamBases>,
    publisher: Publisher,
    scanner: ResponseScanner,
}

impl AppState {
    /// State for `config`, publishing through `publisher`. Loads the policy.
    pub fn new(config: ShimConfig, publisher: Publisher) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .pool_idle_timeout(std::time::Duration::from_secs(90))
            .build()?;
        let policy = match &config.policy.file {
            Some(file) => Policy::load(file)?,
            None => Policy::builtin_default(),
        };
        let key = match std::env::var(&config.policy.fingerprint_key_env) {
            Ok(k) if !k.is_empty() => k.into_bytes(),
            _ => {
                tracing::warn!(
                    env = %config.policy.fingerprint_key_env,
                    "fingerprint key not set; using a random key, so fingerprints will not match across restarts"
                );
                [
                    uuid::Uuid::new_v4().into_bytes(),
                    uuid::Uuid::new_v4().into_bytes(),
                ]
                .concat()
            }
        };
        let scanner = ResponseScanner {
            policy: Arc::new(policy),
            key: Arc::new(key),
            prices: Arc::new(config.prices.clone()),
        };
        let parse = |key: &str, url: &str| {
            reqwest::Url::parse(url)
                .map_err(|e| anyhow::anyhow!("{key}: '{url}' is not a URL: {e}"))
        };
        let bases = UpstreamBases {
            anthropic: parse("upstream.anthropic", &config.upstream.anthropic)?,
            openai: parse("upstream.openai", &config.upstream.openai)?,
        };
        Ok(Self {
            config: Arc::new(config),
            http,
            bases: Arc::new(bases),
            publisher,
            scanner,
        })
    }
}

#[derive(Debug)]
struct UpstreamBases {
    anthropic: reqwest::Url,
    openai: reqwest::Url,
}

/// The shim's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/messages", post(anthropic))
        .route("/v1/messages/count_tokens", post(anthropic))
        .route("/v1/chat/completions", post(openai))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(passthrough)
        .with_state(state)
}

/// Binds `shim.listen` and serves until `shutdown`.
pub async fn run(config: ShimConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.shim.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot listen on {} (shim.listen): {e}", config.shim.listen)
        })?;
    serve(config, listener, shutdown).await
}

/// Serves on `listener` until `shutdown`, then drains in-flight calls and publishes what they
/// produced, within `shim.shutdown_grace`.
pub async fn serve(
    config: ShimConfig,
    listener: tokio::net::TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let codec = config.schema_registry.codec()?;
    let producer = Producer::new(&config.kafka)?;
    let topic = TopicNames::from(&config.topics).name(Topic::Events);
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let spool = Spool::open(
        &config.shim.spool_dir,
        config.shim.spool_max_bytes,
        metrics.spool_bytes.clone(),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot open the spool at {} (shim.spool_dir): {e}",
            config.shim.spool_dir.display()
        )
    })?;
    let spool = Some(Arc::new(spool));
    let (publisher, rx) = Publisher::new(config.shim.publish_queue, spool.clone(), metrics);
    let counters = publisher.counters();
    let grace = config.shim.shutdown_grace;
    let publishing = tokio::spawn(publish::run(
        rx,
        config.kafka.clone(),
        producer.clone(),
        codec,
        topic.clone(),
        counters.clone(),
        spool,
    ));

    tracing::info!(listen = ?listener.local_addr().ok(), topic = %topic, "shim listening");
    let app = router(AppState::new(config, publisher)?);
    let stop = shutdown.clone();
    // Small request/response exchanges must not wait for Nagle's algorithm.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.wait().await })
        .await?;

    // Every sender is gone once the server has drained; the publisher then finishes.
    if sightline_runtime::shutdown::within_grace(grace, publishing)
        .await
        .is_none()
    {
        tracing::error!("events still unpublished after the shutdown grace period");
    }
    producer.flush(grace)?;
    tracing::info!(
        delivered = counters
            .delivered
            .load(std::sync::atomic::Ordering::Relaxed),
        lost = counters.lost.load(std::sync::atomic::Ordering::Relaxed),
        "shim stopped"
    );
    Ok(())
}

/// Ready while events can still be queued: 503 when the publish queue is nearly full.
async fn readyz(State(state): State<AppState>) -> Response {
    let (depth, capacity) = (
        state.publisher.queue_depth(),
        state.publisher.queue_capacity(),
    );
    if depth * 10 >= capacity * 9 {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("publish queue {depth}/{capacity} full\n"),
        )
            .into_response()
    } else {
        (StatusCode::OK, "ready\n").into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let counters = state.publisher.counters();
    let text = state.publisher.metrics().render(
        state.publisher.queue_depth(),
        counters
            .delivered
            .load(std::sync::atomic::Ordering::Relaxed),
        counters.lost.load(std::sync::atomic::Ordering::Relaxed),
    );
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}

async fn anthropic(State(state): State<AppState>, req: Request) -> Response {
    forward(state, Provider::Anthropic, req).await
}

async fn openai(State(state): State<AppState>, req: Request) -> Response {
    forward(state, Provider::Openai, req).await
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and the shim's own, which are not forwarded.
fn forwardable(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    ) && !name.as_str().starts_with("x-sightline-")
}

async fn forward(state: AppState, provider: Provider, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    if state.config.shim.fail_closed && state.publisher.degraded() {
        return error_response(
            provider,
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded_error",
            "calls cannot be recorded right now (Kafka unavailable) and this gateway fails closed; retry shortly",
        );
    }
    let now_secs = sightline_events::now_ms() / 1000;
    let identity = match identity::resolve(&state.config.identity, &parts.headers, now_secs) {
        Ok(identity) => identity,
        Err(reason) => {
            tracing::warn!(path = %parts.uri.path(), %reason, "caller rejected");
            state
                .publisher
                .metrics()
                .rejected
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return error_response(
                provider,
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                &reason,
            );
        }
    };
    let body = match axum::body::to_bytes(body, state.config.shim.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return if too_large {
                error_response(
                    provider,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request_too_large",
                    &format!(
                        "request body exceeds {} bytes (shim.max_body_bytes)",
                        state.config.shim.max_body_bytes
                    ),
                )
            } else {
                error_response(
                    provider,
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    "could not read the request body",
                )
            };
        }
    };

    let info = if body.len() > INLINE_PARSE_LIMIT {
        let b = body.clone();
        tokio::task::spawn_blocking(move || parse_request(provider, &b))
            .await
            .unwrap_or_default()
    } else {
        parse_request(provider, &body)
    };
    if !info.valid_json {
        tracing::warn!(
            provider = provider.as_str(),
            bytes = body.len(),
            "request body is not a JSON object; forwarded untouched"
        );
    }
    let mut request = request_event(&state, provider, &parts, &info, identity);
    let inspection = inspect_request(&state, &request, body.clone(), &info).await;
    request.messages = inspection.messages.clone();
    request.findings = inspection.findings.clone();
    state.publisher.publish(request.clone());
    let record = CallRecord {
        request,
        started,
        http_status: 0,
        scanner: Some(state.scanner.clone()),
    };
    if inspection.verdict.blocks() {
        return blocked(&state, provider, &info, record, &inspection);
    }
    let body = inspection.redacted_body.map(Bytes::from).unwrap_or(body);

    let upstream = upstream_request(&state, provider, &parts, body);
    let mut record = record;
    let response =
        match tokio::time::timeout(state.config.shim.upstream_timeout, upstream.send()).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let message = format!("upstream unreachable: {}", without_url(&e));
                return fail(
                    &state,
                    provider,
                    record,
                    StatusCode::BAD_GATEWAY,
                    "upstream_unreachable",
                    message,
                );
            }
            Err(_) => {
                let message = format!(
                    "upstream sent no response within {:?} (shim.upstream_timeout)",
                    state.config.shim.upstream_timeout
                );
                return fail(
                    &state,
                    provider,
                    record,
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    message,
                );
            }
        };

    record.http_status = response.status().as_u16();
    let streaming = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let builder = response_head(&response);
    let content_length = response.content_length();
    let relay = Relay::new(
        response.bytes_stream().boxed(),
        content_length,
        Observer::new(provider, streaming),
        record,
        state.publisher.clone(),
    );
    builder.body(Body::from_stream(relay)).unwrap_or_else(|e| {
        error_response(
            provider,
            StatusCode::BAD_GATEWAY,
            "upstream_invalid",
            &format!("invalid upstream response: {e}"),
        )
    })
}

/// The request to upstream: same method, path, query and headers (hop-by-hop and the shim's
/// own removed), with the caller's credentials replaced when the config says so.
fn upstream_request(
    state: &AppState,
    provider: Provider,
    parts: &http::request::Parts,
    body: impl Into<reqwest::Body>,
) -> reqwest::RequestBuilder {
    let up = &state.config.upstream;
    let (base, key_env) = match provider {
        Provider::Anthropic => (&state.bases.anthropic, &up.anthropic_api_key_env),
        Provider::Openai | Provider::Other => (&state.bases.openai, &up.openai_api_key_env),
    };
    let url = upstream_url(base, &parts.uri);
    let replacement = key_env
        .as_ref()
        .and_then(|env| std::env::var(env).ok())
        .filter(|k| !k.is_empty());
    let mut request = state.http.request(parts.method.clone(), url).body(body);
    for (name, value) in &parts.headers {
        let is_credential = matches!(name.as_str(), "x-api-key" | "authorization");
        if forwardable(name) && !(is_credential && replacement.is_some()) {
            request = request.header(name, value);
        }
    }
    if let Some(key) = replacement {
        request = match provider {
            Provider::Anthropic => request.header("x-api-key", key),
            Provider::Openai | Provider::Other => request.bearer_auth(key),
        };
    }
    request
}

/// `base` (with its own path, a gateway prefix say) followed by the call's path and query.
fn upstream_url(base: &reqwest::Url, uri: &http::Uri) -> reqwest::Url {
    let mut url = base.clone();
    url.set_path(&format!(
        "{}{}",
        base.path().trim_end_matches('/'),
        uri.path()
    ));
    url.set_query(uri.query());
    url
}

/// Any other endpoint (`GET /v1/models`, files, batches…) is relayed untouched, without
/// inspection or events. Anthropic clients are recognised by their `anthropic-version` header.
async fn passthrough(State(state): State<AppState>, req: Request) -> Response {
    let provider = if req.headers().contains_key("anthropic-version") {
        Provider::Anthropic
    } else {
        Provider::Openai
    };
    let (parts, body) = req.into_parts();
    let upstream = upstream_request(
        &state,
        provider,
        &parts,
        reqwest::Body::wrap_stream(body.into_data_stream()),
    );
    match tokio::time::timeout(state.config.shim.upstream_timeout, upstream.send()).await {
        Ok(Ok(response)) => {
            let builder = response_head(&response);
            builder
                .body(Body::from_stream(response.bytes_stream()))
                .unwrap_or_else(|e| {
                    error_response(
                        provider,
                        StatusCode::BAD_GATEWAY,
                        "upstream_invalid",
                        &e.to_string(),
                    )
                })
        }
        Ok(Err(e)) => error_response(
            provider,
            StatusCode::BAD_GATEWAY,
            "upstream_unreachable",
            &format!("upstream unreachable: {}", without_url(&e)),
        ),
        Err(_) => error_response(
            provider,
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            "upstream sent no response in time (shim.upstream_timeout)",
        ),
    }
}

/// Upstream's status and headers (hop-by-hop and the shim's own removed; the length kept,
/// since the body is relayed byte for byte).
fn response_head(response: &reqwest::Response) -> http::response::Builder {
    let mut builder = Response::builder().status(response.status().as_u16());
    for (name, value) in response.headers() {
        if forwardable(name) || name == http::header::CONTENT_LENGTH {
            builder = builder.header(name, value);
        }
    }
    builder
}

/// reqwest errors name the URL; keep them short and free of query strings.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// Runs the inline policy; large bodies are scanned on a blocking thread.
async fn inspect_request(
    state: &AppState,
    request: &LlmEvent,
    body: Bytes,
    info: &RequestInfo,
) -> Inspection {
    let scanner = state.scanner.clone();
    let (tenant, user, team) = (
        request.tenant_id.clone(),
        request.user_id.clone(),
        request.team_id.clone(),
    );
    let info_owned = info.clone();
    let run = move || {
        let ctx = Context {
            tenant: &tenant,
            user: &user,
            team: team.as_deref(),
        };
        inline::inspect(&scanner.policy, &scanner.key, &ctx, &body, &info_owned)
    };
    if info.messages.iter().map(|m| m.text.len()).sum::<usize>() > INLINE_PARSE_LIMIT {
        tokio::task::spawn_blocking(run)
            .await
            .unwrap_or_else(|_| Inspection::clean(info))
    } else {
        run()
    }
}

/// Answers a blocked call without contacting upstream, in the API's own format.
fn blocked(
    state: &AppState,
    provider: Provider,
    info: &RequestInfo,
    mut record: CallRecord,
    inspection: &Inspection,
) -> Response {
    let call_id = record.request.call_id.clone();
    let reason = inline::block_reason(
        &state.scanner.policy,
        &record.request.tenant_id,
        &inspection.rules,
        &call_id,
    );
    tracing::warn!(
        call_id = %call_id,
        tenant = %record.request.tenant_id,
        user = %record.request.user_id,
        rules = ?inspection.rules,
        tier = ?inspection.verdict.tier,
        "request blocked by policy"
    );
    // count_tokens has no message to reply with: refuse it the way the API refuses a bad
    // request. Every other endpoint gets an assistant reply that explains the block.
    let response = if record.request.endpoint.ends_with("/count_tokens") {
        record.http_status = 400;
        error_response(
            provider,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            &reason,
        )
    } else {
        record.http_status = 200;
        let (content_type, body) = block::blocked_body(
            provider,
            info.stream,
            info.model.as_deref(),
            &call_id,
            &reason,
        );
        (
            StatusCode::OK,
            [
                (http::header::CONTENT_TYPE, content_type),
                (HeaderName::from_static("x-sightline-blocked"), "true"),
            ],
            body,
        )
            .into_response()
    };
    // The explanation is ours, not the model's: publish it without re-scanning.
    record.scanner = None;
    let observed = crate::extract::ResponseInfo {
        model: info.model.clone(),
        usage: None,
        text: reason,
    };
    state
        .publisher
        .publish(record.response(CallStatus::Blocked, None, None, observed));
    response
}

fn fail(
    state: &AppState,
    provider: Provider,
    mut record: CallRecord,
    status: StatusCode,
    kind: &str,
    message: String,
) -> Response {
    tracing::warn!(call_id = %record.request.call_id, error = %message, "call failed");
    record.http_status = status.as_u16();
    state.publisher.publish(record.response(
        CallStatus::Failed,
        Some(message.clone()),
        None,
        Default::default(),
    ));
    error_response(provider, status, kind, &message)
}

fn request_event(
    state: &AppState,
    provider: Provider,
    parts: &http::request::Parts,
    info: &RequestInfo,
    identity: Identity,
) -> LlmEvent {
    let h = &parts.headers;
    let tenant = identity
        .tenant
        .unwrap_or_else(|| state.config.shim.default_tenant.clone());
    let user = identity.user;
    let endpoint = format!("{} {}", parts.method, parts.uri.path());
    // A conversation id from the header, else the client's own session, else a keyed hash of
    // the user and the first user turn (stable across the turns of one conversation).
    let conversation = header(h, CONVERSATION_HEADER)
        .or_else(|| info.session.as_ref().map(|s| format!("session-{s}")))
        .or_else(|| {
            info.first_user_text().map(|first| {
                let key = FingerprintKey::for_tenant(&state.scanner.key, &tenant);
                let digest = key.fingerprint(format!("conversation\0{user}\0{first}").as_bytes());
                format!("conv-{}", &digest[..24])
            })
        });
    LlmEvent {
        team_id: identity.team,
        conversation_id: conversation,
        model: info.model.clone(),
        streaming: info.stream,
        messages: info.messages.clone(),
        attachments: info.attachments.clone(),
        user_agent: header(h, "user-agent"),
        ..LlmEvent::request(&tenant, &user, provider, &endpoint)
    }
}

/// An error in the provider's own error shape, so SDKs surface the message.
pub fn error_response(
    provider: Provider,
    status: StatusCode,
    kind: &str,
    message: &str,
) -> Response {
    let body = match provider {
        Provider::Anthropic => {
            serde_json::json!({"type": "error", "error": {"type": kind, "message": message}})
        }
        Provider::Openai | Provider::Other => {
            serde_json::json!({"error": {"type": kind, "message": message, "code": kind}})
        }
    };
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_keep_the_base_prefix_and_the_query() {
        let cases = [
            (
                "https://api.anthropic.com",
                "/v1/messages",
                "https://api.anthropic.com/v1/messages",
            ),
            (
                "http://gw.internal:8080/anthropic/",
                "/v1/messages?beta=true",
                "http://gw.internal:8080/anthropic/v1/messages?beta=true",
            ),
            (
                "http://127.0.0.1:9/",
                "/v1/models?",
                "http://127.0.0.1:9/v1/models?",
            ),
        ];
        for (base, call, want) in cases {
            let base = reqwest::Url::parse(base).expect("base");
            let uri: http::Uri = call.parse().expect("uri");
            assert_eq!(upstream_url(&base, &uri).as_str(), want, "{call}");
        }
    }
}
