//! `cargo xtask demo`: one call end to end on this machine.

use std::fs;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::services;
use crate::util::{self, env_port, port_open, step};

const DATABASE: &str = "sightline_demo";
const SHIM_PORT: u16 = 8787;
const UPSTREAM_PORT: u16 = 18080;
const RECORDER_PORT: u16 = 18081;

/// Children of the demo, stopped (SIGTERM, then wait) when dropped.
struct Procs(Vec<(String, Child)>);

impl Drop for Procs {
    fn drop(&mut self) {
        for (name, child) in self.0.iter_mut().rev() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(25);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if !matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
                let _ = child.wait();
            }
            eprintln!("stopped {name}");
        }
    }
}

pub fn run() -> Result<(), String> {
    step("services");
    services::up()?;
    let ch_port = env_port("SIGHTLINE_CLICKHOUSE_HTTP_PORT", 8123)?;
    let kafka_port = env_port("SIGHTLINE_KAFKA_PORT", 9092)?;
    for (port, what) in [
        (SHIM_PORT, "the shim"),
        (UPSTREAM_PORT, "the fake upstream"),
        (
            RECORDER_PORT,
            "the recording server standing in for Slack and PagerDuty",
        ),
    ] {
        if port_open(port) {
            return Err(format!(
                "port {port} (for {what}) is already in use; stop whatever holds it"
            ));
        }
    }

    step("build");
    let root = util::workspace_root();
    util::run(util::cargo().current_dir(&root).args([
        "build",
        "--quiet",
        "-p",
        "sightline-cli",
        "-p",
        "sightline-shim",
        "-p",
        "sightline-sink",
        "-p",
        "sightline-dedupe",
        "-p",
        "sightline-classify",
        "-p",
        "sightline-incidents",
        "-p",
        "sightline-alert",
        "-p",
        "sightline-testkit",
        "--bins",
    ]))?;
    let bin = util::target_dir().join("debug");
    let logs = util::target_dir().join("demo");
    fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
    let env = [
        (
            "SIGHTLINE__KAFKA__BROKERS",
            format!("127.0.0.1:{kafka_port}"),
        ),
        (
            "SIGHTLINE__CLICKHOUSE__URL",
            format!("http://127.0.0.1:{ch_port}"),
        ),
        ("SIGHTLINE__CLICKHOUSE__DATABASE", DATABASE.to_string()),
    ];
    // The documented policy: a pasted key is blocked and alerts Slack and the SIEM webhook;
    // its incident pages.
    let policy = root.join("docs/config/policy.toml");
    // What the shim and the processors need: the broker, the one fingerprint key every
    // component hashes and fingerprints with, and the policy.
    let stream_env = [
        env[0].clone(),
        (
            "SIGHTLINE_FINGERPRINT_KEY",
            "demo-fingerprint-key-change-me".to_string(),
        ),
        ("SIGHTLINE__POLICY__FILE", policy.display().to_string()),
    ];

    step("sightline migrate && sightline topics apply");
    for args in [&["migrate"][..], &["topics", "apply"]] {
        util::run(
            Command::new(bin.join("sightline"))
                .args(args)
                .envs(env.iter().cloned()),
        )?;
    }

    let sightline = |args: &[&str]| -> Result<String, String> {
        let out = Command::new(bin.join("sightline"))
            .args(args)
            .envs(env.iter().cloned())
            .output()
            .map_err(|e| format!("cannot run sightline {}: {e}", args.join(" ")))?;
        if !out.status.success() {
            return Err(format!(
                "sightline {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    };

    step("start fake upstream, a recorder for Slack and PagerDuty, shim, sink, dedupe, classify, incidents and alert (each its own process)");
    let mut procs = Procs(vec![]);
    procs.0.push(spawn(
        "fake upstream",
        Command::new(bin.join("sightline-fake-upstream")).arg(format!("127.0.0.1:{UPSTREAM_PORT}")),
        &logs,
    )?);
    procs.0.push(spawn(
        "recorder",
        Command::new(bin.join("sightline-webhook-recorder"))
            .arg(format!("127.0.0.1:{RECORDER_PORT}")),
        &logs,
    )?);
    let upstream = format!("http://127.0.0.1:{UPSTREAM_PORT}");
    // Callers are known by their API keys, as in a real deployment: the config holds the
    // sha256 of each key, never the key.
    let shim_config = logs.join("shim.toml");
    let mut identity = String::from("[identity]\nunknown = \"reject\"\n");
    let mut users: Vec<(&str, &str)> = CALLS.iter().map(|(u, t, _, _)| (*u, *t)).collect();
    users.push(("dana", "security"));
    users.sort_unstable();
    users.dedup();
    for (user, team) in users {
        identity.push_str(&format!(
            "[identity.api_keys.{}]\nuser = \"{user}\"\nteam = \"{team}\"\n",
            util::sha256_hex(&demo_key(user))?
        ));
    }
    fs::write(&shim_config, identity).map_err(|e| e.to_string())?;
    procs.0.push(spawn(
        "sightline-shim",
        Command::new(bin.join("sightline-shim"))
            .arg("--config")
            .arg(&shim_config)
            .envs(stream_env.iter().cloned())
            .env("SIGHTLINE__SHIM__LISTEN", format!("127.0.0.1:{SHIM_PORT}"))
            .env("SIGHTLINE__SHIM__DEFAULT_TENANT", "acme")
            .env("SIGHTLINE__UPSTREAM__ANTHROPIC", &upstream)
            .env("SIGHTLINE__UPSTREAM__OPENAI", &upstream),
        &logs,
    )?);
    procs.0.push(spawn(
        "sightline-sink",
        Command::new(bin.join("sightline-sink"))
            .envs(env.iter().cloned())
            .env("SIGHTLINE__STAGE__GROUP_ID", "sightline-demo")
            .env("SIGHTLINE__BATCH__MAX_AGE", "300ms"),
        &logs,
    )?);
    for processor in ["dedupe", "classify", "incidents"] {
        procs.0.push(spawn(
            &format!("sightline-{processor}"),
            Command::new(bin.join(format!("sightline-{processor}")))
                .envs(stream_env.iter().cloned())
                .env(
                    "SIGHTLINE__STAGE__GROUP_ID",
                    format!("sightline-demo-{processor}"),
                ),
            &logs,
        )?);
    }
    let alert_config = logs.join("alert.toml");
    fs::write(
        &alert_config,
        DEMO_ALERTS.replace("RECORDER", &format!("http://127.0.0.1:{RECORDER_PORT}")),
    )
    .map_err(|e| e.to_string())?;
    procs.0.push(spawn(
        "sightline-alert",
        Command::new(bin.join("sightline-alert"))
            .arg("--config")
            .arg(&alert_config)
            .envs(stream_env.iter().cloned())
            .env("SIGHTLINE__STAGE__GROUP_ID", "sightline-demo-alert"),
        &logs,
    )?);
    for port in [UPSTREAM_PORT, RECORDER_PORT, SHIM_PORT] {
        wait_port(port)?;
    }
    let recorded = logs.join("recorder.log");
    // An earlier run that stopped half-way may have left dana's incident open: new pastes would
    // join it instead of paging.
    let leftover: Vec<String> = sightline(&["incident", "list", "--user", "dana"])?
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|id| id.len() == 36 && id.matches('-').count() == 4)
        .map(str::to_string)
        .collect();
    if !leftover.is_empty() {
        step("resolving what an earlier run left open");
        for id in &leftover {
            sightline(&["incident", "resolve", id, "--actor", "demo"])?;
        }
    }
    let before = count(ch_port, "llm_calls")?;
    let verdicts_before = count(ch_port, "verdicts")?;

    step("four calls through the shim (Anthropic and OpenAI, whole and streamed)");
    let shim = format!("http://127.0.0.1:{SHIM_PORT}");
    for (user, _, path, body) in CALLS {
        eprintln!("\n$ curl {shim}{path}  (user {user})");
        let out = Command::new("curl")
            .args([
                "-sS",
                "-N",
                "--max-time",
                "30",
                "-H",
                "content-type: application/json",
            ])
            .args(["-H", &format!("x-api-key: {}", demo_key(user))])
            .args(["-d", body, &format!("{shim}{path}")])
            .output()
            .map_err(|e| format!("cannot run curl: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let shown: String = text.chars().take(600).collect();
        eprintln!(
            "{shown}{}",
            if text.len() > shown.len() { " …" } else { "" }
        );
        if !out.status.success() {
            return Err(format!(
                "call to {path} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }

    step("dana pastes AWS credentials, three times in parallel (resampling)");
    let pasted = format!(
        r#"{{"model":"claude-sonnet-4","max_tokens":64,"messages":[{{"role":"user","content":"why does this fail? aws_access_key_id = {AWS_KEY_ID}"}}]}}"#
    );
    let parallel: Vec<Child> = (0..3)
        .map(|_| {
            dana_calls(&shim, &pasted)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot run curl: {e}"))
        })
        .collect::<Result<_, _>>()?;
    for child in parallel {
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        eprintln!("{}", text.chars().take(300).collect::<String>());
    }

    step("waiting for the sink to land the events in ClickHouse");
    wait_for_rows(ch_port, "llm_calls", before + 7, &logs)?;
    let query = "SELECT user_id, provider, model, resample_role, streaming, status, input_tokens, output_tokens, latency_ms, ttft_ms \
                 FROM llm_calls ORDER BY ts_ms DESC LIMIT 7 FORMAT PrettyCompactNoEscapes";
    println!(
        "\nllm_calls (newest 7 rows, one per call):\n{}",
        select(ch_port, query)?
    );
    step("dana's verdicts on sightline.verdicts.v1 (one logical request: one EVALUATED, two INHERITED)");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new(bin.join("sightline"))
            .args([
                "verdicts",
                "--user",
                "dana",
                "--min-tier",
                "CRITICAL",
                "--idle",
                "2s",
            ])
            .envs(env.iter().cloned())
            .output()
            .map_err(|e| format!("cannot run sightline verdicts: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let ours: Vec<&str> = text.lines().rev().take(3).collect();
        let critical = ours
            .iter()
            .filter(|l| l.contains(r#""tier":"CRITICAL""#))
            .count();
        if critical == 3 && ours.iter().any(|l| l.contains(r#""decision":"EVALUATED""#)) {
            for line in ours.iter().rev() {
                println!("{line}");
            }
            if text.contains(AWS_KEY_ID) {
                return Err("a verdict holds the pasted key".into());
            }
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no CRITICAL verdicts for dana within 60s; see logs in {}",
                logs.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    step("Slack and the SIEM webhook: one message each for dana's burst (a recorder stands in for both)");
    for line in wait_recorded(&recorded, &["/slack"], 1)? {
        println!(
            "POST /slack  text: {}",
            json_str(&line, "text").unwrap_or_default()
        );
    }
    for line in wait_recorded(&recorded, &["/siem"], 1)? {
        println!(
            "POST /siem   (signed webhook) headline: {}",
            json_str(&line, "headline").unwrap_or_default()
        );
    }
    step("dana pastes the same key twice more, in two separate calls");
    for attempt in ["still failing", "one more try"] {
        let body = format!(
            r#"{{"model":"claude-sonnet-4","max_tokens":64,"messages":[{{"role":"user","content":"{attempt}: aws_access_key_id = {AWS_KEY_ID}"}}]}}"#
        );
        let out = dana_calls(&shim, &body)
            .output()
            .map_err(|e| format!("cannot run curl: {e}"))?;
        eprintln!(
            "{}",
            String::from_utf8_lossy(&out.stdout)
                .chars()
                .take(120)
                .collect::<String>()
        );
    }
    step("one incident for the pasted key: the parallel burst counts once, each later paste once more");
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        // Columns: ID SEVERITY CATEGORY STATUS OCC LAST-SEEN TITLE…
        let table = sightline(&["incident", "list", "--user", "dana"])?;
        let found = table.lines().find_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let occurrences: u64 = cols.get(4)?.parse().ok()?;
            (line.contains("Credentials detected") && occurrences >= 3).then(|| cols[0].to_string())
        });
        if let Some(id) = found {
            break id;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no incident with 3 occurrences for dana within 60s; see logs in {}",
                logs.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    println!(
        "$ sightline incident list --user dana\n{}",
        sightline(&["incident", "list", "--user", "dana"])?
    );
    let shown = sightline(&["incident", "show", &id])?;
    println!("$ sightline incident show {id}\n{shown}");
    if shown.contains(AWS_KEY_ID) {
        return Err("the incident holds the pasted key".into());
    }
    step("PagerDuty: one page for the incident");
    let dedup_key = format!("sightline:{id}");
    for line in wait_recorded(&recorded, &["/pagerduty", "\"trigger\"", &dedup_key], 1)? {
        println!(
            "POST /pagerduty  event_action: {}  dedup_key: {}  summary: {}",
            json_str(&line, "event_action").unwrap_or_default(),
            json_str(&line, "dedup_key").unwrap_or_default(),
            json_str(&line, "summary").unwrap_or_default(),
        );
    }
    step("on-call resolves it");
    println!(
        "$ sightline incident resolve {id} --actor oncall@acme.test\n{}",
        sightline(&["incident", "resolve", &id, "--actor", "oncall@acme.test"])?
    );
    println!(
        "$ sightline incident list --user dana --status resolved\n{}",
        sightline(&["incident", "list", "--user", "dana", "--status", "resolved"])?
    );
    step("PagerDuty hears the resolve, with the same dedup_key");
    for line in wait_recorded(&recorded, &["/pagerduty", "\"resolve\"", &dedup_key], 1)? {
        println!(
            "POST /pagerduty  event_action: {}  dedup_key: {}",
            json_str(&line, "event_action").unwrap_or_default(),
            json_str(&line, "dedup_key").unwrap_or_default(),
        );
    }
    let everything = fs::read_to_string(&recorded).unwrap_or_default();
    if everything.contains(AWS_KEY_ID) {
        return Err("a message holds the pasted key".into());
    }
    step("the rollups in ClickHouse, once the sink has the verdicts of all nine calls");
    wait_for_rows(ch_port, "verdicts", verdicts_before + 18, &logs)?;
    let daily = "SELECT day, user_id, calls, logical_requests, blocked, critical, input_tokens, output_tokens, latency_ms_p50_p95_p99 \
                 FROM v_daily_ai_call_stats ORDER BY day DESC, user_id FORMAT PrettyCompactNoEscapes";
    println!(
        "v_daily_ai_call_stats (the per-user rollup, fed on insert):\n{}",
        select(ch_port, daily)?
    );
    let rules =
        "SELECT rule_id, tier, sum(triggers) AS triggers FROM rule_daily GROUP BY rule_id, tier \
                 ORDER BY triggers DESC FORMAT PrettyCompactNoEscapes";
    println!(
        "rule_daily (top triggered rules):\n{}",
        select(ch_port, rules)?
    );
    println!(
        "Query it yourself:\n  clickhouse-client --port {} -d {DATABASE} -q 'SELECT * FROM v_daily_ai_call_stats'\n  \
         curl 'http://127.0.0.1:{ch_port}/?database={DATABASE}' --data-binary 'SELECT user_id, count() FROM llm_calls GROUP BY user_id'\n\
         Logs of this run: {}\nServices keep running; stop them with `cargo xtask services down`.",
        env_port("SIGHTLINE_CLICKHOUSE_TCP_PORT", 9000)?,
        logs.display()
    );
    drop(procs);
    Ok(())
}

/// The destinations the documented policy alerts, at the recorder (RECORDER is replaced by
/// its URL). Alert state outlives the processes, so a group messaged by the last run waits
/// out its `group_interval`: short here, so the demo can run again at once.
const DEMO_ALERTS: &str = r#"[stage]
tick_every = "200ms"

[destinations.oncall_slack]
kind = "slack"
url = "RECORDER/slack/services/T0/B0/demo"
critical_group_wait = "0s"
group_interval = "10s"

[destinations.siem]
kind = "webhook"
url = "RECORDER/siem/hooks/sightline"
secret = "demo-signing-secret-0000000000000000"
critical_group_wait = "0s"
group_interval = "10s"

[destinations.pager]
kind = "pagerduty"
url = "RECORDER/pagerduty/v2/enqueue"
routing_key = "demo-routing-key-0000000000000000"
"#;

/// The recorder's lines for requests to a path starting with `what[0]` that hold every other
/// string of `what`, once there are `n`.
fn wait_recorded(log: &Path, what: &[&str], n: usize) -> Result<Vec<String>, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let path = format!(r#""path":"{}"#, what[0]);
    let prefix = what[0];
    loop {
        let lines: Vec<String> = fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&path) && what[1..].iter().all(|w| l.contains(w)))
            .map(str::to_string)
            .collect();
        if lines.len() >= n {
            return Ok(lines);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{n} request(s) to {prefix} did not arrive within 60s; see {}",
                log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The first string value of `key` in a JSON line (enough for showing what was sent).
fn json_str(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!(r#""{key}":""#))? + key.len() + 4;
    let mut out = String::new();
    let mut escaped = false;
    for c in line[start..].chars() {
        match (escaped, c) {
            (true, 'n') => out.push(' '),
            (true, c) => out.push(c),
            (false, '\\') => {
                escaped = true;
                continue;
            }
            (false, '"') => return Some(out),
            (false, c) => out.push(c),
        }
        escaped = false;
    }
    None
}

/// A made-up access key id in AWS's format (the detection engine's checks pass; AWS knows
/// no such key).
const AWS_KEY_ID: &str = "AKIAQYLPMN5HHHFPZAM2";

/// `(user, team, path, body)` of the demo's calls.
const CALLS: [(&str, &str, &str, &str); 4] = [
    (
        "ada",
        "platform",
        "/v1/messages",
        r#"{"model":"claude-sonnet-4","max_tokens":64,"messages":[{"role":"user","content":"Summarise our on-call runbook."}]}"#,
    ),
    (
        "grace",
        "data",
        "/v1/messages",
        r#"{"model":"claude-sonnet-4","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Write a haiku about Kafka."}]}"#,
    ),
    (
        "ada",
        "platform",
        "/v1/chat/completions",
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Explain ClickHouse in one line."}]}"#,
    ),
    (
        "linus",
        "kernel",
        "/v1/chat/completions",
        r#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Name three schedulers."}]}"#,
    ),
];

/// curl, as dana, posting `body` to the shim's Messages endpoint.
fn dana_calls(shim: &str, body: &str) -> Command {
    let mut curl = Command::new("curl");
    curl.args([
        "-sS",
        "--max-time",
        "30",
        "-H",
        "content-type: application/json",
    ])
    .args(["-H", &format!("x-api-key: {}", demo_key("dana"))])
    .args(["-d", body, &format!("{shim}/v1/messages")]);
    curl
}

/// The demo API key of `user` (a made-up key; the fake upstream accepts any).
fn demo_key(user: &str) -> String {
    format!("sk-demo-{user}-0000000000000000")
}

fn spawn(name: &str, cmd: &mut Command, logs: &Path) -> Result<(String, Child), String> {
    let file = logs.join(format!("{}.log", name.replace(' ', "-")));
    let child = util::spawn_logged(name, cmd, &file)?;
    Ok((name.to_string(), child))
}

fn wait_port(port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !port_open(port) {
        if Instant::now() > deadline {
            return Err(format!("nothing listens on 127.0.0.1:{port} after 30s"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn select(port: u16, query: &str) -> Result<String, String> {
    let (status, body) = util::http(port, "POST", &format!("/?database={DATABASE}"), query)?;
    if status == 200 {
        Ok(body)
    } else {
        Err(format!("ClickHouse answered {status}: {body}"))
    }
}

/// Waits up to 60 s for `table` to hold `rows` rows.
fn wait_for_rows(port: u16, table: &str, rows: u64, logs: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(port, table)? < rows {
        if Instant::now() > deadline {
            return Err(format!(
                "{table} did not reach {rows} rows within 60s; see logs in {}",
                logs.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}

fn count(port: u16, table: &str) -> Result<u64, String> {
    select(port, &format!("SELECT count() FROM {table}"))?
        .trim()
        .parse()
        .map_err(|e| format!("unexpected count: {e}"))
}
