//! The dashboard over 10 million calls: server time per page and per API call (p50, p95),
//! beside a reference measured the same way in the same run (a one-row ClickHouse query over
//! HTTP, which every page pays at least once); the time to the first byte of an export; and
//! an export of 1 million calls with the process's peak memory before and after.
//!
//! Needs ClickHouse (`cargo xtask services up`); run with
//! `cargo bench -p sightline-e2e --bench dashboard`. `SIGHTLINE_BENCH_CALLS` sets the calls
//! loaded (default 10,000,000, spread over 90 days, 3 tenants, 1,000 users, 20 teams, with an
//! incident for every 1,500th call);
//! `SIGHTLINE_BENCH_ROUNDS` the requests per page (default 30). Target: p95 at most 200 ms
//! per page.

use std::time::{Duration, Instant};

use sightline_dashboard::DashboardConfig;
use sightline_identity::{key_hash, KeyOwner, Source, Unknown};
use sightline_runtime::Shutdown;
use sightline_testkit::TestEnv;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident memory of this process so far (VmHWM), in MiB.
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn load(env: &TestEnv, calls: u64, now_ms: i64) {
    let client = env.clickhouse.client();
    let chunk = 1_000_000u64;
    let started = Instant::now();
    let mut start = 0;
    while start < calls {
        let n = chunk.min(calls - start);
        let calls_sql = format!(
            "INSERT INTO llm_calls (call_id, event_id, logical_id, resample_role, tenant_id, user_id, team_id, \
             conversation_id, workspace_id, capability, provider, model, status, started_ms, ts_ms, input_tokens, \
             output_tokens, cost_usd_micros, latency_ms, _topic, _partition, _offset) \
             SELECT concat('c', toString(n)), concat('e', toString(n)), concat('c', toString(n)), 'PRIMARY', \
             concat('t', toString(n % 3)), concat('u', toString(n % 1000)), concat('team', toString(n % 20)), \
             concat('conv', toString(n % 200000)), concat('ws', toString(n % 50)), \
             arrayElement(['claude-code', 'sdk', 'cli', 'agent'], n % 4 + 1), if(n % 3 = 0, 'openai', 'anthropic'), \
             'claude-sonnet-4', multiIf(n % 97 = 0, 'BLOCKED', n % 53 = 0, 'ERROR', 'OK'), ts - 500, ts, 100, 20, 1500, \
             200 + n % 300, 'bench', 0, toInt64(n) \
             FROM (SELECT number + {start} AS n, toUInt64({now_ms} - (n % 90) * 86400000 - (n % 86000) * 1000 - 60000) AS ts \
             FROM numbers({n}))"
        );
        client
            .query(&calls_sql)
            .execute()
            .await
            .expect("load calls");
        let verdicts_sql = format!(
            "INSERT INTO verdicts (verdict_id, event_id, call_id, logical_id, kind, resample_role, decision, tenant_id, \
             user_id, team_id, conversation_id, ts_ms, tier, rules, _topic, _partition, _offset) \
             SELECT concat('v', toString(n)), concat('e', toString(n)), concat('c', toString(n)), concat('c', toString(n)), \
             'REQUEST', 'PRIMARY', if(n % 97 = 0, 'BLOCK', 'ALLOW'), concat('t', toString(n % 3)), \
             concat('u', toString(n % 1000)), concat('team', toString(n % 20)), concat('conv', toString(n % 200000)), \
             ts, multiIf(n % 97 = 0, 'CRITICAL', n % 7 = 0, 'WARNING', 'INFO'), \
             if(n % 97 = 0, ['aws_access_key_id'], if(n % 7 = 0, ['email'], emptyArrayString())), 'bench', 0, toInt64(n) \
             FROM (SELECT number + {start} AS n, toUInt64({now_ms} - (n % 90) * 86400000 - (n % 86000) * 1000 - 60000) AS ts \
             FROM numbers({n})) WHERE n % 10 = 0 OR n % 97 = 0 OR n % 7 = 0"
        );
        client
            .query(&verdicts_sql)
            .execute()
            .await
            .expect("load verdicts");
        // One incident per 1,500 calls of tenant t0, of the call's user, linking the call.
        let incidents_sql = format!(
            "INSERT INTO incident_events (event_id, incident_id, seq, event_type, tenant_id, user_id, rule, \
             dedupe_key, severity, category, status, title, first_seen_ms, last_seen_ms, occurrences, actor, ts_ms, \
             link_call_ids, link_event_ids, link_reasons, link_at_ms, partition_key, _topic, _partition, _offset) \
             SELECT concat('ie', toString(n)), concat('inc', toString(n)), 1, 'OPENED', 't0', concat('u', toString(n % 1000)), \
             'critical_verdict', concat('k', toString(n)), 'CRITICAL', 'SAFETY', if(n % 3000 = 0, 'OPEN', 'RESOLVED'), \
             'Credentials detected in AI prompt', toInt64(ts), toInt64(ts), 1, 'sightline', ts, [concat('c', toString(n))], \
             [concat('e', toString(n))], ['TRIGGER'], [toInt64(ts)], concat('t0/u', toString(n % 1000)), 'bench', 0, toInt64(n) \
             FROM (SELECT number + {start} AS n, toUInt64({now_ms} - (n % 90) * 86400000 - (n % 86000) * 1000 - 60000) AS ts \
             FROM numbers({n})) WHERE n % 1500 = 0"
        );
        client
            .query(&incidents_sql)
            .execute()
            .await
            .expect("load incidents");
        start += n;
        println!(
            "  loaded {start:>10} calls ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
    }
}

fn config(env: &TestEnv) -> DashboardConfig {
    let mut config = DashboardConfig {
        clickhouse: env.clickhouse.clone(),
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        ..DashboardConfig::default()
    };
    config.identity.order = vec![Source::ApiKey];
    config.identity.unknown = Unknown::Reject;
    for (key, user, tenant, team, role) in [
        ("bench-admin", "ada", Some("t0"), None, "admin"),
        ("bench-lead", "lee", Some("t0"), Some("team3"), "lead"),
        ("bench-user", "u3", Some("t0"), Some("team3"), "user"),
        ("bench-root", "root", None, None, "super_admin"),
    ] {
        config.identity.api_keys.insert(
            key_hash(key),
            KeyOwner {
                user: user.into(),
                tenant: tenant.map(Into::into),
                team: team.map(Into::into),
                role: Some(role.into()),
                ..KeyOwner::default()
            },
        );
    }
    config.dashboard.requests_per_second = 100_000;
    config.dashboard.burst = 100_000;
    config
}

fn pctl(mut samples: Vec<Duration>, p: f64) -> f64 {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let calls = env_or("SIGHTLINE_BENCH_CALLS", 10_000_000);
    let rounds = env_or("SIGHTLINE_BENCH_ROUNDS", 30) as usize;
    let env = TestEnv::new(1)
        .await
        .expect("env (is ClickHouse up? `cargo xtask services up`)");
    let now_ms = sightline_dashboard::now_ms();
    println!(
        "dashboard bench: loading {calls} calls into {}",
        env.clickhouse.database
    );
    load(&env, calls, now_ms).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = Shutdown::new();
    let server = tokio::spawn(sightline_dashboard::serve(
        config(&env),
        listener,
        shutdown.clone(),
    ));
    let http = reqwest::Client::new();
    let ch = env.clickhouse.client();

    let time = |path: String, key: &'static str| {
        let (http, url) = (http.clone(), format!("{base}{path}"));
        async move {
            let t = Instant::now();
            let resp = http
                .get(&url)
                .bearer_auth(key)
                .send()
                .await
                .expect("request");
            let status = resp.status();
            let body = resp.bytes().await.expect("body");
            assert!(
                status.is_success(),
                "{url}: {status} {}",
                String::from_utf8_lossy(&body)
            );
            t.elapsed()
        }
    };
    let mut reference = vec![];
    for _ in 0..rounds {
        let t = Instant::now();
        let _: u64 = ch
            .query("SELECT toUInt64(1)")
            .fetch_one()
            .await
            .expect("ref");
        reference.push(t.elapsed());
    }
    println!(
        "\n  {:<52} {:>9} {:>9}",
        "request (default range: 7 days)", "p50 ms", "p95 ms"
    );
    println!(
        "  {:<52} {:>9.1} {:>9.1}",
        "reference: one-row ClickHouse query",
        pctl(reference.clone(), 0.5),
        pctl(reference, 0.95)
    );
    let pages: &[(&str, &'static str)] = &[
        ("/dashboard", "bench-admin"),
        ("/dashboard", "bench-root"),
        ("/dashboard/users/u3", "bench-user"),
        ("/dashboard/conversations/conv3", "bench-admin"),
        ("/dashboard/teams/team3", "bench-lead"),
        ("/dashboard/incidents", "bench-admin"),
        ("/dashboard/incidents", "bench-lead"),
        ("/dashboard/capabilities", "bench-admin"),
        ("/dashboard/rules", "bench-admin"),
        ("/dashboard/audit", "bench-admin"),
        ("/api/v1/overview", "bench-admin"),
        ("/api/v1/users/u3", "bench-user"),
        ("/api/v1/conversations/conv3", "bench-admin"),
        ("/api/v1/teams/team3", "bench-lead"),
        ("/api/v1/incidents", "bench-admin"),
        ("/api/v1/incidents", "bench-lead"),
        ("/api/v1/capabilities", "bench-admin"),
        ("/api/v1/rules", "bench-admin"),
    ];
    let mut worst = 0.0_f64;
    for (path, key) in pages {
        let mut samples = vec![];
        for _ in 0..rounds {
            samples.push(time(path.to_string(), key).await);
        }
        let p95 = pctl(samples.clone(), 0.95);
        if path.starts_with("/dashboard") {
            worst = worst.max(p95);
        }
        println!(
            "  {:<52} {:>9.1} {:>9.1}",
            format!("{path} ({})", key.trim_start_matches("bench-")),
            pctl(samples, 0.5),
            p95
        );
    }
    println!("  worst page p95: {worst:.1} ms (target at most 200 ms)");

    // Exports: time to first byte (7 days of one tenant), and over 1 million calls (10 days of all
    // tenants) with the peak memory of this process, which runs both server and client.
    for (label, key, range) in [
        (
            "export, 7 days of tenant t0 (admin)",
            "bench-admin",
            String::new(),
        ),
        (
            "export, 10 days of every tenant (super admin)",
            "bench-root",
            {
                let day = |d: i64| {
                    sightline_dashboard::range::format_day(now_ms.div_euclid(86_400_000) - d)
                };
                format!("&from={}&to={}", day(9), day(0))
            },
        ),
    ] {
        let before = peak_mib();
        let t = Instant::now();
        let mut resp = http
            .get(format!("{base}/api/v1/export?format=csv{range}"))
            .bearer_auth(key)
            .send()
            .await
            .expect("export");
        let rows: u64 = resp.headers()["x-sightline-rows"]
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut first = None;
        let mut bytes = 0usize;
        while let Some(chunk) = resp.chunk().await.expect("chunk") {
            first.get_or_insert_with(|| t.elapsed());
            bytes += chunk.len();
        }
        let total = t.elapsed();
        println!(
            "  {label}: {rows} calls, {:.0} MiB, first byte {:.0} ms, all {:.1} s ({:.0} calls/s); peak RSS {:.0} → {:.0} MiB",
            bytes as f64 / 1048576.0,
            first.unwrap_or_default().as_secs_f64() * 1000.0,
            total.as_secs_f64(),
            rows as f64 / total.as_secs_f64(),
            before,
            peak_mib()
        );
    }
    shutdown.trigger();
    let _ = server.await;
    // Ten million calls take gigabytes: leave nothing behind.
    let drop_db = format!("DROP DATABASE {}", env.clickhouse.database);
    if let Err(e) = env
        .clickhouse
        .server_client()
        .query(&drop_db)
        .execute()
        .await
    {
        eprintln!("could not drop {}: {e}", env.clickhouse.database);
    }
}
