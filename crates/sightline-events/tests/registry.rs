//! The registry resolver against an in-test fixture that speaks the Confluent Schema Registry
//! REST API (`POST /subjects/{s}/versions`, `GET /schemas/ids/{id}`).

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use sightline_events::{Codec, LlmEvent, Provider, RegistryResolver};

#[derive(Default)]
struct Registry {
    /// (subject, schema text); the id is 100 + index.
    schemas: Vec<(String, String)>,
    posts: usize,
}

type Shared = Arc<Mutex<Registry>>;

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
    let mut reg = reg.lock().expect("lock");
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
    let reg = reg.lock().expect("lock");
    match id.checked_sub(100).and_then(|i| reg.schemas.get(i)) {
        Some((_, schema)) => (StatusCode::OK, Json(json!({"schema": schema}))),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error_code": 40403, "message": "Schema not found"})),
        ),
    }
}

async fn start_registry() -> (String, Shared) {
    let reg: Shared = Arc::default();
    let app = Router::new()
        .route("/subjects/{subject}/versions", post(register))
        .route("/schemas/ids/{id}", get(by_id))
        .with_state(reg.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), reg)
}

fn event() -> LlmEvent {
    LlmEvent {
        conversation_id: Some("c".into()),
        model: Some("gpt-4o".into()),
        ..LlmEvent::request("t", "u", Provider::Openai, "POST /v1/chat/completions")
    }
}

#[tokio::test]
async fn registry_ids_are_registered_once_and_round_trip() {
    let (url, reg) = start_registry().await;
    let codec = Codec::new(Arc::new(RegistryResolver::new(&url))).expect("codec");
    let e = event();
    let first = codec
        .encode("sightline.events.v1", &e)
        .await
        .expect("encode");
    let second = codec
        .encode("sightline.events.v1", &e)
        .await
        .expect("encode again");
    assert_eq!(
        &first[1..5],
        &100u32.to_be_bytes(),
        "id assigned by the registry"
    );
    assert_eq!(first, second);
    assert_eq!(
        reg.lock().expect("lock").posts,
        1,
        "the id is cached after the first call"
    );
    assert_eq!(
        reg.lock().expect("lock").schemas[0].0,
        "sightline.events.v1-value"
    );

    // A fresh codec (another process) fetches the writer schema by id.
    let reader = Codec::new(Arc::new(RegistryResolver::new(&url))).expect("codec");
    let back: LlmEvent = reader.decode(&first).await.expect("decode");
    assert_eq!(back, e);
}

#[tokio::test]
async fn an_id_unknown_to_the_registry_is_bad_input() {
    let (url, _reg) = start_registry().await;
    let codec = Codec::new(Arc::new(RegistryResolver::new(&url))).expect("codec");
    let mut bytes = codec.encode("t", &event()).await.expect("encode");
    bytes[1..5].copy_from_slice(&999u32.to_be_bytes());
    let err = codec
        .decode::<LlmEvent>(&bytes)
        .await
        .expect_err("unknown id");
    assert!(err.is_bad_input(), "{err}");
}

#[tokio::test]
async fn an_unreachable_registry_is_an_environment_error() {
    // Nothing listens on port 9 of loopback.
    let codec = Codec::new(Arc::new(RegistryResolver::new("http://127.0.0.1:9"))).expect("codec");
    let err = codec.encode("t", &event()).await.expect_err("no registry");
    assert!(!err.is_bad_input(), "{err}");
    assert!(err.to_string().contains("registry"), "{err}");
}
