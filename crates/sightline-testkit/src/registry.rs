//! A local HTTP server that speaks the part of the Confluent Schema Registry REST API the
//! codec uses (`POST /subjects/{s}/versions`, `GET /schemas/ids/{id}`); ids start at 100.
//! It can be stopped and started again on the same address, to play a registry outage.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// What the registry holds.
#[derive(Debug, Default)]
pub struct Registered {
    /// `(subject, schema text)`; the id is 100 + index.
    pub schemas: Vec<(String, String)>,
    /// Registrations received.
    pub posts: usize,
}

/// A running fixture registry. Dropping it stops it.
#[derive(Debug)]
pub struct FakeRegistry {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    addr: SocketAddr,
    state: Arc<Mutex<Registered>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl FakeRegistry {
    /// Starts on a free port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut registry = Self {
            url: format!("http://{addr}"),
            addr,
            state: Arc::default(),
            server: None,
        };
        registry.serve(listener);
        Ok(registry)
    }

    /// An address nothing listens on yet, for a registry that is down until [`Self::up`].
    pub async fn down() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        drop(listener);
        Ok(Self {
            url: format!("http://{addr}"),
            addr,
            state: Arc::default(),
            server: None,
        })
    }

    /// Stops answering: connections are refused.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    /// Answers again on the same address, with what it held before.
    pub async fn up(&mut self) -> std::io::Result<()> {
        self.stop();
        let listener = tokio::net::TcpListener::bind(self.addr).await?;
        self.serve(listener);
        Ok(())
    }

    /// What it holds now.
    pub fn registered(&self) -> std::sync::MutexGuard<'_, Registered> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/subjects/{subject}/versions", post(register))
            .route("/schemas/ids/{id}", get(by_id))
            .with_state(self.state.clone());
        self.server = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

type Shared = Arc<Mutex<Registered>>;

async fn register(
    State(reg): State<Shared>,
    Path(subject): Path<String>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let Some(schema) = body.get("schema").and_then(Value::as_str) else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error_code": 42201, "message": "no schema"})),
        );
    };
    if body.get("schemaType").and_then(Value::as_str) != Some("AVRO") {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error_code": 42201, "message": "not avro"})),
        );
    }
    let mut reg = reg.lock().unwrap_or_else(|p| p.into_inner());
    reg.posts += 1;
    let idx = match reg.schemas.iter().position(|(_, s)| s == schema) {
        Some(i) => i,
        None => {
            reg.schemas.push((subject, schema.to_string()));
            reg.schemas.len() - 1
        }
    };
    (StatusCode::OK, Json(json!({"id": 100 + idx})))
}

async fn by_id(State(reg): State<Shared>, Path(id): Path<usize>) -> (StatusCode, Json<Value>) {
    let reg = reg.lock().unwrap_or_else(|p| p.into_inner());
    match id.checked_sub(100).and_then(|i| reg.schemas.get(i)) {
        Some((_, schema)) => (StatusCode::OK, Json(json!({"schema": schema}))),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error_code": 40403, "message": "Schema not found"})),
        ),
    }
}
