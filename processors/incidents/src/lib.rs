//! The incidents processor: verdicts and calls → incidents people work from.
//!
//! Inputs: `sightline.verdicts.v1`, `sightline.grouped.v1` (each RESPONSE is re-keyed by tenant
//! onto `sightline.incident-signals.v1` and read back, so tenant-wide rules see all of a
//! tenant's calls), `sightline.incident-commands.v1` (people's changes) and its own output,
//! `sightline.incidents.v1`. Every input topic must have the same number of partitions:
//! a key's records on every topic share a partition number, so one instance holds an
//! incident, its windows and its commands.
//!
//! The rules (see [`rules`] and the README) open incidents deduplicated by a key per rule: the
//! same leaked key pasted ten times is one incident with ten occurrences, and once resolved,
//! the next paste opens a new one. Commands move incidents along OPEN → INVESTIGATING →
//! RESOLVED | DISMISSED; an illegal one goes to the DLQ with its reason. Rules, budgets and
//! limits per tenant and user are reloaded when the config file changes or on SIGHUP, keeping
//! window state.
//!
//! Delivery guarantee: at-least-once on the stage runtime, and exact incident state. Every
//! incident event carries the incident's whole state and how far its dedupe key has taken in
//! each input topic. After a restart the registry is rebuilt from the incidents topic to its
//! end and the windows from the last window of input; an input handled again is recognised
//! and neither opens an incident twice nor counts an occurrence twice. Event ids derive from
//! the incident id and sequence number.

pub mod config;
pub mod output;
pub mod prepare;
pub mod registry;
pub mod rules;
pub mod step;
pub mod window;

#[cfg(test)]
mod step_tests;

use std::path::PathBuf;

use sightline_kafka::{Producer, Topic, TopicNames};
use sightline_runtime::reload::{Live, Reload};
use sightline_runtime::Shutdown;
use sightline_stage::{KafkaOutput, Stage, StageMetrics, Stats};

pub use config::IncidentsConfig;

/// Processor name: consumer group `sightline-incidents`, DLQ `processor`, metrics label.
pub const PROCESSOR: &str = "incidents";

/// The input topics in the step's index order.
pub fn inputs(names: &TopicNames) -> Vec<String> {
    vec![
        names.name(Topic::Incidents),
        names.name(Topic::Verdicts),
        names.name(Topic::Grouped),
        names.name(Topic::IncidentSignals),
        names.name(Topic::IncidentCommands),
    ]
}

/// Runs the processor until `shutdown`. `config_file` is re-read for rule changes.
pub async fn run(
    config: IncidentsConfig,
    config_file: Option<PathBuf>,
    shutdown: Shutdown,
) -> anyhow::Result<Stats> {
    let codec = config.schema_registry.codec()?;
    let names = TopicNames::from(&config.topics);
    let inputs = inputs(&names);
    sightline_stage::check_copartitioned(&config.kafka, PROCESSOR, &inputs)?;
    let key = config.policy.master_key().ok_or_else(|| {
        anyhow::anyhow!(
            "{} is not set; set it to the shim's fingerprint key (notes are redacted with it)",
            config.policy.fingerprint_key_env
        )
    })?;
    let book = config
        .rule_book()
        .map_err(|p| sightline_runtime::ConfigError { problems: p })?;
    let rules = Live::new(book);
    let metrics = StageMetrics::new(PROCESSOR);
    let reloads = metrics.counter(
        "incidents_rule_reloads",
        "Config reloads that changed the rules",
    );
    let file = config_file.clone();
    sightline_runtime::reload::watch(
        rules.clone(),
        Reload {
            what: "incident rules",
            file: config_file,
            poll: config.incidents.config_poll,
            load: Box::new(move || {
                sightline_runtime::config::load::<IncidentsConfig>(file.as_deref()).and_then(|c| {
                    c.rule_book()
                        .map_err(|problems| sightline_runtime::ConfigError { problems })
                })
            }),
            same: |a, b| a == b,
            on_reload: Box::new(move |_| {
                reloads.inc();
            }),
        },
        shutdown.clone(),
    );
    let step = step::Incidents::new(
        inputs.clone(),
        rules,
        metrics.counter("incidents_opened", "Incidents opened"),
    );
    let producer = Producer::new(&config.kafka)?;
    let effect = output::Outputs {
        incidents: KafkaOutput::new(
            producer.clone(),
            codec.clone(),
            names.name(Topic::Incidents),
            config.stage.max_backoff,
        ),
        signals: KafkaOutput::new(
            producer,
            codec.clone(),
            names.name(Topic::IncidentSignals),
            config.stage.max_backoff,
        ),
    };
    let stage = Stage {
        processor: PROCESSOR.into(),
        kafka: config.kafka.clone(),
        inputs,
        dlq_topic: names.name(Topic::Dlq),
        codec: codec.clone(),
        section: config.stage.clone(),
        prepare: prepare::IncidentsPrepare {
            codec,
            commands_topic: names.name(Topic::IncidentCommands),
            policy: config.policy.load()?,
            keys: sightline_detect::KeyRing::new(key),
        },
        step,
        effect,
        metrics,
    };
    Ok(sightline_stage::run(stage, shutdown).await?)
}
