//! The sink on the stage runtime: a pure step maps each record to its rows; the effect
//! ([`ClickHouseTables`]) batches them into the raw tables, each fact once.

use std::collections::HashMap;

use async_trait::async_trait;
use sightline_detect::KeyRing;
use sightline_events::{Codec, LlmEvent};
use sightline_kafka::{Topic, TopicNames};
use sightline_policy::Policy;
use sightline_runtime::Shutdown;
use sightline_stage::{decode, At, Fault, Prepare, Stage, StageMetrics, Step};

use crate::rows::{self, Coords, Fact, Table};
use crate::tables::{ClickHouseTables, Counts, Mode, Settings};
use crate::{Result, SinkConfig};

/// Processor name: consumer group `sightline-sink`, DLQ `processor`, metrics label.
pub const PROCESSOR: &str = "sink";

/// What the sink did, returned when it stops.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Rows inserted into ClickHouse.
    pub inserted: u64,
    /// Rows skipped because ClickHouse already held them (replays).
    pub skipped: u64,
    /// Records skipped because the same fact was already written (published twice).
    pub duplicates: u64,
    /// Records older than the raw retention, not written.
    pub expired: u64,
    /// Records sent to the DLQ.
    pub dead_lettered: u64,
}

/// A decoded record of one of the sink's inputs.
#[derive(Debug)]
pub enum Input {
    /// An `LlmEvent` (grouped or events topic).
    Event(Box<LlmEvent>),
    /// A verdict.
    Verdict(Box<sightline_events::Verdict>),
    /// An incident event.
    Incident(Box<sightline_events::IncidentEvent>),
    /// A delivery outcome.
    Notification(Box<sightline_events::Notification>),
}

/// Decodes each input topic's records by the topic's kind.
pub struct SinkPrepare {
    codec: Codec,
    kinds: Vec<Topic>,
}

#[async_trait]
impl Prepare for SinkPrepare {
    type Out = Input;

    async fn prepare(&self, topic: usize, bytes: &[u8], _rebuilding: bool) -> Result<Input, Fault> {
        let c = &self.codec;
        Ok(match self.kinds.get(topic) {
            Some(Topic::Events | Topic::Grouped) => Input::Event(Box::new(decode(c, bytes).await?)),
            Some(Topic::Verdicts) => Input::Verdict(Box::new(decode(c, bytes).await?)),
            Some(Topic::Incidents) => Input::Incident(Box::new(decode(c, bytes).await?)),
            Some(Topic::Notifications) => Input::Notification(Box::new(decode(c, bytes).await?)),
            _ => return Err(Fault::Fatal(format!("the sink cannot read input {topic}"))),
        })
    }
}

/// The step: a record becomes its rows, with where it was read.
///
/// An event's text is scanned and redacted first: the shim's already is, but a producer that
/// did not pass the shim may write plaintext, and it must not reach ClickHouse.
pub struct ToRows {
    topics: Vec<String>,
    policy: Policy,
    keys: KeyRing,
}

impl ToRows {
    /// Maps records read from `topics` (by index), redacting with `policy` and `keys`.
    pub fn new(topics: Vec<String>, policy: Policy, keys: KeyRing) -> Self {
        Self {
            topics,
            policy,
            keys,
        }
    }
}

impl Step for ToRows {
    type In = Input;
    type Out = Fact;

    fn apply(
        &mut self,
        input: Input,
        at: At,
        _written_ms: i64,
        out: &mut Vec<Fact>,
    ) -> std::result::Result<(), Fault> {
        let coords = Coords {
            topic: self.topics[at.topic].clone(),
            partition: at.partition,
            offset: at.offset,
        };
        out.push(match input {
            Input::Event(mut event) => {
                let key = self.keys.tenant(&event.tenant_id);
                self.policy.scrub(&mut event, &key);
                rows::from_event(*event, coords)
            }
            Input::Verdict(v) => rows::from_verdict(*v, coords),
            Input::Incident(e) => rows::from_incident(*e, coords),
            Input::Notification(n) => rows::from_notification(*n, coords),
        });
        Ok(())
    }
}

/// The tables records of `topic` fill.
pub fn tables_of(topic: Topic) -> Vec<Table> {
    match topic {
        Topic::Events | Topic::Grouped => {
            vec![Table::LlmCalls, Table::LlmMessages, Table::Attachments]
        }
        Topic::Verdicts => vec![Table::Verdicts, Table::Findings],
        Topic::Incidents => vec![Table::IncidentEvents],
        Topic::Notifications => vec![Table::Notifications],
        _ => vec![],
    }
}

/// The parts of the sink the running stage and `sightline replay` share.
pub struct Parts {
    /// Input topic names, in order.
    pub names: Vec<String>,
    /// Their kinds.
    pub kinds: Vec<Topic>,
    /// The decoder.
    pub prepare: SinkPrepare,
    /// The step.
    pub step: ToRows,
    /// The effect.
    pub effect: ClickHouseTables,
}

/// Builds the sink's decoder, step and effect for `config`, writing `tables` in `mode`.
pub fn parts(
    config: &SinkConfig,
    codec: Codec,
    tables: Vec<Table>,
    mode: Mode,
    counts: Counts,
) -> Result<Parts> {
    let names = TopicNames::from(&config.topics);
    let kinds = config.sink.topics();
    let topic_names: Vec<String> = kinds.iter().map(|k| names.name(*k)).collect();
    let topics: HashMap<String, Vec<Table>> = kinds
        .iter()
        .zip(&topic_names)
        .map(|(k, n)| {
            let of: Vec<Table> = tables_of(*k)
                .into_iter()
                .filter(|t| tables.contains(t))
                .collect();
            (n.clone(), of)
        })
        .collect();
    let keys = KeyRing::new(config.policy.master_key().unwrap_or_else(|| {
        tracing::warn!(
            env = %config.policy.fingerprint_key_env,
            "fingerprint key not set; findings in text from producers other than the shim get fingerprints that match nothing else"
        );
        [LlmEvent::new_id().into_bytes(), LlmEvent::new_id().into_bytes()].concat()
    }));
    Ok(Parts {
        prepare: SinkPrepare {
            codec,
            kinds: kinds.clone(),
        },
        step: ToRows::new(topic_names.clone(), config.policy.load()?, keys),
        effect: ClickHouseTables::new(
            config.clickhouse.client(),
            topics,
            Settings {
                tables,
                mode,
                duplicate_window: config.sink.duplicate_window,
                batch: config.batch.clone(),
                max_backoff: config.stage.max_backoff,
                raw_retention: std::time::Duration::from_secs(
                    u64::from(config.clickhouse.raw_retention_days) * 86_400,
                ),
            },
            counts,
        ),
        names: topic_names,
        kinds,
    })
}

/// Runs the sink until `shutdown`, then flushes and commits within the grace period.
pub async fn run(config: SinkConfig, shutdown: Shutdown) -> Result<Stats> {
    let codec = config.schema_registry.codec()?;
    let metrics = StageMetrics::new(PROCESSOR);
    let counts = Counts {
        inserted: metrics.counter("sink_inserted", "Rows inserted into ClickHouse"),
        skipped: metrics.counter(
            "sink_skipped",
            "Rows skipped because ClickHouse already held them (replays)",
        ),
        duplicates: metrics.counter(
            "sink_duplicates",
            "Records skipped because the same fact was already written (published twice)",
        ),
        expired: metrics.counter(
            "sink_expired",
            "Records older than the raw retention, not written",
        ),
    };
    let parts = parts(
        &config,
        codec.clone(),
        Table::ALL.to_vec(),
        Mode::Resume,
        counts.clone(),
    )?;
    let stage = Stage {
        processor: PROCESSOR.into(),
        kafka: config.kafka.clone(),
        inputs: parts.names,
        dlq_topic: TopicNames::from(&config.topics).name(Topic::Dlq),
        codec,
        section: config.stage.clone(),
        prepare: parts.prepare,
        step: parts.step,
        effect: parts.effect,
        metrics,
    };
    let stats = sightline_stage::run(stage, shutdown).await?;
    Ok(Stats {
        inserted: counts.inserted.get(),
        skipped: counts.skipped.get(),
        duplicates: counts.duplicates.get(),
        expired: counts.expired.get(),
        dead_lettered: stats.dead_lettered,
    })
}
