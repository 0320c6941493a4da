//! `sightline verdicts`: prints verdicts from `sightline.verdicts.v1` as JSON lines.

use std::io::Write;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message as _;
use sightline_events::{Verdict, VerdictTier};
use sightline_kafka::{Topic, TopicNames};

use crate::CliConfig;

/// `sightline verdicts` options.
#[derive(Debug, Clone, clap::Args)]
pub struct VerdictsArgs {
    /// Only this user's verdicts.
    #[arg(long)]
    pub user: Option<String>,
    /// Only verdicts at this tier or above (INFO, WARNING, CRITICAL).
    #[arg(long, value_parser = parse_tier)]
    pub min_tier: Option<VerdictTier>,
    /// Stop after this long without a new record.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub idle: Duration,
}

fn parse_tier(s: &str) -> Result<VerdictTier, String> {
    VerdictTier::parse(s).ok_or_else(|| format!("'{s}' is not NONE, INFO, WARNING or CRITICAL"))
}

/// Reads the topic from its start (in a group of its own that commits nothing) and writes the
/// matching verdicts to `out`; progress goes to stderr. Returns how many were printed.
pub async fn run(
    config: &CliConfig,
    args: &VerdictsArgs,
    out: &mut impl Write,
) -> anyhow::Result<usize> {
    let codec = config.schema_registry.codec()?;
    let topic = TopicNames::from(&config.topics).name(Topic::Verdicts);
    let consumer: StreamConsumer = config
        .kafka
        .client_config(&[])
        .set("group.id", format!("sightline-cli-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[&topic])?;
    let (mut read, mut printed) = (0usize, 0usize);
    // The first records can take a group join to arrive; later, `idle` ends the read.
    let mut wait = args.idle.max(Duration::from_secs(10));
    while let Ok(msg) = tokio::time::timeout(wait, consumer.recv()).await {
        let msg = msg?;
        wait = args.idle;
        read += 1;
        let verdict: Verdict = match codec.decode(msg.payload().unwrap_or_default()).await {
            Ok(v) => v,
            Err(e) => {
                eprintln!(
                    "skipping {}/{} offset {}: {e}",
                    topic,
                    msg.partition(),
                    msg.offset()
                );
                continue;
            }
        };
        if args.user.as_ref().is_some_and(|u| *u != verdict.user_id)
            || args.min_tier.is_some_and(|t| verdict.tier < t)
        {
            continue;
        }
        writeln!(out, "{}", serde_json::to_string(&verdict)?)?;
        printed += 1;
    }
    eprintln!("{topic}: read {read} verdicts, printed {printed}");
    Ok(printed)
}
