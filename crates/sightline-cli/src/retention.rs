//! `sightline retention run`: drops the raw tables' day partitions older than the retention.

use sightline_clickhouse::ClickHouseConfig;

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

/// `sightline retention run`: drops (or, dry, lists) the raw day partitions older than
/// `days` (default: the configured retention) and prints each with its rows.
pub async fn run(
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
