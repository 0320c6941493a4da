//! `sightline-fake-upstream [ADDR]`: the test fake upstream as a process, for the demo.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18080".into());
    let fake = sightline_testkit::fake_upstream::FakeUpstream::start_on(addr.parse()?).await?;
    println!("fake upstream listening on {}", fake.url);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
