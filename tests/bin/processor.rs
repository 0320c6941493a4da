//! Runs one processor as its own process, as its binary would, for tests that kill it:
//! `sightline-test-processor dedupe|classify|incidents|alert|sink --config <file>`.

use sightline_runtime::{config::load_or_exit, telemetry, Shutdown};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init_tracing();
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_default();
    let config = match (args.next().as_deref(), args.next()) {
        (Some("--config"), Some(path)) => std::path::PathBuf::from(path),
        _ => anyhow::bail!(
            "usage: sightline-test-processor dedupe|classify|incidents|alert|sink --config <file>"
        ),
    };
    let shutdown = Shutdown::on_signals();
    match kind.as_str() {
        "dedupe" => {
            sightline_dedupe::run(load_or_exit(Some(&config)), shutdown).await?;
        }
        "classify" => {
            sightline_classify::run(load_or_exit(Some(&config)), shutdown).await?;
        }
        "incidents" => {
            sightline_incidents::run(load_or_exit(Some(&config)), Some(config), shutdown).await?;
        }
        "alert" => {
            sightline_alert::run(load_or_exit(Some(&config)), shutdown).await?;
        }
        "sink" => {
            sightline_sink::run(load_or_exit(Some(&config)), shutdown).await?;
        }
        other => anyhow::bail!("unknown processor '{other}'"),
    }
    Ok(())
}
