//! The `sightline` operator CLI.
//!
//! - `sightline migrate`: applies `sql/` migrations to ClickHouse; re-running is a no-op.
//! - `sightline topics apply`: creates Sightline's topics; re-running is a no-op.
//! - `sightline replay --from <time|offset> [--to …] [--tables …]`: rebuilds raw tables (and
//!   their rollups) from the topics with a progress bar; overlapping data stays exact.
//! - `sightline simulate spike|drop [--tenant T] [--capability C]`: writes 15 days of synthetic
//!   call history whose last day spikes or drops, for the anomaly checks to find.
//! - `sightline retention run [--days N] [--dry-run]`: drops raw day partitions older than the
//!   retention (default 90 days); rollups and incidents are kept; re-running is a no-op.
//! - `sightline scan [FILE|-]`: runs the detection engine and policy over text and prints one
//!   JSON line per finding (or, with `--redact`, the redacted text).
//! - `sightline verdicts [--user U] [--min-tier T]`: prints verdicts from
//!   `sightline.verdicts.v1` as JSON lines (tier, rules, findings by location and
//!   fingerprint, actions, judge, policy version; never a value).
//! - `sightline incident list|show|ack|resolve|dismiss|assign|note`: incidents from
//!   `sightline.incidents.v1`, and commands to `sightline.incident-commands.v1` that move them
//!   along OPEN → INVESTIGATING → RESOLVED | DISMISSED.
//!
//! Each command reads the same layered config as the services (`--config`, then
//! `SIGHTLINE__…` env) and exits non-zero with a message naming what failed.

pub mod export;
pub mod incident;
pub mod replay;
pub mod retention;
pub mod scan;
pub mod simulate;
pub mod verdicts;

use std::path::PathBuf;

use serde::Deserialize;
use sightline_clickhouse::ClickHouseConfig;
use sightline_events::RegistryConfig;
use sightline_kafka::{KafkaConfig, TopicsConfig};
use sightline_runtime::{Problem, Validate};

/// The sections the CLI reads; unknown sections are allowed so one file can serve every
/// component.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CliConfig {
    /// `[kafka]`
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// `[topics]`
    #[serde(default)]
    pub topics: TopicsConfig,
    /// `[clickhouse]`
    #[serde(default)]
    pub clickhouse: ClickHouseConfig,
    /// `[schema_registry]`
    #[serde(default)]
    pub schema_registry: RegistryConfig,
}

impl Validate for CliConfig {
    fn validate(&self) -> Vec<Problem> {
        let mut p = self.kafka.validate("kafka");
        p.extend(self.topics.validate("topics"));
        p.extend(self.clickhouse.validate("clickhouse"));
        p.extend(self.schema_registry.validate("schema_registry"));
        p
    }
}

/// `sightline` arguments.
#[derive(Debug, clap::Parser)]
#[command(name = "sightline", version, about = "Operate a Sightline deployment")]
pub struct Args {
    /// TOML config file; every key can also be set as SIGHTLINE__SECTION__KEY.
    #[arg(long, global = true, env = "SIGHTLINE_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Apply pending `sql/` migrations to ClickHouse.
    Migrate,
    /// Scan text (a file, or stdin with `-`) for secrets, PII and production access.
    Scan(scan::ScanArgs),
    /// Print verdicts (sightline.verdicts.v1) as JSON lines.
    Verdicts(verdicts::VerdictsArgs),
    /// List, show and work incidents.
    Incident {
        /// What to do.
        #[command(subcommand)]
        action: incident::IncidentAction,
    },
    /// Export calls with user attribution through the dashboard (`SIGHTLINE_API_KEY`), scoped
    /// by the key's role and written to the access audit log.
    Export(export::ExportArgs),
    /// Rebuild ClickHouse tables from the topics (reads the sink's config: `--config sink.toml`).
    Replay(replay::ReplayArgs),
    /// Write synthetic call history into ClickHouse for a demo of the anomaly checks.
    Simulate(simulate::SimulateArgs),
    /// Drop raw data older than the retention (rollups and incidents are kept).
    Retention {
        /// What to do.
        #[command(subcommand)]
        action: retention::RetentionAction,
    },
    /// Manage Kafka topics.
    Topics {
        /// What to do with topics.
        #[command(subcommand)]
        action: TopicsAction,
    },
}

/// `sightline topics …`
#[derive(Debug, clap::Subcommand)]
pub enum TopicsAction {
    /// Create every Sightline topic that does not exist yet.
    Apply,
}

/// Runs one command, printing what it did.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let load = || -> CliConfig { sightline_runtime::config::load_or_exit(args.config.as_deref()) };
    match &args.command {
        Command::Scan(scan) => scan::run(scan, &mut std::io::stdout().lock())?,
        Command::Verdicts(v) => {
            verdicts::run(&load(), v, &mut std::io::stdout().lock()).await?;
        }
        Command::Incident { action } => {
            incident::run(&load(), action, &mut std::io::stdout()).await?;
        }
        Command::Migrate => {
            let config = load();
            let migrations = sightline_clickhouse::migrate::embedded()?;
            let report = sightline_clickhouse::migrate::apply(&config.clickhouse, &migrations)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "migrating {} at {} failed: {e}",
                        config.clickhouse.database,
                        config.clickhouse.url
                    )
                })?;
            for m in &report.applied {
                println!("applied  {m}");
            }
            for m in &report.skipped {
                println!("skipped  {m} (already applied)");
            }
            println!(
                "database {}: {} applied, {} already applied",
                config.clickhouse.database,
                report.applied.len(),
                report.skipped.len()
            );
        }
        Command::Export(e) => {
            let key = std::env::var("SIGHTLINE_API_KEY").map_err(|_| {
                anyhow::anyhow!("set SIGHTLINE_API_KEY to a dashboard API key (it is never taken as an argument)")
            })?;
            let done = export::run(e, &key).await?;
            eprintln!(
                "exported {} calls ({} bytes) to {}",
                done.rows,
                done.bytes,
                e.out.display()
            );
        }
        Command::Replay(r) => {
            let config: sightline_sink::SinkConfig =
                sightline_runtime::config::load_or_exit(args.config.as_deref());
            replay::run(&config, r, &mut std::io::stdout()).await?;
        }
        Command::Simulate(sim) => {
            let config = load();
            simulate::run(
                &config.clickhouse,
                sim,
                sightline_events::now_ms(),
                &mut std::io::stdout(),
            )
            .await?;
        }
        Command::Retention {
            action: retention::RetentionAction::Run { days, dry_run },
        } => {
            let config = load();
            retention::run(&config.clickhouse, *days, *dry_run, &mut std::io::stdout()).await?;
        }
        Command::Topics {
            action: TopicsAction::Apply,
        } => {
            let config = load();
            let applied = sightline_kafka::topics::apply(&config.kafka, &config.topics)
                .await
                .map_err(|e| {
                    anyhow::anyhow!("creating topics on {} failed: {e}", config.kafka.brokers)
                })?;
            for (name, outcome) in applied {
                println!("{name}: {outcome:?}");
            }
        }
    }
    Ok(())
}
