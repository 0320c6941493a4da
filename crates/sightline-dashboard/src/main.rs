use clap::Parser;
use sightline_dashboard::config::Args;
use sightline_runtime::{config::load_or_exit, telemetry, Shutdown};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init_tracing();
    let args = Args::parse();
    let config = load_or_exit(args.config.as_deref());
    sightline_dashboard::run(config, Shutdown::on_signals()).await
}
