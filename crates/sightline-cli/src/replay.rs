//! `sightline replay`: rebuilds ClickHouse tables from the topics, with a progress bar.

use std::io::Write;

use sightline_runtime::Shutdown;
use sightline_sink::replay::{replay, Bound, Progress};
use sightline_sink::rows::Table;
use sightline_sink::SinkConfig;

/// `sightline replay` arguments.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Where to start: an offset (in every partition) or an RFC 3339 time.
    #[arg(long)]
    pub from: Bound,
    /// Where to stop (inclusive): an offset or a time; the end of each partition without it.
    #[arg(long)]
    pub to: Option<Bound>,
    /// Tables to rebuild, comma-separated (default: every raw table).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
}

/// Runs a replay, drawing progress on stderr and printing the totals to `out`.
pub async fn run(
    config: &SinkConfig,
    args: &ReplayArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut tables = vec![];
    for name in &args.tables {
        tables.push(Table::named(name).ok_or_else(|| {
            anyhow::anyhow!(
                "--tables: '{name}' is not a raw table; use some of {}",
                Table::ALL.map(Table::name).join(", ")
            )
        })?);
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} records, {per_sec}, ETA {eta} {msg}",
        )
        .map_err(|e| anyhow::anyhow!("progress template: {e}"))?,
    );
    let shutdown = Shutdown::on_signals();
    let report = replay(
        config,
        args.from,
        args.to,
        &tables,
        &shutdown,
        |p: Progress| {
            bar.set_length(p.estimated);
            bar.set_position(p.read);
            bar.set_message(format!("{} rows inserted", p.inserted));
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("replay into {} failed: {e}", config.clickhouse.database))?;
    bar.finish_and_clear();
    writeln!(
        out,
        "replay: {} records read, {} rows inserted, {} rows already held, {} records already written, {} undecodable (dead-lettered before)",
        report.read, report.inserted, report.held_rows, report.duplicates, report.undecodable
    )?;
    Ok(())
}
