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

pub mod incident;
pub mod replay;
pub mod scan;
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
    /// Rebuild ClickHouse tables from the topics (reads the sink's config: `--config sink.toml`).
    Replay(replay::ReplayArgs),
    /// Write synthetic call history into ClickHouse for a demo of the anomaly checks.
    Simulate(SimulateArgs),
    /// Drop raw data older than the retention (rollups and incidents are kept).
    Retention {
        /// What to do.
        #[command(subcommand)]
        action: RetentionAction,
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

/// `sightline simulate` arguments.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// `spike`: yesterday at 3× the baseline; `drop`: at a fifth.
    #[arg(value_enum)]
    pub shape: sightline_anomaly::simulate::Shape,
    /// Tenant the history belongs to.
    #[arg(long, default_value = "acme")]
    pub tenant: String,
    /// Capability whose volume spikes or drops.
    #[arg(long, default_value = "chat")]
    pub capability: String,
    /// Calls a day before yesterday.
    #[arg(long, default_value_t = 200)]
    pub baseline: u64,
}

/// `sightline retention …`
#[derive(Debug, clap::Subcommand)]
pub enum RetentionAction {
    /// Drop the day partitions of the raw tables older than `[clickhouse]
    /// raw_retention_days` (default 90).
    Run {
        /// Days to keep, instead of the configured value.
        #[arg(long)]
        days: Option<u32>,
        /// Print what would be dropped, and drop nothing.
        #[arg(long)]
        dry_run: bool,
    },
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
        Command::Replay(r) => {
            let config: sightline_sink::SinkConfig =
                sightline_runtime::config::load_or_exit(args.config.as_deref());
            replay::run(&config, r, &mut std::io::stdout()).await?;
        }
        Command::Simulate(sim) => {
            let config = load();
            simulate(
                &config.clickhouse,
                sim,
                sightline_events::now_ms(),
                &mut std::io::stdout(),
            )
            .await?;
        }
        Command::Retention {
            action: RetentionAction::Run { days, dry_run },
        } => {
            let config = load();
            retention(&config.clickhouse, *days, *dry_run, &mut std::io::stdout()).await?;
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

/// `sightline retention run`: drops (or, dry, lists) the raw day partitions older than
/// `days` (default: the configured retention) and prints each with its rows.
pub async fn retention(
    config: &ClickHouseConfig,
    days: Option<u32>,
    dry_run: bool,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    use sightline_clickhouse::retention;
    let days = days.unwrap_or(config.raw_retention_days).max(1);
    let client = config.client();
    let failed = |e: sightline_clickhouse::Error| {
        anyhow::anyhow!(
            "retention on {} at {} failed: {e}",
            config.database,
            config.url
        )
    };
    let cutoff: String = client
        .query(&format!("SELECT toString(today() - {days})"))
        .fetch_one()
        .await
        .map_err(|e| failed(e.into()))?;
    let expired = retention::expired(&client, &config.database, &cutoff)
        .await
        .map_err(failed)?;
    let verb = if dry_run { "would drop" } else { "dropped" };
    if !dry_run {
        retention::drop(&client, &expired).await.map_err(failed)?;
    }
    for p in &expired {
        writeln!(out, "{verb} {} {} ({} rows)", p.table, p.day, p.rows)?;
    }
    writeln!(
        out,
        "retention: keeping raw data from {cutoff} on ({days} days); {verb} {} partition(s), {} rows; rollups and incidents kept",
        expired.len(),
        expired.iter().map(|p| p.rows).sum::<u64>()
    )?;
    Ok(())
}

/// `sightline simulate`: writes the history and says what the anomaly job will find.
pub async fn simulate(
    config: &ClickHouseConfig,
    args: &SimulateArgs,
    now_ms: i64,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    use sightline_anomaly::simulate::{insert, rows, Shape, Simulation};
    let sim = Simulation {
        shape: args.shape,
        tenant_id: args.tenant.clone(),
        capability: args.capability.clone(),
        baseline: args.baseline.max(5),
    };
    let rows = rows(&sim, now_ms);
    let client = config.client();
    let failed = |e: clickhouse::error::Error| {
        anyhow::anyhow!(
            "reading {} at {} failed: {e}; did `sightline migrate` run?",
            config.database,
            config.url
        )
    };
    // Safe to run twice: the same days of the same simulation are written once.
    let first = rows.iter().map(|r| r.ts_ms).min().unwrap_or(0);
    let held: u64 = client
        .query(
            "SELECT count() FROM llm_calls WHERE _topic = 'simulated' AND tenant_id = ? \
             AND capability = ? AND ts_ms >= ?",
        )
        .bind(&sim.tenant_id)
        .bind(&sim.capability)
        .bind(first)
        .fetch_one()
        .await
        .map_err(failed)?;
    if held > 0 {
        writeln!(
            out,
            "simulate: {held} simulated calls of {} for tenant {} are already there; nothing written",
            args.capability, args.tenant
        )?;
        return Ok(());
    }
    insert(&client, &rows).await.map_err(|e| {
        anyhow::anyhow!(
            "writing simulated history to {} at {} failed: {e}; did `sightline migrate` run?",
            config.database,
            config.url
        )
    })?;
    let word = match args.shape {
        Shape::Spike => "spike",
        Shape::Drop => "drop",
    };
    writeln!(
        out,
        "simulate: {} calls of {} for tenant {} over 15 days, yesterday a {word}; \
         the anomaly job opens an incident at its next run (see ai_audit_capability_anomalies)",
        rows.len(),
        args.capability,
        args.tenant
    )?;
    Ok(())
}
