use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    sightline_runtime::telemetry::init_tracing();
    sightline_cli::run(sightline_cli::Args::parse()).await
}
