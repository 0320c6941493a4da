//! One call: who is calling, what the policy makes of what the model would read (for the
//! endpoints the shim inspects), the send upstream, and the REQUEST and RESPONSE events.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use sightline_detect::FingerprintKey;
use sightline_events::{LlmEvent, Message, Provider};
use sightline_policy::Context;

use crate::app::AppState;
use crate::extract::{clean_id, parse_request, RequestInfo};
use crate::identity::{self, Identity};
use crate::inline::{self, Inspection};
use crate::provider::Api;
use crate::publish::Publisher;
use crate::relay::{CallRecord, Relay};
use crate::replies::{blocked, error_response, fail, relayed};
use crate::server::Peer;
use crate::sse::Observer;

/// Conversation header.
pub const CONVERSATION_HEADER: &str = "x-sightline-conversation";

/// What kind of use a call is (descriptive only; never chooses a policy).
pub const CAPABILITY_HEADER: &str = "x-sightline-capability";

/// The workspace a call belongs to (descriptive only).
pub const WORKSPACE_HEADER: &str = "x-sightline-workspace";

/// The client family, read from its user agent.
pub fn client_family(user_agent: Option<&str>) -> &'static str {
    let ua = user_agent.unwrap_or("").to_ascii_lowercase();
    match ua {
        _ if ua.starts_with("claude-cli") || ua.contains("claude-code") => "claude-code",
        _ if ua.starts_with("codex") => "codex",
        _ if ua.starts_with("anthropic/")
            || ua.contains("anthropic-sdk")
            || ua.starts_with("anthropic-") =>
        {
            "anthropic-sdk"
        }
        _ if ua.starts_with("openai/")
            || ua.contains("openai-sdk")
            || ua.starts_with("openai-") =>
        {
            "openai-sdk"
        }
        _ if ua.starts_with("curl/") => "curl",
        _ => "other",
    }
}

/// Claude Code's session header (2.1 and later).
pub const CLAUDE_CODE_SESSION_HEADER: &str = "x-claude-code-session-id";

/// Bodies and texts larger than this are parsed and scanned off the async reactor.
const INLINE_PARSE_LIMIT: usize = 64 * 1024;

pub(crate) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    identity::header(headers, name).map(str::to_string)
}

/// Who is calling, as the policy and the events see it.
struct Caller {
    tenant: String,
    user: String,
    team: Option<String>,
    key: FingerprintKey,
}

impl Caller {
    fn new(state: &AppState, identity: Identity) -> Self {
        let tenant = identity
            .tenant
            .unwrap_or_else(|| state.config.shim.default_tenant.clone());
        Self {
            key: state.scanner.keys.tenant(&tenant),
            tenant,
            user: identity.user,
            team: identity.team,
        }
    }
}

pub(crate) async fn forward(
    state: AppState,
    api: &'static dyn Api,
    req: http::Request<Incoming>,
) -> Response {
    let provider = api.provider();
    let started = Instant::now();
    let received_ms = sightline_events::now_ms();
    let (parts, body) = req.into_parts();
    if state.config.shim.fail_closed && state.publisher.degraded() {
        return error_response(
            provider,
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded_error",
            "calls cannot be recorded right now (Kafka unavailable) and this gateway fails closed; retry shortly",
        );
    }
    let presented = identity::Presented {
        headers: &parts.headers,
        peer: parts.extensions.get::<Peer>().map(|p| p.0.ip()),
    };
    let identity = match state.auth.resolve(&presented) {
        Ok(resolved) => {
            if resolved.ignored_headers {
                // Which headers, never their values: they are whatever the caller chose.
                tracing::warn!(
                    peer = ?presented.peer,
                    user = %resolved.identity.user,
                    "identity headers from a caller that is not the trusted auth proxy were ignored"
                );
                state
                    .publisher
                    .metrics()
                    .untrusted_identity_headers
                    .fetch_add(1, Relaxed);
            }
            resolved.identity
        }
        Err(reason) => {
            tracing::warn!(path = %parts.uri.path(), peer = ?presented.peer, %reason, "caller rejected");
            let metrics = state.publisher.metrics();
            metrics.rejected.fetch_add(1, Relaxed);
            if reason == identity::Rejected::UntrustedHeaders {
                metrics.untrusted_identity_headers.fetch_add(1, Relaxed);
            }
            return error_response(
                provider,
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                &reason.to_string(),
            );
        }
    };
    // An endpoint the shim does not know is recorded without reading it: its body streams
    // through, whatever its size.
    let (incoming, mut unread) = if api.reads_content() {
        (Some(body), None)
    } else {
        (None, Some(body))
    };
    let body = match incoming {
        None => Ok(Bytes::new()),
        Some(incoming) => Limited::new(incoming, state.config.shim.max_body_bytes)
            .collect()
            .await
            .map(|b| b.to_bytes()),
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let too_large = e.is::<LengthLimitError>();
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

    // The policy reads what the model would read: the body is parsed and its decoded text
    // scanned before the call may go upstream (off the reactor when the body is large).
    let caller = Arc::new(Caller::new(&state, identity));
    let inspected = if unread.is_some() {
        Some(Ok((Arc::new(RequestInfo::default()), Inspection::clean())))
    } else {
        let (raw, caller, policy) = (body.clone(), caller.clone(), state.scanner.policy.clone());
        cpu_bound(body.len(), move || {
            let info = parse_request(&raw, &caller.key)?;
            let ctx = Context {
                tenant: &caller.tenant,
                user: &caller.user,
                team: caller.team.as_deref(),
            };
            let inspection = inline::inspect(&policy, &caller.key, &ctx, &info.content);
            Ok::<_, crate::Error>((Arc::new(info), inspection))
        })
        .await
    };
    let (info, mut inspection) = match inspected {
        Some(Ok(inspected)) => inspected,
        // What the policy cannot read must not reach the model: a body that is not a JSON
        // object (or that the parser refuses, like a lone surrogate escape) is refused.
        Some(Err(reason)) => {
            tracing::warn!(path = %parts.uri.path(), %reason, "request refused");
            return error_response(
                provider,
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &reason.to_string(),
            );
        }
        None => {
            tracing::error!(path = %parts.uri.path(), "request inspection failed; the call is refused");
            return error_response(
                provider,
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                "the gateway could not inspect this request; it was not sent",
            );
        }
    };
    let described = state
        .auth
        .key_owner(&parts.headers)
        .cloned()
        .unwrap_or_default();
    // What the caller chose and the events carry: capped, cleaned, redacted like a prompt.
    let chosen = |value: Option<&str>, max_chars: usize| {
        value.map(|v| {
            let policy = &state.scanner.policy;
            inline::caller_chosen(policy, &caller.key, &caller.tenant, v, max_chars)
        })
    };
    let call = Call {
        provider,
        // The path of an endpoint the shim does not know is the caller's: capped, cleaned,
        // scanned like the rest of what it chose.
        endpoint: format!(
            "{} {}",
            parts.method,
            if api.reads_content() {
                parts.uri.path().to_string()
            } else {
                chosen(Some(parts.uri.path()), 256).unwrap_or_default()
            }
        ),
        conversation: header(&parts.headers, CONVERSATION_HEADER).map(|c| {
            // A clean id as sent; anything else (or an id that held a secret) grouped all the
            // same, under a keyed hash of what was sent.
            chosen(Some(&c), 128)
                .filter(|id| *id == c && clean_id(id).is_some())
                .unwrap_or_else(|| {
                    let digest = caller
                        .key
                        .fingerprint(format!("conversation-header\0{c}").as_bytes());
                    format!("conv-{}", &digest[..24])
                })
        }),
        user_agent: chosen(header(&parts.headers, "user-agent").as_deref(), 256),
        model: chosen(info.model.as_deref(), 128),
        // Claude Code's session: its header first, then what `metadata.user_id` carries.
        session: header(&parts.headers, CLAUDE_CODE_SESSION_HEADER)
            .and_then(|s| clean_id(&s).map(str::to_string))
            .or_else(|| info.session.clone())
            // A session id that held a secret is no id.
            .filter(|s| chosen(Some(s), 128).as_ref() == Some(s)),
        // An id that held a secret is no id.
        named: info
            .conversation
            .clone()
            .filter(|c| chosen(Some(c), 128).as_ref() == Some(c)),
        continues: info.previous_response.as_ref().map(|previous| {
            state
                .scanner
                .chains
                .conversation_of(&caller.tenant, previous)
                .unwrap_or_else(|| {
                    let digest = caller
                        .key
                        .fingerprint(format!("response\0{previous}").as_bytes());
                    format!("conv-{}", &digest[..24])
                })
        }),
        capability: chosen(header(&parts.headers, CAPABILITY_HEADER).as_deref(), 64)
            .or_else(|| described.capability.clone())
            .or_else(|| {
                Some(client_family(header(&parts.headers, "user-agent").as_deref()).into())
            }),
        workspace: chosen(header(&parts.headers, WORKSPACE_HEADER).as_deref(), 128)
            .or_else(|| described.workspace.clone()),
        api_key_id: identity::credential(&parts.headers).map(|credential| {
            let digest = caller
                .key
                .fingerprint(format!("api-key\0{credential}").as_bytes());
            format!("key-{}", &digest[..16])
        }),
        request_bytes: match unread {
            // Streamed through: its declared length.
            Some(_) => header(&parts.headers, "content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0),
            None => i64::try_from(body.len()).unwrap_or(i64::MAX),
        },
        caller,
        info,
        started,
        received_ms,
    };
    if inspection.verdict.blocks() {
        let record = call.record(&state, &inspection);
        return blocked(&state, api, &call.info, record, &inspection);
    }
    let forwarded = inspection.redacted_body.take();
    // A reply the shim made up for a blocked call is no response upstream knows: a call that
    // continues from it joins its conversation here, and goes upstream without naming it.
    let made_up = call
        .info
        .previous_response
        .as_deref()
        .is_some_and(|p| p.starts_with(crate::provider::openai_responses::BLOCKED_ID_PREFIX));
    let forwarded = match (forwarded, made_up) {
        (forwarded, true) => {
            let mut root = forwarded
                .and_then(|b| serde_json::from_str(&b).ok())
                .unwrap_or_else(|| call.info.content.root.clone());
            if let Some(fields) = root.as_object_mut() {
                fields.remove("previous_response_id");
            }
            Bytes::from(root.to_string())
        }
        (Some(redacted), false) => Bytes::from(redacted),
        (None, false) => body,
    };

    // The call goes upstream first, and is recorded while upstream works on it:
    // the event is no part of the answer. One poll hands the request to a pooled connection;
    // yielding lets that connection's task write it before the call is recorded.
    let outgoing = match unread.take() {
        Some(unread) => Body::new(unread),
        None => Body::from(forwarded),
    };
    let mut sending = std::pin::pin!(state.upstream.send(provider, &parts, outgoing));
    let early = futures::poll!(sending.as_mut());
    if early.is_pending() {
        tokio::task::yield_now().await;
    }
    let mut record = call.record(&state, &inspection);
    let waiting = Unanswered {
        record: &record,
        publisher: &state.publisher,
    };
    let response = match early {
        Poll::Ready(outcome) => outcome,
        Poll::Pending => sending.await,
    };
    waiting.answered();
    let response = match response {
        Ok(r) => r,
        Err(e) => return fail(&state, provider, record, &e),
    };

    record.http_status = response.status().as_u16();
    let streaming = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let (head, incoming) = response.into_parts();
    let relay = Relay::new(
        incoming,
        Observer::new(api, streaming),
        record,
        state.publisher.clone(),
    );
    relayed(head, Body::new(relay))
}

/// A call waiting for upstream's answer. A client that hangs up meanwhile drops the handler,
/// and with it this guard, which then records the call as failed.
struct Unanswered<'a> {
    record: &'a CallRecord,
    publisher: &'a Publisher,
}

impl Unanswered<'_> {
    /// Upstream answered (or failed): the handler records the call itself from here.
    fn answered(self) {
        std::mem::forget(self);
    }
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        self.publisher.publish(
            self.record
                .failed("client disconnected before upstream answered".into()),
        );
    }
}

/// Runs CPU work over `size` bytes: inline when small, on a blocking thread when large, so a
/// huge body does not stall every other call on the reactor. `None` if the work panicked.
async fn cpu_bound<T: Send + 'static>(
    size: usize,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    if size > INLINE_PARSE_LIMIT {
        tokio::task::spawn_blocking(work).await.ok()
    } else {
        Some(work())
    }
}

/// A call to an inspected endpoint, once read and attributed.
#[derive(Clone)]
struct Call {
    provider: Provider,
    /// `METHOD /path`.
    endpoint: String,
    /// The conversation header, when the client sent one.
    conversation: Option<String>,
    user_agent: Option<String>,
    /// The requested model.
    model: Option<String>,
    /// The client's own session id.
    session: Option<String>,
    /// The conversation a Responses API call names.
    named: Option<String>,
    /// The conversation of the Responses API response this call continues.
    continues: Option<String>,
    /// What kind of use, and which workspace (descriptive only).
    capability: Option<String>,
    workspace: Option<String>,
    /// Short keyed id of the caller's credential.
    api_key_id: Option<String>,
    /// Size of the request body.
    request_bytes: i64,
    info: Arc<RequestInfo>,
    caller: Arc<Caller>,
    started: Instant,
    received_ms: i64,
}

impl Call {
    /// Queues the call's REQUEST event, whose text turns the recording thread redacts, and
    /// returns the record that builds its RESPONSE. Nothing here waits, so a client hanging
    /// up cannot cancel it.
    fn record(&self, state: &AppState, inspection: &Inspection) -> CallRecord {
        let head = self.head();
        let (request, info) = (head.clone(), self.info.clone());
        let found = inspection.findings.clone();
        let findings = inspection.events(&self.info.content);
        state.publisher.record(move || LlmEvent {
            messages: info
                .content
                .published_turns(&found)
                .into_iter()
                .map(|(role, text)| Message { role, text })
                .collect(),
            attachments: info.content.attachments.clone(),
            findings,
            ..request
        });
        CallRecord::new(head, self.started, state.scanner.clone())
    }

    /// What both of the call's events carry: who, which conversation, which model.
    fn head(&self) -> LlmEvent {
        let Call { info, caller, .. } = self;
        // A conversation id from the header, else the client's own session, else a keyed hash
        // of the user and the first user turn (stable across the turns of one conversation).
        // Ids the caller chose are clean ids.
        let conversation = self
            .conversation
            .clone()
            .or_else(|| self.session.as_ref().map(|s| format!("session-{s}")))
            // The Responses API: the conversation it names, or that of the response it
            // continues.
            .or_else(|| self.named.clone())
            .or_else(|| self.continues.clone())
            .or_else(|| {
                info.content.first_user_text().map(|first| {
                    let user = &caller.user;
                    let digest = caller
                        .key
                        .fingerprint(format!("conversation\0{user}\0{first}").as_bytes());
                    format!("conv-{}", &digest[..24])
                })
            });
        LlmEvent {
            team_id: caller.team.clone(),
            conversation_id: conversation,
            model: self.model.clone(),
            streaming: info.stream,
            user_agent: self.user_agent.clone(),
            // The same content asked of another endpoint (a token count) is another request.
            content_hash: Some(&info.content_hash).filter(|h| !h.is_empty()).map(|h| {
                caller
                    .key
                    .fingerprint(format!("{}\0{h}", self.endpoint).as_bytes())
            }),
            capability: self.capability.clone(),
            workspace_id: self.workspace.clone(),
            api_key_id: self.api_key_id.clone(),
            sampling: Some(info.sampling).filter(|_| !info.content_hash.is_empty()),
            request_bytes: Some(self.request_bytes),
            occurred_at_ms: self.received_ms,
            ..LlmEvent::request(&caller.tenant, &caller.user, self.provider, &self.endpoint)
        }
    }
}
