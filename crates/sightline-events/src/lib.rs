//! Sightline's event types and their wire codec.
//!
//! Every fact Sightline records travels through Kafka as Avro in the Confluent
//! wire format: magic byte `0`, a 4-byte big-endian schema id, then the Avro
//! datum. The schemas live in the workspace `schemas/` folder and are compiled
//! into this crate, so every binary agrees on them.
//!
//! Schema ids come from a [`SchemaResolver`]: [`PinnedResolver`] (ids pinned in
//! `schemas/pinned.json`, the default for local and air-gapped runs) or
//! [`RegistryResolver`] (a Confluent-compatible schema registry).
//!
//! Delivery guarantee: none here; this crate is pure encoding. Decoding never
//! panics on bad bytes; it returns [`Error::Decode`] so callers can dead-letter
//! the record.

mod codec;
mod config;
mod dlq;
mod error;
mod event;
mod incident;
mod notification;
mod resolver;
mod verdict;

pub use codec::{Codec, WIRE_MAGIC};
pub use config::RegistryConfig;
pub use dlq::DlqRecord;
pub use error::{Error, Result};
pub use event::{
    Attachment, CallStatus, EventKind, InlineFinding, LlmEvent, Message, Provider, ResampleRole,
    Sampling, TokenUsage,
};
pub use incident::{
    CommandAction, IncidentCategory, IncidentCommand, IncidentEvent, IncidentEventType,
    IncidentLink, IncidentSeverity, IncidentSignal, IncidentSource, IncidentStatus, LinkReason,
};
pub use notification::{
    AlertRecord, AlertSource, DestinationKind, IncidentAction, Notification, NotificationOutcome,
};
pub use resolver::{PinnedResolver, RegistryResolver, SchemaResolver};
pub use verdict::{Decision, JudgeOutcome, JudgeStatus, Verdict, VerdictFinding, VerdictTier};

/// An Avro schema compiled into the crate, with the subject it is published under by default.
#[derive(Debug, Clone, Copy)]
pub struct SchemaSource {
    /// Full Avro name, e.g. `io.sightline.events.v1.LlmEvent`.
    pub full_name: &'static str,
    /// The `.avsc` JSON text.
    pub text: &'static str,
}

/// The `LlmEvent` schema.
pub const LLM_EVENT_SCHEMA: SchemaSource = SchemaSource {
    full_name: "io.sightline.events.v1.LlmEvent",
    text: include_str!("../../../schemas/llm_event.v1.avsc"),
};

/// The `DlqRecord` schema.
pub const DLQ_RECORD_SCHEMA: SchemaSource = SchemaSource {
    full_name: "io.sightline.dlq.v1.DlqRecord",
    text: include_str!("../../../schemas/dlq_record.v1.avsc"),
};

/// The `Verdict` schema.
pub const VERDICT_SCHEMA: SchemaSource = SchemaSource {
    full_name: "io.sightline.verdicts.v1.Verdict",
    text: include_str!("../../../schemas/verdict.v1.avsc"),
};

/// The `IncidentEvent` schema.
pub const INCIDENT_EVENT_SCHEMA: SchemaSource = SchemaSource {
    full_name: "io.sightline.incidents.v1.IncidentEvent",
    text: include_str!("../../../schemas/incident_event.v1.avsc"),
};

/// The `IncidentCommand` schema.
pub const INCIDENT_COMMAND_SCHEMA: SchemaSource = SchemaSource {
    full_name: "io.sightline.incidents.v1.IncidentCommand",
    text: include_str!("../../../schemas/incident_command.v1.avsc"),
};

/// The `IncidentSignal` schema.
pub const INCIDENT_SIGNAL_SCHEMA: SchemaSource = SchemaSource {
    full_name: "io.sightline.incidents.v1.IncidentSignal",
    text: include_str!("../../../schemas/incident_signal.v1.avsc"),
};

/// The `Notification` schema.
pub const NOTIFICATION_SCHEMA: SchemaSource = SchemaSource {
    full_name: "io.sightline.notifications.v1.Notification",
    text: include_str!("../../../schemas/notification.v1.avsc"),
};

/// Every schema this crate knows, for resolvers that pin ids.
pub const ALL_SCHEMAS: &[SchemaSource] = &[
    LLM_EVENT_SCHEMA,
    DLQ_RECORD_SCHEMA,
    VERDICT_SCHEMA,
    INCIDENT_EVENT_SCHEMA,
    INCIDENT_COMMAND_SCHEMA,
    INCIDENT_SIGNAL_SCHEMA,
    NOTIFICATION_SCHEMA,
];

/// Every schema file `schemas/pinned.json` may name, by its path under `schemas/`: this build's
/// schemas and the earlier versions records may still be written with.
pub const SCHEMA_FILES: &[(&str, &str)] = &[
    ("llm_event.v1.avsc", LLM_EVENT_SCHEMA.text),
    ("dlq_record.v1.avsc", DLQ_RECORD_SCHEMA.text),
    ("verdict.v1.avsc", VERDICT_SCHEMA.text),
    ("incident_event.v1.avsc", INCIDENT_EVENT_SCHEMA.text),
    ("incident_command.v1.avsc", INCIDENT_COMMAND_SCHEMA.text),
    ("incident_signal.v1.avsc", INCIDENT_SIGNAL_SCHEMA.text),
    ("notification.v1.avsc", NOTIFICATION_SCHEMA.text),
    (
        "history/llm_event.v1.id3.avsc",
        include_str!("../../../schemas/history/llm_event.v1.id3.avsc"),
    ),
    (
        "history/llm_event.v1.id1.avsc",
        include_str!("../../../schemas/history/llm_event.v1.id1.avsc"),
    ),
];

/// `schemas/pinned.json`: the ids pinned for each schema.
pub const PINNED_IDS_JSON: &str = include_str!("../../../schemas/pinned.json");

/// Types that are encoded with one of the compiled-in schemas.
pub trait AvroRecord: serde::Serialize + serde::de::DeserializeOwned {
    /// The schema this type is written with.
    const SCHEMA: SchemaSource;
}

impl AvroRecord for LlmEvent {
    const SCHEMA: SchemaSource = LLM_EVENT_SCHEMA;
}

impl AvroRecord for DlqRecord {
    const SCHEMA: SchemaSource = DLQ_RECORD_SCHEMA;
}

impl AvroRecord for Verdict {
    const SCHEMA: SchemaSource = VERDICT_SCHEMA;
}

impl AvroRecord for IncidentEvent {
    const SCHEMA: SchemaSource = INCIDENT_EVENT_SCHEMA;
}

impl AvroRecord for IncidentCommand {
    const SCHEMA: SchemaSource = INCIDENT_COMMAND_SCHEMA;
}

impl AvroRecord for IncidentSignal {
    const SCHEMA: SchemaSource = INCIDENT_SIGNAL_SCHEMA;
}

impl AvroRecord for Notification {
    const SCHEMA: SchemaSource = NOTIFICATION_SCHEMA;
}

/// A deterministic UUID (version 8 layout) from the sha256 of `parts`, joined unambiguously:
/// for output records whose id must be the same on every replay.
pub fn derived_id(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// One part of a key whose parts are joined by `separators`: `%` and each separator are
/// percent-escaped, so a part holding a separator cannot make two keys equal.
pub fn key_part(value: &str, separators: &[char]) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c == '%' || separators.contains(&c) {
            out.push_str(&format!("%{:02X}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
