//! The registry resolver against an in-test fixture that speaks the Confluent Schema Registry
//! REST API (`POST /subjects/{s}/versions`, `GET /schemas/ids/{id}`).

use std::sync::Arc;

use sightline_events::{Codec, LlmEvent, Provider, RegistryResolver};
use sightline_testkit::registry::FakeRegistry;

fn event() -> LlmEvent {
    LlmEvent {
        conversation_id: Some("c".into()),
        model: Some("gpt-4o".into()),
        ..LlmEvent::request("t", "u", Provider::Openai, "POST /v1/chat/completions")
    }
}

#[tokio::test]
async fn registry_ids_are_registered_once_and_round_trip() {
    let registry = FakeRegistry::start().await.expect("registry");
    let url = registry.url.clone();
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
        registry.registered().posts,
        1,
        "the id is cached after the first call"
    );
    assert_eq!(
        registry.registered().schemas[0].0,
        "sightline.events.v1-value"
    );

    // A fresh codec (another process) fetches the writer schema by id.
    let reader = Codec::new(Arc::new(RegistryResolver::new(&url))).expect("codec");
    let back: LlmEvent = reader.decode(&first).await.expect("decode");
    assert_eq!(back, e);
}

#[tokio::test]
async fn an_id_unknown_to_the_registry_is_bad_input() {
    let registry = FakeRegistry::start().await.expect("registry");
    let codec = Codec::new(Arc::new(RegistryResolver::new(&registry.url))).expect("codec");
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
