use clap::Parser;
use sightline_runtime::{config::load_or_exit, telemetry, Shutdown};
use sightline_shim::config::{Args, ShimConfig};

fn main() -> anyhow::Result<()> {
    telemetry::init_tracing();
    let args = Args::parse();
    let config: ShimConfig = load_or_exit(args.config.as_deref());
    // The runtime is sized by the config, so it is built after loading it.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.shim.worker_threads)
        .thread_name("sightline-shim")
        .enable_all()
        .build()?
        .block_on(async { sightline_shim::run(config, Shutdown::on_signals()).await })?;
    Ok(())
}
