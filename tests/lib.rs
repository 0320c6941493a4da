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
