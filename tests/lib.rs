//! End-to-end tests live in `tests/`; run them with `cargo xtask test`. This library holds what
//! the tests and the benches share.

use sightline_shim::config::{ShimConfig, ShimSection, UpstreamConfig};
use sightline_testkit::{unique, TestEnv};

/// A shim in front of `upstream`. It trusts identity headers from 127.0.0.1 only, as from an
/// auth proxy on the same host; callers on any other address cannot choose who they are.
pub fn shim_config(env: &TestEnv, upstream: &str) -> ShimConfig {
    use sightline_shim::identity::{HeaderSource, IdentityConfig, Source};
    ShimConfig {
        identity: IdentityConfig {
            order: vec![Source::ApiKey, Source::Jwt, Source::Header],
            headers: HeaderSource {
                trusted_proxies: vec!["127.0.0.1/32".into()],
                ..HeaderSource::default()
            },
            ..IdentityConfig::default()
        },
        shim: ShimSection {
            default_tenant: "acme".into(),
            spool_dir: std::env::temp_dir().join(unique("spool")),
            ..ShimSection::default()
        },
        upstream: UpstreamConfig {
            anthropic: upstream.into(),
            openai: upstream.into(),
            ..UpstreamConfig::default()
        },
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        ..ShimConfig::default()
    }
}

/// Prints `samples`' p50, p99 and max under `label` and returns the p99 (for the benches);
/// says so when there are none and returns `Duration::MAX`.
pub fn report_latencies(label: &str, mut samples: Vec<std::time::Duration>) -> std::time::Duration {
    use std::time::Duration;
    if samples.is_empty() {
        println!("  {label:<44} no samples");
        return Duration::MAX;
    }
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  {label:<44} n={:<5} p50 {:>7.1} ms   p99 {:>7.1} ms   max {:>7.1} ms",
        samples.len(),
        ms(at(0.5)),
        ms(at(0.99)),
        ms(samples[samples.len() - 1]),
    );
    at(0.99)
}
