//! The shim's routes: inspected endpoints, other `POST`s as `shim.unknown_endpoints` says,
//! health, readiness and metrics, and everything else relayed untouched.

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use sightline_events::Provider;

use crate::app::AppState;
use crate::call::forward;
use crate::config::UnknownEndpoints;
use crate::provider::{self, Api};
use crate::replies::{error_response, relayed};

/// Answers one call: the shim's routes. The inspected endpoints are forwarded with events;
/// other `POST`s as `shim.unknown_endpoints` says; anything else goes upstream untouched.
pub async fn handle(state: AppState, request: http::Request<Incoming>) -> Response {
    if request.method() == Method::POST {
        if let Some(api) = provider::route(request.uri().path()) {
            return forward(state, api, request).await;
        }
        let provider = client_provider(request.headers());
        match state.config.shim.unknown_endpoints {
            UnknownEndpoints::Relay => {}
            UnknownEndpoints::Record => {
                let api: &'static dyn Api = match provider {
                    Provider::Anthropic => &provider::opaque::ANTHROPIC,
                    Provider::Openai | Provider::Other => &provider::opaque::OPENAI,
                };
                return forward(state, api, request).await;
            }
            UnknownEndpoints::Reject => {
                let message = format!(
                    "this gateway does not forward POST {} (shim.unknown_endpoints = \"reject\")",
                    request.uri().path()
                );
                return error_response(
                    provider,
                    StatusCode::NOT_FOUND,
                    "not_found_error",
                    &message,
                );
            }
        }
    }
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/healthz") => "ok".into_response(),
        (&Method::GET, "/readyz") => readyz(&state),
        (&Method::GET, "/metrics") => metrics(&state),
        _ => passthrough(state, request).await,
    }
}

/// Ready while events can still be queued: 503 when the publish queue is nearly full.
fn readyz(state: &AppState) -> Response {
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

fn metrics(state: &AppState) -> Response {
    let counters = state.publisher.counters();
    let text = state
        .publisher
        .metrics()
        .render(state.publisher.queue_depth(), &counters);
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}

/// Any other call (`GET /v1/models`, a file download…) is relayed untouched, without inspection
/// or events. Where unknown callers are refused (`identity.unknown = "reject"`), they are
/// refused here too. Anthropic clients are recognised by their `anthropic-version` header.
async fn passthrough(state: AppState, req: http::Request<Incoming>) -> Response {
    let provider = client_provider(req.headers());
    let (parts, body) = req.into_parts();
    if state.config.identity.unknown == crate::identity::Unknown::Reject {
        let presented = crate::identity::Presented {
            headers: &parts.headers,
            peer: parts
                .extensions
                .get::<crate::server::Peer>()
                .map(|p| p.0.ip()),
        };
        if let Err(reason) = state.auth.resolve(&presented) {
            return error_response(
                provider,
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                &reason.to_string(),
            );
        }
    }
    match state.upstream.send(provider, &parts, Body::new(body)).await {
        Ok(response) => {
            let (head, incoming) = response.into_parts();
            relayed(head, Body::new(incoming))
        }
        Err(e) => {
            let (status, kind) = e.status();
            error_response(provider, status, kind, &e.to_string())
        }
    }
}

/// Whose API a call to an endpoint the shim does not know is for: Anthropic clients send
/// `anthropic-version`.
fn client_provider(headers: &HeaderMap) -> Provider {
    if headers.contains_key("anthropic-version") {
        Provider::Anthropic
    } else {
        Provider::Openai
    }
}
