//! An HTTP server that stands in for Slack, PagerDuty or a webhook receiver: it records every
//! request it receives and answers from a script (statuses, `Retry-After`), then 200.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// A request the recorder received.
#[derive(Debug, Clone)]
pub struct Received {
    /// When it arrived.
    pub at: SystemTime,
    /// Path.
    pub path: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Received {
    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After`, if any.
    pub retry_after: Option<String>,
    /// Body.
    pub body: String,
}

impl Reply {
    /// `status` with `body`.
    pub fn status(status: u16, body: &str) -> Self {
        Self {
            status,
            retry_after: None,
            body: body.into(),
        }
    }

    /// `status` asking the client to wait `retry_after`.
    pub fn retry_after(status: u16, retry_after: &str) -> Self {
        Self {
            status,
            retry_after: Some(retry_after.into()),
            body: String::new(),
        }
    }
}

#[derive(Default)]
struct Inner {
    requests: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    arrived: tokio::sync::Notify,
}

/// A running recorder.
#[derive(Clone)]
pub struct Recorder {
    /// Base URL, e.g. `http://127.0.0.1:12345`.
    pub url: String,
    inner: Arc<Inner>,
}

impl Recorder {
    /// Starts on an ephemeral loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts on `addr`.
    pub async fn start_on(addr: SocketAddr) -> anyhow::Result<Self> {
        let inner = Arc::new(Inner::default());
        let app = Router::new().fallback(record).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { url, inner })
    }

    /// Answers the next requests with `replies`, in order, then 200 again.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        if let Ok(mut s) = self.inner.script.lock() {
            s.extend(replies);
        }
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Received> {
        self.inner
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Waits until `done` holds for the requests received, or `timeout` passes; returns them.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.inner.arrived.notified();
            let now = self.requests();
            if done(&now) || tokio::time::Instant::now() >= deadline {
                return now;
            }
            let _ = tokio::time::timeout_at(deadline, arrived).await;
        }
    }
}

async fn record(
    State(inner): State<Arc<Inner>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received = Received {
        at: SystemTime::now(),
        path: uri.path().to_string(),
        headers,
        body,
    };
    if let Ok(mut r) = inner.requests.lock() {
        r.push(received);
    }
    inner.arrived.notify_waiters();
    let reply = inner.script.lock().ok().and_then(|mut s| s.pop_front());
    match reply {
        None => (StatusCode::OK, "ok").into_response(),
        Some(reply) => {
            let status =
                StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = (status, reply.body).into_response();
            if let Some(ra) = reply.retry_after.and_then(|v| v.parse().ok()) {
                resp.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, ra);
            }
            resp
        }
    }
}
