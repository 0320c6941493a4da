//! `sightline-webhook-recorder [ADDR]`: the tests' recording server as a process, standing in for
//! Slack, PagerDuty or a webhook receiver in the demo. Each request it receives is printed as
//! one JSON line: `{"path": ..., "body": ...}`.

use std::time::Duration;

use sightline_testkit::recorder::Recorder;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".into());
    let recorder = Recorder::start_on(addr.parse()?).await?;
    eprintln!("recording on {}", recorder.url);
    let mut printed = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let requests = recorder.requests();
        for r in &requests[printed..] {
            println!("{}", serde_json::json!({"path": r.path, "body": r.json()}));
        }
        printed = requests.len();
    }
}
