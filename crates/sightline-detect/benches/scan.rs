//! Scan throughput and latency of the built-in rules on two corpora, each with about one
//! secret per 16 KB: `mixed` (prompts, code, logs and base64 blobs) and `prompt` (prose with
//! some code, what people paste into an assistant).
//!
//! Prints MB/s per core (one thread) for 1 KB, 16 KB and 1 MB inputs, and p50/p99 latency for
//! 8 KB prompts. Targets on a 2-core machine: >= 300 MB/s, p99 <= 200 us.
//! Run: `cargo bench -p sightline-detect --bench scan`; `SCAN_CASES=prompt` picks cases by name.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use sightline_detect::corpus::{expand, Rng};
use sightline_detect::{Allowlist, Engine, FingerprintKey};

const PROMPTS: &[&str] = &[
    "Can you review this pull request and point out anything that could break in production? ",
    "Summarise the following incident report for the weekly ops review, in five bullets. ",
    "I'm getting a borrow checker error when I try to hold a reference across an await point. ",
    "Write a SQL query that returns the top ten customers by revenue for the last quarter. ",
    "Explain the trade-offs between optimistic and pessimistic locking for our order service. ",
];

const CODE: &[&str] = &[
    "fn handle(req: Request) -> Result<Response, Error> {\n    let user = auth::verify(&req.headers)?;\n    let body: Order = serde_json::from_slice(&req.body)?;\n    db.insert(&user.id, &body).await?;\n    Ok(Response::created())\n}\n",
    "def load_config(path):\n    with open(path) as f:\n        cfg = yaml.safe_load(f)\n    cfg['retries'] = int(os.environ.get('RETRIES', 3))\n    return cfg\n",
    "const client = new Client({ region: 'eu-west-1', timeout: 3000 });\nexport async function list(prefix) { return client.send(new ListCommand({ prefix })); }\n",
];

const LOGS: &[&str] = &[
    "2026-11-22T10:15:02.123Z INFO  http{method=GET path=/api/v1/orders status=200 latency_ms=12}\n",
    "2026-11-22T10:15:02.456Z WARN  retrying upstream call attempt=2 backoff_ms=250 host=orders-7f9c\n",
    "2026-11-22T10:15:03.001Z ERROR worker-3 job=8841 failed: connection reset by peer (os error 104)\n",
];

/// `mixed`: prompts, code, logs and base64 blobs. `prompt`: what people type, prose with some code.
fn corpus(bytes: usize, seed: u64, prompt_like: bool) -> String {
    let mut rng = Rng::new(seed);
    let b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes + 512);
    let mut next_secret = 16 * 1024;
    while out.len() < bytes {
        let roll = if prompt_like {
            [0, 0, 0, 0, 0, 0, 0, 0, 4, 7][rng.below(10)]
        } else {
            rng.below(10)
        };
        match roll {
            0..=3 => out.push_str(pick(&mut rng, PROMPTS)),
            4..=6 => out.push_str(pick(&mut rng, CODE)),
            7..=8 => out.push_str(pick(&mut rng, LOGS)),
            _ => {
                let n = 64 + rng.below(400);
                out.push_str("data=");
                out.push_str(&rng.string(b64, n));
                out.push('\n');
            }
        }
        if out.len() >= next_secret {
            out.push_str(&expand(" export AWS_KEY=AKIA{A-Z2-7:16}\n", &mut rng));
            next_secret += 16 * 1024;
        }
    }
    out.truncate(out.char_indices().take_while(|(i, _)| *i < bytes).count());
    out
}

fn pick(rng: &mut Rng, items: &[&'static str]) -> &'static str {
    items[rng.below(items.len())]
}

fn main() {
    let engine = Engine::builtin().expect("engine");
    let key = FingerprintKey::new(*b"bench");
    let allow = Allowlist::default();
    println!("rules: {}", engine.rules().count());

    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut group = criterion.benchmark_group("scan");
    let cases = [
        ("mixed/1KB", 1024, false),
        ("mixed/16KB", 16 * 1024, false),
        ("mixed/1MB", 1024 * 1024, false),
        ("prompt/1KB", 1024, true),
        ("prompt/16KB", 16 * 1024, true),
        ("prompt/1MB", 1024 * 1024, true),
    ];
    // `SCAN_CASES=prompt cargo bench …` runs only the cases whose names contain `prompt`.
    let filter = std::env::var("SCAN_CASES").ok();
    let texts: Vec<(&str, String)> = cases
        .into_iter()
        .filter(|(name, ..)| filter.as_ref().is_none_or(|f| name.contains(f.as_str())))
        .map(|(name, size, prompt_like)| (name, corpus(size, 42, prompt_like)))
        .collect();
    for (name, text) in &texts {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| black_box(engine.scan(black_box(text), &key, &allow)))
        });
    }
    group.finish();

    // Our own figure, independent of criterion's reporting: for each case, the best of ten
    // runs of ~13 MB. Other tenants of a shared VM only ever slow a run down, and their bursts
    // last seconds, so the rounds take turns across the cases rather than running back to back.
    let mut best = vec![f64::INFINITY; texts.len()];
    for _round in 0..10 {
        for ((_, text), best) in texts.iter().zip(&mut best) {
            let iters = (13 * 1024 * 1024 / text.len()).clamp(10, 20_000);
            let start = Instant::now();
            for _ in 0..iters {
                black_box(engine.scan(black_box(text), &key, &allow));
            }
            *best = best.min(start.elapsed().as_secs_f64() / iters as f64);
        }
    }
    let figures: Vec<(&str, f64)> = texts
        .iter()
        .zip(best)
        .map(|((name, text), secs)| (*name, text.len() as f64 / secs / 1e6))
        .collect();

    let prompts: Vec<String> = (0..256).map(|i| corpus(8 * 1024, 1000 + i, true)).collect();
    let mut samples: Vec<Duration> = Vec::with_capacity(20_000);
    for i in 0..20_000 {
        let t = Instant::now();
        black_box(engine.scan(black_box(&prompts[i % prompts.len()]), &key, &allow));
        samples.push(t.elapsed());
    }
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];

    println!("\n== sightline-detect scan, one thread ==");
    for (name, mbps) in &figures {
        println!(
            "throughput {name:>12}: {mbps:8.1} MB/s per core   (target >= 300 on prompt-like text)"
        );
    }
    println!(
        "latency 8KB prompt: p50 {:?}  p99 {:?}  max {:?}   (target p99 <= 200us)",
        pct(0.50),
        pct(0.99),
        samples[samples.len() - 1]
    );
}
