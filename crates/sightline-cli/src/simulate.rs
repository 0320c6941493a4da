//! `sightline simulate spike|drop`: synthetic call history for a demo of the anomaly checks.

use sightline_clickhouse::ClickHouseConfig;

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

/// `sightline simulate`: writes the history and says what the anomaly job will find.
pub async fn run(
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
