//! Overhead of the shim: the same load sent to a fake upstream directly and through the shim,
//! side by side in one run.
//!
//! Needs the local broker (`cargo xtask services up`); run with
//! `cargo bench -p sightline-shim --bench overhead`. The shim runs as its own process (the
//! release binary) so its RSS and CPU time can be read; the fake upstream answers after a
//! fixed delay. Prints the added latency p50/p99 at concurrency 1, the p99 ratio at 500
//! requests/s, the shim's CPU time at that rate, its RSS, and how much of the machine's CPU
//! time the hypervisor gave other guests meanwhile (a noisy neighbour widens every p99).
//!
//! For reference it also sends the concurrency-1 load through two relay processes (this
//! bench's own binary in another mode): a bare TCP relay (`--relay`), what any extra hop
//! costs here, and a minimal HTTP proxy (`--http-relay`, hyper's server and client with no
//! other work), what terminating HTTP on both sides costs. Targets on a 2-core machine: p50
//! added <= 0.2 ms, p99 added <= 1 ms, p99 ratio <= 1.05 at 500 req/s, RSS <= 64 MB.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sightline_testkit::fake_upstream::FakeUpstream;

const DELAY: Duration = Duration::from_millis(5);
const SEQUENTIAL: usize = 1500;
const RATE: u64 = 500;
const RATE_SECS: u64 = 8;

/// A child process, stopped (SIGTERM, then wait) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time `pid` has used so far, over all its threads, in nanoseconds (from the scheduler's
/// per-thread accounting, which is exact, unlike the tick-based counts in `/proc/PID/stat`).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    threads
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The machine's CPU time so far from `/proc/stat`: (stolen by the hypervisor for other
/// guests, all), in ticks.
fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    let all = fields.iter().take(8).sum();
    (fields.get(7).copied().unwrap_or(0), all)
}

/// The share of CPU time stolen since `since` (a [`cpu_ticks`] reading), in percent.
fn steal_since(since: (u64, u64)) -> f64 {
    let now = cpu_ticks();
    let all = now.1.saturating_sub(since.1).max(1);
    now.0.saturating_sub(since.0) as f64 * 100.0 / all as f64
}

async fn once(client: &reqwest::Client, url: &str, body: &'static str) -> Duration {
    let t = Instant::now();
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-api-key", "sk-bench")
        .body(body)
        .send()
        .await
        .expect("request");
    assert!(resp.status().is_success(), "status {}", resp.status());
    let _ = resp.bytes().await.expect("body");
    t.elapsed()
}

/// `SEQUENTIAL` calls on each of `urls`, taking turns; a sorted list per URL.
async fn sequential<const N: usize>(
    client: &reqwest::Client,
    urls: [&str; N],
    body: &'static str,
) -> [Vec<Duration>; N] {
    let mut out: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::with_capacity(SEQUENTIAL));
    for _ in 0..SEQUENTIAL {
        for (url, times) in urls.iter().zip(&mut out) {
            times.push(once(client, url, body).await);
        }
    }
    for times in &mut out {
        times.sort_unstable();
    }
    out
}

/// `--relay LISTEN TARGET`: copies bytes between each accepted connection and a new one to
/// `TARGET`, and nothing else.
async fn relay(listen: &str, target: &str) {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .expect("relay bind");
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        let target = target.to_string();
        tokio::spawn(async move {
            let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                return;
            };
            let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        });
    }
}

/// `--http-relay LISTEN TARGET`: a minimal HTTP proxy (hyper's server and pooled client, and
/// nothing else): what terminating HTTP on both sides costs here, before any work.
async fn http_relay(listen: &str, target: &str) {
    use hyper::body::Incoming;
    use hyper_util::client::legacy::{connect::HttpConnector, Client};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .expect("http relay bind");
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Incoming> =
        Client::builder(TokioExecutor::new()).build(connector);
    let target = std::sync::Arc::new(format!("http://{target}"));
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            continue;
        };
        let _ = inbound.set_nodelay(true);
        let (client, target) = (client.clone(), target.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                let (client, target) = (client.clone(), target.clone());
                async move {
                    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
                    *req.uri_mut() = format!("{target}{path}").parse().expect("uri");
                    client.request(req).await
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(inbound), service)
                .await;
        });
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One second of calls at `RATE` a second, each started on schedule whether or not earlier
/// ones have finished (open loop).
async fn open_loop(client: &reqwest::Client, url: &str, body: &'static str) -> Vec<Duration> {
    let mut handles = vec![];
    let start = tokio::time::Instant::now();
    let period = Duration::from_micros(1_000_000 / RATE);
    for i in 0..RATE {
        tokio::time::sleep_until(start + period * i as u32).await;
        let (client, url) = (client.clone(), url.to_string());
        handles.push(tokio::spawn(async move { once(&client, &url, body).await }));
    }
    let mut out = vec![];
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--relay") {
        return relay(&args[i + 1], &args[i + 2]).await;
    }
    if let Some(i) = args.iter().position(|a| a == "--http-relay") {
        return http_relay(&args[i + 1], &args[i + 2]).await;
    }
    let body: &'static str = r#"{"model":"claude-sonnet-4","max_tokens":64,"messages":[{"role":"user","content":"Summarise the incident report for the weekly ops review in five bullets, and list owners."}]}"#;
    let upstream = FakeUpstream::start().await.expect("fake upstream");
    upstream.set_delay(DELAY);
    let port = free_port();
    let brokers =
        std::env::var("SIGHTLINE_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let spool = std::env::temp_dir().join(format!("sightline-bench-spool-{port}"));
    // The bench's topics exist, so that events are delivered as in production: without them
    // every event waits in librdkafka and then in the spool, and the bench measures that path.
    let kafka = sightline_kafka::KafkaConfig {
        brokers: brokers.clone(),
        ..sightline_kafka::KafkaConfig::default()
    };
    let topics = sightline_kafka::TopicsConfig {
        prefix: "bench".into(),
        ..sightline_kafka::TopicsConfig::default()
    };
    sightline_kafka::topics::apply(&kafka, &topics)
        .await
        .expect("the bench's topics (is the broker up? cargo xtask services up)");
    let shim = Process(
        Command::new(env!("CARGO_BIN_EXE_sightline-shim"))
            .env("SIGHTLINE__SHIM__LISTEN", format!("127.0.0.1:{port}"))
            .env("SIGHTLINE__SHIM__SPOOL_DIR", &spool)
            .env("SIGHTLINE__UPSTREAM__ANTHROPIC", &upstream.url)
            .env("SIGHTLINE__KAFKA__BROKERS", &brokers)
            .env("SIGHTLINE__TOPICS__PREFIX", "bench")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the shim binary"),
    );
    // Reference relays: this bench's own binary in another mode, in front of the same upstream.
    let reference = |mode: &str| {
        let port = free_port();
        let process = Process(
            Command::new(std::env::current_exe().expect("this bench's binary"))
                .args([
                    mode,
                    &format!("127.0.0.1:{port}"),
                    upstream.url.trim_start_matches("http://"),
                ])
                .spawn()
                .expect("start a reference relay"),
        );
        (process, format!("http://127.0.0.1:{port}/v1/messages"))
    };
    let (_relay, relay_url) = reference("--relay");
    let (_http_relay, http_relay_url) = reference("--http-relay");
    let shim_url = format!("http://127.0.0.1:{port}/v1/messages");
    let direct_url = format!("{}/v1/messages", upstream.url);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(20);
    while client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "shim did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Warm every path (connections, allocator, caches).
    for _ in 0..200 {
        for url in [&direct_url, &relay_url, &http_relay_url, &shim_url] {
            once(&client, url, body).await;
        }
    }

    // Concurrency 1, interleaved so drift hits every path alike.
    let ticks = cpu_ticks();
    let [direct, relayed, http_relayed, shimmed] = sequential(
        &client,
        [&direct_url, &relay_url, &http_relay_url, &shim_url],
        body,
    )
    .await;
    let sequential_steal = steal_since(ticks);
    let added = |p: f64| ms(percentile(&shimmed, p)) - ms(percentile(&direct, p));
    let relay_added = |p: f64| ms(percentile(&relayed, p)) - ms(percentile(&direct, p));
    let http_relay_added = |p: f64| ms(percentile(&http_relayed, p)) - ms(percentile(&direct, p));
    // The same with an upstream that answers at once: no process sits idle between calls, so
    // the shim runs with warm caches; with the delay, every call starts cold.
    upstream.set_delay(Duration::ZERO);
    let [direct0, shimmed0] = sequential(&client, [&direct_url, &shim_url], body).await;
    let added0 = |p: f64| ms(percentile(&shimmed0, p)) - ms(percentile(&direct0, p));
    upstream.set_delay(DELAY);

    // 500 requests/s, open loop, each path in turn.
    // RATE calls a second for RATE_SECS seconds on each path, a second at a time in turn, so
    // that the bursts of a shared machine's other tenants fall on both paths alike.
    // The shim's CPU time is counted over its own seconds only.
    let (mut direct_rate, mut shim_rate, mut shim_cpu_ns) = (vec![], vec![], 0);
    let ticks = cpu_ticks();
    for _ in 0..RATE_SECS {
        direct_rate.extend(open_loop(&client, &direct_url, body).await);
        let cpu_before = cpu_ns(shim.0.id());
        shim_rate.extend(open_loop(&client, &shim_url, body).await);
        shim_cpu_ns += cpu_ns(shim.0.id()).saturating_sub(cpu_before);
    }
    let rate_steal = steal_since(ticks);
    direct_rate.sort_unstable();
    shim_rate.sort_unstable();
    let rss = rss_kb(shim.0.id());

    println!("\n== sightline-shim overhead (fake upstream answers after {DELAY:?}) ==");
    println!(
        "concurrency 1 ({SEQUENTIAL} requests each): direct p50 {:.3} ms p99 {:.3} ms | via shim p50 {:.3} ms p99 {:.3} ms",
        ms(percentile(&direct, 0.5)),
        ms(percentile(&direct, 0.99)),
        ms(percentile(&shimmed, 0.5)),
        ms(percentile(&shimmed, 0.99)),
    );
    println!(
        "added latency: p50 {:.3} ms (target <= 0.2), p99 {:.3} ms (target <= 1)",
        added(0.5),
        added(0.99)
    );
    println!(
        "  a bare TCP relay process in the same place adds p50 {:.3} ms, p99 {:.3} ms",
        relay_added(0.5),
        relay_added(0.99)
    );
    println!(
        "  a minimal HTTP proxy (hyper server and client, no other work) adds p50 {:.3} ms, p99 {:.3} ms",
        http_relay_added(0.5),
        http_relay_added(0.99)
    );
    println!(
        "  so the shim's own work adds p50 {:.3} ms over the minimal proxy",
        ms(percentile(&shimmed, 0.5)) - ms(percentile(&http_relayed, 0.5))
    );
    println!(
        "  with an upstream that answers at once: direct p50 {:.3} ms | via shim p50 {:.3} ms | added p50 {:.3} ms, p99 {:.3} ms",
        ms(percentile(&direct0, 0.5)),
        ms(percentile(&shimmed0, 0.5)),
        added0(0.5),
        added0(0.99)
    );
    let (dp99, sp99) = (percentile(&direct_rate, 0.99), percentile(&shim_rate, 0.99));
    println!(
        "{RATE} req/s for {RATE_SECS} s: direct p99 {:.3} ms | via shim p99 {:.3} ms | ratio {:.3} (target <= 1.05)",
        ms(dp99),
        ms(sp99),
        sp99.as_secs_f64() / dp99.as_secs_f64()
    );
    println!(
        "  the shim's CPU time at {RATE} req/s: {:.0} us a call, {:.1}% of a core (all its threads: serving, recording, Kafka client)",
        shim_cpu_ns as f64 / shim_rate.len() as f64 / 1e3,
        shim_cpu_ns as f64 / (RATE_SECS as f64 * 1e9) * 100.0
    );
    println!(
        "machine: {sequential_steal:.1}% of CPU time stolen by the hypervisor during the concurrency-1 phase, {rate_steal:.1}% during the {RATE} req/s phase"
    );
    println!(
        "shim RSS after the run: {:.1} MB (target <= 64)",
        rss as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&spool);
}
