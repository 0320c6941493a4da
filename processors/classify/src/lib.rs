//! The classify processor: `sightline.grouped.v1` → `sightline.verdicts.v1`.
//!
//! One `Verdict` per event: tier, matched rules, findings (fingerprints and locations, never
//! values), actions, the judge's outcome and the policy version. The policy runs once per
//! logical request, on the PRIMARY; each RESAMPLE gets its primary's verdict without the
//! detectors or the judge running again. Every RESPONSE is classified on its own. A tier
//! with the `judge` action asks the external judge (see [`judge`]) once, with a timeout and a
//! fallback tier. The policy is reloaded when its file changes or on SIGHUP.
//!
//! Delivery guarantee: at-least-once, on the stage runtime. `verdict_id` is derived from the
//! event id and the policy version, so a replay writes records consumers deduplicate. After a
//! restart the primaries' verdicts are rebuilt by re-reading each partition from the oldest
//! primary held; the judge is not asked again for those (status `NOT_ASKED_AGAIN`).

pub mod config;
pub mod decide;
pub mod judge;
pub mod prepare;
pub mod reload;
pub mod step;

use prometheus_client::metrics::family::Family;
use sightline_detect::KeyRing;
use sightline_kafka::{Producer, Topic, TopicNames};
use sightline_runtime::Shutdown;
use sightline_stage::{KafkaOutput, Stage, StageMetrics, Stats};

pub use config::ClassifyConfig;

/// Processor name: consumer group `sightline-classify`, DLQ `processor`, metrics label.
pub const PROCESSOR: &str = "classify";

/// Runs the processor until `shutdown`.
pub async fn run(config: ClassifyConfig, shutdown: Shutdown) -> anyhow::Result<Stats> {
    let codec = config.schema_registry.codec()?;
    let names = TopicNames::from(&config.topics);
    let key = config.policy.master_key().ok_or_else(|| {
        anyhow::anyhow!(
            "{} is not set; set it to the shim's fingerprint key",
            config.policy.fingerprint_key_env
        )
    })?;
    let policy = reload::PolicyCell::new(config.policy.load()?);
    tracing::info!(policy_version = %policy.current().version(), "policy loaded");
    let metrics = StageMetrics::new(PROCESSOR);
    reload::watch(
        policy.clone(),
        config.policy.clone(),
        config.classify.policy_poll,
        metrics.counter(
            "classify_policy_reloads",
            "Policy reloads that changed the version",
        ),
        shutdown.clone(),
    );
    let judge_calls = Family::default();
    metrics.register(
        "classify_judge_calls",
        "Judge calls, by outcome",
        judge_calls.clone(),
    );
    let step = step::Classify::new(
        i64::try_from(config.classify.primary_horizon.as_millis()).unwrap_or(i64::MAX),
        config.classify.max_primaries_per_partition,
        metrics.counter(
            "classify_missing_primary",
            "RESAMPLEs whose primary was no longer held or whose findings differ (decided from their own findings)",
        ),
        metrics.counter(
            "classify_evicted",
            "Primaries dropped because a partition reached classify.max_primaries_per_partition",
        ),
    );
    let prepare = prepare::ClassifyPrepare {
        codec: codec.clone(),
        policy,
        keys: KeyRing::new(key),
        judge: judge::Judge::new(),
        judge_calls,
    };
    let effect = KafkaOutput::new(
        Producer::new(&config.kafka)?,
        codec.clone(),
        names.name(Topic::Verdicts),
        config.stage.max_backoff,
    );
    let stage = Stage {
        processor: PROCESSOR.into(),
        kafka: config.kafka.clone(),
        inputs: vec![names.name(Topic::Grouped)],
        dlq_topic: names.name(Topic::Dlq),
        codec,
        section: config.stage.clone(),
        prepare,
        step,
        effect,
        metrics,
    };
    Ok(sightline_stage::run(stage, shutdown).await?)
}
