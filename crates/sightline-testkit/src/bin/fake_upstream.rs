//! `sightline-fake-upstream [ADDR] [DELAY_MS]`: the test fake upstream as a process, for the
//! demo and for measuring the shim by hand; it answers every call after `DELAY_MS` (default 0).

use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18080".into());
    let delay_ms: u64 = match args.next() {
        Some(ms) => ms
            .parse()
            .map_err(|_| anyhow::anyhow!("DELAY_MS must be whole milliseconds, got '{ms}'"))?,
        None => 0,
    };
    let fake = sightline_testkit::fake_upstream::FakeUpstream::start_on(addr.parse()?).await?;
    fake.set_delay(Duration::from_millis(delay_ms));
    println!(
        "fake upstream listening on {} (delay {delay_ms} ms)",
        fake.url
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
