use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;

use crate::resolver::parse_schema;
use crate::{AvroRecord, Error, Result, SchemaResolver, ALL_SCHEMAS};

/// The first byte of every Confluent wire-format record.
pub const WIRE_MAGIC: u8 = 0;

/// Encodes and decodes [`AvroRecord`]s in the Confluent wire format.
#[derive(Debug, Clone)]
pub struct Codec {
    resolver: Arc<dyn SchemaResolver>,
    compiled: &'static Compiled,
    /// Whether a schema id names exactly this build's schema of a type (then records decode
    /// straight into the type, without resolution).
    current: Arc<Mutex<HashMap<(u32, &'static str), bool>>>,
}

/// This build's schemas, parsed once per process, and a writer and a reader for each:
/// resolving a schema's names, which building either does, costs more than a record.
struct Compiled {
    schemas: HashMap<&'static str, &'static Schema>,
    writers: HashMap<&'static str, GenericDatumWriter<'static>>,
    readers: HashMap<&'static str, GenericDatumReader<'static>>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("schemas", &self.schemas.keys())
            .finish_non_exhaustive()
    }
}

fn compiled() -> Result<&'static Compiled> {
    static SCHEMAS: OnceLock<std::result::Result<Vec<Schema>, String>> = OnceLock::new();
    static COMPILED: OnceLock<std::result::Result<Compiled, String>> = OnceLock::new();
    let schemas = SCHEMAS
        .get_or_init(|| {
            ALL_SCHEMAS
                .iter()
                .map(|source| parse_schema(source.text).map_err(|e| e.to_string()))
                .collect()
        })
        .as_ref()
        .map_err(|e| Error::Schema(e.clone()))?;
    COMPILED
        .get_or_init(|| {
            let mut compiled = Compiled {
                schemas: HashMap::new(),
                writers: HashMap::new(),
                readers: HashMap::new(),
            };
            for (source, schema) in ALL_SCHEMAS.iter().zip(schemas) {
                let writer = GenericDatumWriter::builder(schema)
                    .build()
                    .map_err(|e| format!("{}: {e}", source.full_name))?;
                let reader = GenericDatumReader::builder(schema)
                    .build()
                    .map_err(|e| format!("{}: {e}", source.full_name))?;
                compiled.schemas.insert(source.full_name, schema);
                compiled.writers.insert(source.full_name, writer);
                compiled.readers.insert(source.full_name, reader);
            }
            Ok(compiled)
        })
        .as_ref()
        .map_err(|e| Error::Schema(e.clone()))
}

fn not_compiled<T: AvroRecord>() -> Error {
    Error::Schema(format!("{} is not compiled in", T::SCHEMA.full_name))
}

impl Codec {
    /// A codec that asks `resolver` for ids.
    pub fn new(resolver: Arc<dyn SchemaResolver>) -> Result<Self> {
        Ok(Self {
            resolver,
            compiled: compiled()?,
            current: Arc::default(),
        })
    }

    /// A codec with the ids pinned in `schemas/pinned.json`.
    pub fn pinned() -> Result<Self> {
        Self::new(Arc::new(crate::PinnedResolver::builtin()?))
    }

    fn schema_of<T: AvroRecord>(&self) -> Result<&'static Schema> {
        self.compiled
            .schemas
            .get(T::SCHEMA.full_name)
            .copied()
            .ok_or_else(not_compiled::<T>)
    }

    /// Encodes `value` for `topic` (subject `<topic>-value`).
    pub async fn encode<T: AvroRecord>(&self, topic: &str, value: &T) -> Result<Vec<u8>> {
        let subject = format!("{topic}-value");
        let id = self.resolver.id_for(&subject, &T::SCHEMA).await?;
        let writer = self
            .compiled
            .writers
            .get(T::SCHEMA.full_name)
            .ok_or_else(not_compiled::<T>)?;
        let mut out = Vec::with_capacity(256);
        out.push(WIRE_MAGIC);
        out.extend_from_slice(&id.to_be_bytes());
        writer
            .write_ser(&mut out, value)
            .map_err(|e| Error::Encode(e.to_string()))?;
        Ok(out)
    }

    /// Decodes a record, resolving the writer's schema against this build's schema.
    pub async fn decode<T: AvroRecord>(&self, bytes: &[u8]) -> Result<T> {
        let (id, mut body) = split_header(bytes)?;
        let writer_schema = self.resolver.schema_by_id(id).await?;
        let reader_schema = self.schema_of::<T>()?;
        if self.is_current::<T>(id, &writer_schema, reader_schema) {
            // Written with this build's schema: straight into the type.
            let reader = self
                .compiled
                .readers
                .get(T::SCHEMA.full_name)
                .ok_or_else(not_compiled::<T>)?;
            let value: T = reader
                .read_deser(&mut body)
                .map_err(|e| Error::Decode(format!("invalid Avro for schema id {id}: {e}")))?;
            if !body.is_empty() {
                return Err(Error::Decode(format!(
                    "{} trailing bytes after the Avro datum (schema id {id})",
                    body.len()
                )));
            }
            return Ok(value);
        }
        let reader = GenericDatumReader::builder(&writer_schema)
            .reader_schema(reader_schema)
            .build()
            .map_err(|e| {
                Error::Decode(format!(
                    "schema id {id} cannot be read as {}: {e}",
                    T::SCHEMA.full_name
                ))
            })?;
        // Resolve to a generic value first: schema-aware deserialisation does not perform
        // writer/reader schema resolution.
        let value = reader
            .read_value(&mut body)
            .map_err(|e| Error::Decode(format!("invalid Avro for schema id {id}: {e}")))?;
        if !body.is_empty() {
            return Err(Error::Decode(format!(
                "{} trailing bytes after the Avro datum (schema id {id})",
                body.len()
            )));
        }
        apache_avro::from_value(&value).map_err(|e| {
            Error::Decode(format!(
                "schema id {id} does not map onto {}: {e}",
                T::SCHEMA.full_name
            ))
        })
    }
}

impl Codec {
    /// Whether schema `id` (`writer`) is this build's schema of `T`; learnt once per id.
    fn is_current<T: AvroRecord>(&self, id: u32, writer: &Schema, reader: &Schema) -> bool {
        let key = (id, T::SCHEMA.full_name);
        if let Some(known) = self.current.lock().ok().and_then(|m| m.get(&key).copied()) {
            return known;
        }
        let same = writer.canonical_form() == reader.canonical_form();
        if let Ok(mut m) = self.current.lock() {
            m.insert(key, same);
        }
        same
    }
}

/// Splits a wire-format record into its schema id and Avro body.
pub fn split_header(bytes: &[u8]) -> Result<(u32, &[u8])> {
    match bytes {
        [] => Err(Error::Decode("empty record".into())),
        [magic, ..] if *magic != WIRE_MAGIC => Err(Error::Decode(format!(
            "magic byte is {magic:#04x}, expected 0x00 (Confluent wire format)"
        ))),
        [_, a, b, c, d, body @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), body)),
        _ => Err(Error::Decode(format!(
            "record is {} bytes, shorter than the 5-byte header",
            bytes.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;

    pub(crate) fn sample_event() -> LlmEvent {
        LlmEvent {
            event_id: LlmEvent::new_id(),
            call_id: LlmEvent::new_id(),
            kind: EventKind::Response,
            occurred_at_ms: 1_763_000_000_123,
            tenant_id: "acme".into(),
            user_id: "ada@acme.test".into(),
            team_id: Some("platform".into()),
            conversation_id: None,
            provider: Provider::Anthropic,
            model: Some("claude-sonnet-4".into()),
            endpoint: "POST /v1/messages".into(),
            streaming: true,
            messages: vec![Message {
                role: "user".into(),
                text: "héllo ✓".into(),
            }],
            attachments: vec![Attachment {
                kind: "image".into(),
                media_type: Some("image/png".into()),
                source: "base64".into(),
                size_bytes: Some(1234),
                sha256: Some("ab".repeat(32)),
                width: Some(640),
                height: Some(480),
            }],
            usage: Some(TokenUsage {
                input_tokens: 12,
                output_tokens: 34,
                cache_read_tokens: None,
                cache_write_tokens: Some(5),
            }),
            cost_usd_micros: Some(99),
            latency_ms: Some(250),
            ttft_ms: Some(40),
            status: CallStatus::Ok,
            http_status: Some(200),
            error: None,
            findings: vec![InlineFinding {
                rule_id: "aws-access-key-id".into(),
                category: "secret".into(),
                start: 3,
                end: 23,
                confidence: 0.9,
                fingerprint: "f".repeat(16),
                location: Some("/messages/0/content".into()),
                example: false,
                tier: Some("CRITICAL".into()),
            }],
            user_agent: Some("test/1".into()),
            content_hash: Some("c".repeat(64)),
            capability: Some("claude-code".into()),
            workspace_id: Some("ws-1".into()),
            api_key_id: Some("key-0123456789abcdef".into()),
            sampling: Some(Sampling {
                temperature: Some(0.5),
                max_tokens: Some(64),
                ..Sampling::default()
            }),
            stop_reason: Some("end_turn".into()),
            request_bytes: Some(321),
            response_bytes: Some(654),
            logical_id: None,
            resample_role: None,
            resample_index: None,
        }
    }

    #[tokio::test]
    async fn event_round_trips_with_pinned_id() {
        let codec = Codec::pinned().expect("codec");
        let event = sample_event();
        let bytes = codec
            .encode("sightline.events.v1", &event)
            .await
            .expect("encode");
        assert_eq!(bytes[0], WIRE_MAGIC);
        assert_eq!(
            u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]),
            4,
            "this build's schema is pinned to id 4"
        );
        let back: LlmEvent = codec.decode(&bytes).await.expect("decode");
        assert_eq!(back, event);
    }

    #[tokio::test]
    async fn dlq_record_round_trips_with_its_own_id() {
        let codec = Codec::pinned().expect("codec");
        let record = DlqRecord {
            error: "bad magic".into(),
            processor: "sink".into(),
            source_topic: "t".into(),
            source_partition: 3,
            source_offset: 42,
            key: None,
            payload: Some(vec![0xff, 0x00, 0x10]),
            failed_at_ms: 5,
        };
        let bytes = codec
            .encode("sightline.dlq.v1", &record)
            .await
            .expect("encode");
        assert_eq!(bytes[4], 2);
        let back: DlqRecord = codec.decode(&bytes).await.expect("decode");
        assert_eq!(back, record);
    }

    #[tokio::test]
    async fn a_notification_round_trips_with_its_alert() {
        use crate::{
            AlertRecord, AlertSource, DestinationKind, IncidentAction, Notification,
            NotificationOutcome,
        };
        let codec = Codec::pinned().expect("codec");
        let grouped = Notification {
            notification_id: Notification::id_for("g", None, NotificationOutcome::Grouped, 1, 1, 0),
            outcome: NotificationOutcome::Grouped,
            destination: "oncall".into(),
            destination_kind: DestinationKind::Pagerduty,
            group_id: "g".into(),
            group_key: "tenant=acme,rule=r,user=dana".into(),
            tenant_id: "acme".into(),
            partition: 1,
            seq_from: 1,
            seq: 1,
            alerts: 1,
            delivery_id: None,
            merged_groups: 0,
            attempts: 0,
            http_status: None,
            error: None,
            at_ms: 7,
            alert: Some(AlertRecord {
                source: AlertSource::Incident,
                source_id: "e".into(),
                source_topic: "sightline.incidents.v1".into(),
                source_partition: 1,
                source_offset: 9,
                level: "CRITICAL".into(),
                user_id: Some("dana".into()),
                team_id: None,
                rules: vec!["critical_verdict".into()],
                category: "SAFETY".into(),
                conversation_id: None,
                call_id: Some("c".into()),
                incident_id: Some("i".into()),
                incident_title: Some("t".into()),
                incident_action: Some(IncidentAction::Trigger),
                occurrences: 3,
                occurred_at_ms: 5,
            }),
        };
        let bytes = codec
            .encode("sightline.notifications.v1", &grouped)
            .await
            .expect("encode");
        assert_eq!(bytes[4], 9);
        let back: Notification = codec.decode(&bytes).await.expect("decode");
        assert_eq!(back, grouped);
        let sent = Notification {
            outcome: NotificationOutcome::Sent,
            http_status: Some(200),
            attempts: 2,
            alert: None,
            ..grouped
        };
        let bytes = codec
            .encode("sightline.notifications.v1", &sent)
            .await
            .expect("encode");
        let back: Notification = codec.decode(&bytes).await.expect("decode");
        assert_eq!(back, sent);
    }

    #[tokio::test]
    async fn a_verdict_round_trips_and_a_grouped_event_keeps_its_grouping() {
        let codec = Codec::pinned().expect("codec");
        let verdict = Verdict {
            verdict_id: Verdict::id_for("e1", "abc"),
            event_id: "e1".into(),
            call_id: "c1".into(),
            logical_id: Some("c0".into()),
            kind: "REQUEST".into(),
            resample_role: Some("RESAMPLE".into()),
            tenant_id: "acme".into(),
            user_id: "dana".into(),
            team_id: None,
            conversation_id: None,
            occurred_at_ms: 7,
            tier: VerdictTier::Critical,
            rules: vec!["credentials".into()],
            findings: vec![VerdictFinding {
                rule_id: "aws-access-key-id".into(),
                category: "secret".into(),
                tier: "CRITICAL".into(),
                location: Some("/messages/0/content".into()),
                start: 1,
                end: 21,
                confidence: 0.9,
                fingerprint: "ab".into(),
                example: false,
            }],
            actions: vec!["block".into()],
            judge: Some(JudgeOutcome {
                status: JudgeStatus::TimedOut,
                tier: "CRITICAL".into(),
                reason: Some("no answer within 2000 ms".into()),
            }),
            decision: Decision::Inherited,
            inherited_from: Some("e0".into()),
            policy_version: "abc".into(),
        };
        let bytes = codec.encode("v", &verdict).await.expect("encode");
        assert_eq!(bytes[4], 5, "pinned to id 5");
        assert_eq!(
            codec.decode::<Verdict>(&bytes).await.expect("decode"),
            verdict
        );
        // Twice: the second decode takes the cached straight path.
        let mut event = sample_event();
        event.logical_id = Some("c0".into());
        event.resample_role = Some(ResampleRole::Resample);
        event.resample_index = Some(2);
        let bytes = codec.encode("g", &event).await.expect("encode");
        for _ in 0..2 {
            assert_eq!(
                codec.decode::<LlmEvent>(&bytes).await.expect("decode"),
                event
            );
        }
    }

    #[tokio::test]
    async fn bad_bytes_are_decode_errors_not_panics() {
        let codec = Codec::pinned().expect("codec");
        let good = codec.encode("t", &sample_event()).await.expect("encode");
        let mut unknown_id = good.clone();
        unknown_id[4] = 77;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("short", vec![0, 0, 1]),
            ("magic", b"{\"json\":true}".to_vec()),
            ("unknown id", unknown_id),
            ("truncated", good[..good.len() / 2].to_vec()),
            ("trailing", [good.clone(), vec![1, 2, 3]].concat()),
        ];
        for (name, bytes) in cases {
            let err = codec.decode::<LlmEvent>(&bytes).await.expect_err(name);
            assert!(err.is_bad_input(), "{name}: {err}");
        }
    }

    #[tokio::test]
    async fn decoding_an_event_as_a_dlq_record_fails_cleanly() {
        let codec = Codec::pinned().expect("codec");
        let bytes = codec.encode("t", &sample_event()).await.expect("encode");
        let err = codec
            .decode::<DlqRecord>(&bytes)
            .await
            .expect_err("wrong type");
        assert!(err.is_bad_input(), "{err}");
    }
}
