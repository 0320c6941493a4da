//! The alert processor: verdicts and incidents → Slack, PagerDuty and signed webhooks.
//!
//! Inputs: `sightline.verdicts.v1`, `sightline.incidents.v1`, and its own output,
//! `sightline.notifications.v1`, read back. Every input must have the same number of
//! partitions: a group lives on one partition number, and its records are written to that
//! partition of the notifications topic.
//!
//! The policy says which alerts reach which destinations: a verdict's tier actions
//! (`alert:<name>`, per tenant) and, for incidents, `[severities.<SEVERITY>]`; the
//! destinations themselves (URLs, grouping, limits, templates) are configured here. Alerts are grouped per destination by labels with Alertmanager's
//! `group_wait`, `group_interval` and `repeat_interval` ([`groups`]); each destination has a
//! rate limit (`governor`), and what exceeds it is deferred and merged into the next message,
//! never dropped. Messages are rendered from minijinja templates checked at start
//! ([`render`]) and sent with retries ([`deliver`]).
//!
//! Delivery guarantee: at-least-once with exact alert state. Every alert joins its group with
//! a GROUPED record and every message's outcome (SENT, FAILED, DEAD_LETTERED) is recorded
//! before the inputs' offsets are stored, so after a restart the groups, what each message
//! covered and when each group last went out are rebuilt from the notifications topic: a
//! restarted or second instance does not page again. A crash between a message and its
//! recorded outcome re-sends that message only (PagerDuty deduplicates it by `dedup_key`,
//! webhook receivers by each group's id and range in the signed body).

pub mod alert;
pub mod config;
pub mod deliver;
pub mod groups;
pub mod prepare;
pub mod render;
pub mod step;

#[cfg(test)]
mod groups_tests;

use std::sync::Arc;

use sightline_kafka::{DeadLetters, Producer, Topic, TopicNames};
use sightline_runtime::Shutdown;
use sightline_stage::{KafkaOutput, Stage, StageMetrics, Stats};

pub use config::AlertConfig;

/// Processor name: consumer group `sightline-alert`, DLQ `processor`, metrics label.
pub const PROCESSOR: &str = "alert";

/// The input topics in the step's index order.
pub fn inputs(names: &TopicNames) -> Vec<String> {
    vec![
        names.name(Topic::Notifications),
        names.name(Topic::Verdicts),
        names.name(Topic::Incidents),
    ]
}

/// Runs the processor until `shutdown`.
pub async fn run(config: AlertConfig, shutdown: Shutdown) -> anyhow::Result<Stats> {
    let codec = config.schema_registry.codec()?;
    let names = TopicNames::from(&config.topics);
    let inputs = inputs(&names);
    sightline_stage::check_copartitioned(&config.kafka, PROCESSOR, &inputs)?;
    let renderer = Arc::new(
        render::Renderer::new(&config)
            .map_err(|problems| sightline_runtime::ConfigError { problems })?,
    );
    let policy = config.policy.load()?;
    let problems = config.check_policy(&policy);
    if !problems.is_empty() {
        return Err(sightline_runtime::ConfigError { problems }.into());
    }
    let metrics = StageMetrics::new(PROCESSOR);
    let unrouted = metrics.counter(
        "alert_unrouted",
        "Alerts to a destination this processor does not configure",
    );
    let engine = groups::Engine::new(&config, renderer);
    let producer = Producer::new(&config.kafka)?;
    let notifications = names.name(Topic::Notifications);
    let effect = deliver::Deliveries::new(
        &config,
        KafkaOutput::new(
            producer.clone(),
            codec.clone(),
            notifications.clone(),
            config.stage.max_backoff,
        ),
        DeadLetters::new(producer, codec.clone(), names.name(Topic::Dlq), PROCESSOR),
        notifications,
        &metrics,
    )?;
    let stage = Stage {
        processor: PROCESSOR.into(),
        kafka: config.kafka.clone(),
        inputs: inputs.clone(),
        dlq_topic: names.name(Topic::Dlq),
        codec: codec.clone(),
        section: config.stage.clone(),
        prepare: prepare::AlertPrepare { codec },
        step: step::Alerts::new(inputs, engine, policy, unrouted),
        effect,
        metrics,
    };
    Ok(sightline_stage::run(stage, shutdown).await?)
}
