//! What the shim answers itself: blocked calls, errors in each provider's shape, and
//! upstream's answers relayed with the shim's own headers removed.

use axum::body::Body;
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use sightline_events::{CallStatus, Provider};

use crate::app::AppState;
use crate::extract::RequestInfo;
use crate::inline::{self, Inspection};
use crate::provider::{self, Api};
use crate::relay::CallRecord;
use crate::upstream::{forwardable, UpstreamError};

/// Upstream's status and headers (hop-by-hop and the shim's own removed; the length kept,
/// since the body is relayed byte for byte) with `body`.
pub(crate) fn relayed(mut head: http::response::Parts, body: Body) -> Response {
    let dropped: Vec<HeaderName> = head
        .headers
        .keys()
        .filter(|name| !forwardable(name) && *name != http::header::CONTENT_LENGTH)
        .cloned()
        .collect();
    for name in dropped {
        head.headers.remove(name);
    }
    Response::from_parts(head, body)
}

/// Answers a blocked call without contacting upstream, in the API's own format.
pub(crate) fn blocked(
    state: &AppState,
    api: &'static dyn Api,
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
    // The model as the REQUEST event has it: capped, cleaned and redacted.
    let model = record.request.model.clone();
    let reply = api.blocked_reply(
        info.stream,
        model.as_deref().unwrap_or("sightline-policy"),
        &call_id,
        &reason,
    );
    let response = match reply {
        Some((content_type, body)) => {
            record.http_status = 200;
            (
                StatusCode::OK,
                [
                    (http::header::CONTENT_TYPE, content_type),
                    (HeaderName::from_static("x-sightline-blocked"), "true"),
                ],
                body,
            )
                .into_response()
        }
        // No reply to give (token counts, embeddings, batches): refused as a bad request.
        None => {
            record.http_status = 400;
            let mut response = error_response(
                api.provider(),
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &reason,
            );
            response.headers_mut().insert(
                HeaderName::from_static("x-sightline-blocked"),
                http::HeaderValue::from_static("true"),
            );
            response
        }
    };
    // A later call may continue from the made-up reply: it joins this conversation.
    if let (true, Some(conversation)) = (api.has_response_ids(), &record.request.conversation_id) {
        let id = format!(
            "{}{call_id}",
            crate::provider::openai_responses::BLOCKED_ID_PREFIX
        );
        let chains = &state.scanner.chains;
        chains.remember(&record.request.tenant_id, &id, conversation);
    }
    // The explanation is ours, not the model's: publish it without re-scanning.
    record.scanner = None;
    let observed = crate::extract::ResponseInfo {
        model,
        texts: vec![reason],
        ..Default::default()
    };
    let ending = record.ended(CallStatus::Blocked, None);
    state
        .publisher
        .publish(record.response(ending, None, observed));
    response
}

/// Answers a call upstream did not answer, and records it as failed.
pub(crate) fn fail(
    state: &AppState,
    provider: Provider,
    mut record: CallRecord,
    e: &UpstreamError,
) -> Response {
    let message = e.to_string();
    let (status, kind) = e.status();
    tracing::warn!(call_id = %record.request.call_id, error = %message, "call failed");
    record.http_status = status.as_u16();
    state.publisher.publish(record.failed(message.clone()));
    error_response(provider, status, kind, &message)
}

/// An error in the provider's own error shape, so SDKs surface the message.
pub fn error_response(
    provider: Provider,
    status: StatusCode,
    kind: &str,
    message: &str,
) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        provider::error_body(provider, kind, message).to_string(),
    )
        .into_response()
}
