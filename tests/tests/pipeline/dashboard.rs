//! The dashboard against ClickHouse 18.16 with seeded data for two tenants: an
//! authorization matrix (every endpoint as every role, across tenants), the figures each page
//! and API shows, pagination while rows arrive, the streamed export, the access audit log,
//! sign-in lockout, and real-browser checks of every page (Debian's Chromium, headless).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use sightline_dashboard::DashboardConfig;
use sightline_identity::{key_hash, KeyOwner, Unknown};
use sightline_runtime::Shutdown;
use sightline_testkit::TestEnv;

const DAY_MS: i64 = 86_400_000;

/// A seeded call.
#[derive(Debug, Clone)]
struct Call {
    tenant: &'static str,
    user: &'static str,
    team: &'static str,
    conversation: String,
    call_id: String,
    /// The logical request; a resample's is its primary's.
    logical: String,
    ts_ms: i64,
    blocked: bool,
    tier: &'static str,
    capability: &'static str,
}

/// Who signs in, with what key.
#[derive(Debug, Clone, Copy)]
struct Who {
    key: &'static str,
    user: &'static str,
    tenant: Option<&'static str>,
    team: Option<&'static str>,
    role: &'static str,
}

const PEOPLE: &[Who] = &[
    Who {
        key: "k-acme-dana",
        user: "dana",
        tenant: Some("acme"),
        team: Some("payments"),
        role: "user",
    },
    Who {
        key: "k-acme-erin",
        user: "erin",
        tenant: Some("acme"),
        team: Some("payments"),
        role: "user",
    },
    Who {
        key: "k-acme-morgan",
        user: "morgan",
        tenant: Some("acme"),
        team: Some("payments"),
        role: "lead",
    },
    Who {
        key: "k-acme-jordan",
        user: "jordan",
        tenant: Some("acme"),
        team: None,
        role: "admin",
    },
    Who {
        key: "k-globex-gina",
        user: "gina",
        tenant: Some("globex"),
        team: None,
        role: "admin",
    },
    Who {
        key: "k-globex-gus",
        user: "gus",
        tenant: Some("globex"),
        team: Some("ops"),
        role: "user",
    },
    Who {
        key: "k-root",
        user: "root",
        tenant: None,
        team: None,
        role: "super_admin",
    },
];

/// Tenant, user, team, and the numbers of their calls (erin also calls as team web).
const USERS: &[(&str, &str, &str, std::ops::Range<usize>)] = &[
    ("acme", "dana", "payments", 0..12),
    ("acme", "erin", "payments", 0..7),
    ("acme", "erin", "web", 20..23),
    ("acme", "finn", "web", 0..5),
    ("globex", "dana", "payments", 0..9),
    ("globex", "gus", "ops", 0..4),
];

fn seed_calls(now_ms: i64) -> Vec<Call> {
    let mut calls = vec![];
    for (tenant, user, team, calls_of) in USERS {
        let (tenant, user, team) = (*tenant, *user, *team);
        for i in calls_of.clone() {
            let tier = if user == "dana" && i % 4 == 0 {
                "CRITICAL"
            } else if i % 3 == 1 {
                "WARNING"
            } else {
                "NONE"
            };
            // acme's dana sent call 08's prompt again as call 11 (same conversation): a resample.
            let resample = tenant == "acme" && user == "dana" && i == 11;
            calls.push(Call {
                tenant,
                user,
                team,
                conversation: format!("{tenant}-{user}-c{}", i % 3),
                call_id: format!("{tenant}-{user}-call{i:02}"),
                logical: if resample {
                    format!("{tenant}-{user}-call08")
                } else {
                    format!("{tenant}-{user}-call{i:02}")
                },
                ts_ms: now_ms - (i as i64 % 3) * DAY_MS - (i as i64 + 1) * 60_000,
                blocked: tier == "CRITICAL",
                tier,
                capability: if i % 2 == 0 { "claude-code" } else { "sdk" },
            });
        }
    }
    calls
}

/// Whether `who` may see `call`: the rule the dashboard must follow, stated independently.
fn visible(who: &Who, call: &Call) -> bool {
    match who.role {
        "super_admin" => true,
        "admin" => Some(call.tenant) == who.tenant,
        "lead" => Some(call.tenant) == who.tenant && Some(call.team) == who.team,
        _ => Some(call.tenant) == who.tenant && call.user == who.user,
    }
}

async fn seed(env: &TestEnv, calls: &[Call]) {
    let client = env.clickhouse.client();
    let q = |s: &str| format!("'{s}'");
    let mut call_rows = vec![];
    let mut verdict_rows = vec![];
    let mut finding_rows = vec![];
    let mut message_rows = vec![];
    for (n, c) in calls.iter().enumerate() {
        call_rows.push(format!(
            "({}, {}, {}, {}, {}, {}, {}, {}, 'ws-{}', {}, 'anthropic', 'claude-sonnet-4', {}, {}, {}, 100, 20, 1500, {}, 'd', 0, {n})",
            q(&c.call_id), q(&format!("{}-resp", c.call_id)), q(&c.logical),
            q(if c.logical == c.call_id { "PRIMARY" } else { "RESAMPLE" }), q(c.tenant), q(c.user), q(c.team),
            q(&c.conversation), c.team, q(c.capability), q(if c.blocked { "BLOCKED" } else { "OK" }),
            c.ts_ms - 500, c.ts_ms, 200 + n as i64
        ));
        let vid = format!("{}-v", c.call_id);
        verdict_rows.push(format!(
            "({}, {}, {}, {}, 'REQUEST', 'PRIMARY', {}, {}, {}, {}, {}, {}, {}, [{}], 'v', 0, {n})",
            q(&vid),
            q(&format!("{}-req", c.call_id)),
            q(&c.call_id),
            q(&c.call_id),
            q(if c.blocked { "BLOCK" } else { "ALLOW" }),
            q(c.tenant),
            q(c.user),
            q(c.team),
            q(&c.conversation),
            c.ts_ms - 500,
            q(if c.tier == "NONE" { "INFO" } else { c.tier }),
            match c.tier {
                "CRITICAL" => "'aws_access_key_id'",
                "WARNING" => "'email'",
                _ => "",
            }
        ));
        if c.tier != "NONE" {
            let rule = if c.tier == "CRITICAL" {
                "aws_access_key_id"
            } else {
                "email"
            };
            finding_rows.push(format!(
                "({}, {}, 'REQUEST', 'PRIMARY', 0, {}, 'SECRET', {}, 'messages[0].content', 20, 40, {}, {}, {}, {}, {}, 'f', 0, {n})",
                q(&vid), q(&c.call_id), q(rule), q(c.tier), q(c.tenant), q(c.user), q(c.team), q(&c.conversation), c.ts_ms - 500
            ));
        }
        message_rows.push(format!(
            "({}, {}, 'REQUEST', 0, 'user', {}, {}, {}, {}, {}, 'm', 0, {n})",
            q(&format!("{}-req", c.call_id)),
            q(&c.call_id),
            q(&format!(
                "question {} from {} [REDACTED:aws_access_key_id]",
                c.call_id, c.user
            )),
            q(c.tenant),
            q(c.user),
            q(&c.conversation),
            c.ts_ms - 500
        ));
    }
    let statements = [
        format!("INSERT INTO llm_calls (call_id, event_id, logical_id, resample_role, tenant_id, user_id, team_id, conversation_id, workspace_id, capability, provider, model, status, started_ms, ts_ms, input_tokens, output_tokens, cost_usd_micros, latency_ms, _topic, _partition, _offset) VALUES {}", call_rows.join(", ")),
        format!("INSERT INTO verdicts (verdict_id, event_id, call_id, logical_id, kind, resample_role, decision, tenant_id, user_id, team_id, conversation_id, ts_ms, tier, rules, _topic, _partition, _offset) VALUES {}", verdict_rows.join(", ")),
        format!("INSERT INTO findings (verdict_id, call_id, kind, decision, position, rule_id, category, tier, location, span_start, span_end, tenant_id, user_id, team_id, conversation_id, ts_ms, _topic, _partition, _offset) VALUES {}", finding_rows.join(", ")),
        format!("INSERT INTO llm_messages (event_id, call_id, kind, position, role, text, tenant_id, user_id, conversation_id, ts_ms, _topic, _partition, _offset) VALUES {}", message_rows.join(", ")),
        // A screenshot dana attached to her first call: its metadata, never its bytes.
        "INSERT INTO attachments (event_id, call_id, position, kind, media_type, source, size_bytes, digest, width, height, tenant_id, user_id, conversation_id, ts_ms, _topic, _partition, _offset) \
         SELECT concat(call_id, '-req'), call_id, 0, 'image', 'image/png', 'base64', 48213, 'f0e1d2c3b4a5968778695a4b3c2d1e0f', 1280, 800, tenant_id, user_id, conversation_id, ts_ms, 'a', 0, 0 \
         FROM llm_calls WHERE tenant_id = 'acme' AND call_id = 'acme-dana-call00'".to_string(),
    ];
    for s in statements {
        client.query(&s).execute().await.expect("seed");
    }
}

/// An incident of `tenant` (about `user`, or tenant-wide when empty) with one event.
async fn seed_incident(
    env: &TestEnv,
    id: &str,
    tenant: &str,
    user: &str,
    first_ms: i64,
    link: Option<&str>,
) {
    let links = link.map_or(String::new(), |l| format!("'{l}'"));
    let key = if user.is_empty() {
        tenant.to_string()
    } else {
        format!("{tenant}/{user}")
    };
    let sql = format!(
        "INSERT INTO incident_events (event_id, incident_id, seq, event_type, tenant_id, user_id, rule, dedupe_key, severity, category, status, title, first_seen_ms, last_seen_ms, occurrences, actor, ts_ms, link_call_ids, link_event_ids, link_reasons, link_at_ms, partition_key, _topic, _partition, _offset) \
         VALUES ('{id}-e1', '{id}', 1, 'OPENED', '{tenant}', '{user}', 'critical_verdict', '{id}', 'CRITICAL', 'SAFETY', 'OPEN', 'Credentials detected in AI prompt - User: {user}', {first_ms}, {first_ms}, 1, 'sightline', {first_ms}, [{links}], [{}], [{}], [{}], '{key}', 'i', 0, 0)",
        if link.is_some() { "'e'" } else { "" },
        if link.is_some() { "'TRIGGER'" } else { "" },
        if link.is_some() { first_ms.to_string() } else { String::new() },
    );
    env.clickhouse
        .client()
        .query(&sql)
        .execute()
        .await
        .expect("incident");
}

/// The seeded calls, and dana's incident linking her first (blocked) call.
async fn seed_story(env: &TestEnv) -> (i64, Vec<Call>) {
    let now = sightline_dashboard::now_ms();
    let calls = seed_calls(now);
    seed(env, &calls).await;
    seed_incident(
        env,
        "inc-acme-dana",
        "acme",
        "dana",
        now - 3_600_000,
        Some("acme-dana-call00"),
    )
    .await;
    (now, calls)
}

/// The HS256 secret dashboard tokens are signed with in these tests.
const JWT_SECRET: &str = "a-dashboard-jwt-secret-of-at-least-32-bytes";

fn config(env: &TestEnv) -> DashboardConfig {
    // Every test sets the same value.
    std::env::set_var("SIGHTLINE_TEST_DASHBOARD_JWT", JWT_SECRET);
    let mut config = DashboardConfig {
        clickhouse: env.clickhouse.clone(),
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        ..DashboardConfig::default()
    };
    config.identity.order = vec![
        sightline_identity::Source::ApiKey,
        sightline_identity::Source::Jwt,
    ];
    config.identity.jwt = Some(sightline_identity::JwtConfig {
        header: "authorization".into(),
        hs256_secret_env: Some("SIGHTLINE_TEST_DASHBOARD_JWT".into()),
        ..sightline_identity::JwtConfig::default()
    });
    config.identity.unknown = Unknown::Reject;
    for w in PEOPLE {
        config.identity.api_keys.insert(
            key_hash(w.key),
            KeyOwner {
                user: w.user.into(),
                tenant: w.tenant.map(Into::into),
                team: w.team.map(Into::into),
                role: Some(w.role.into()),
                ..KeyOwner::default()
            },
        );
    }
    config.dashboard.requests_per_second = 1000;
    config.dashboard.burst = 1000;
    config.dashboard.failed_logins_per_minute = 1000;
    config
}

/// A dashboard on a free port, stopped when dropped.
pub(super) struct Server {
    pub url: String,
    shutdown: Shutdown,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    pub async fn start(config: DashboardConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let shutdown = Shutdown::new();
        let task = tokio::spawn(sightline_dashboard::serve(
            config,
            listener,
            shutdown.clone(),
        ));
        Self {
            url: format!("http://{addr}"),
            shutdown,
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        self.shutdown.trigger();
        if let Some(t) = self.task.take() {
            t.await.expect("join").expect("dashboard ran");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

async fn get(url: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let body = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_as_every_role_across_tenants_reads_only_its_scope() {
    let env = TestEnv::new(1).await.expect("env");
    let (now, calls) = seed_story(&env).await;
    seed_incident(&env, "inc-acme-finn", "acme", "finn", now - 3_500_000, None).await;
    // erin's incident from a call she made as team web: not for the payments lead.
    seed_incident(
        &env,
        "inc-acme-erin-web",
        "acme",
        "erin",
        now - 3_450_000,
        Some("acme-erin-call20"),
    )
    .await;
    seed_incident(&env, "inc-acme-tenant", "acme", "", now - 3_400_000, None).await;
    seed_incident(
        &env,
        "inc-globex-gus",
        "globex",
        "gus",
        now - 3_300_000,
        None,
    )
    .await;
    let server = Server::start(config(&env)).await;
    let base = &server.url;

    // Nobody signed in, or a key nobody issued: 401 everywhere, pages included.
    for path in ["/api/v1/overview", "/dashboard", "/api/v1/export"] {
        assert_eq!(get(&format!("{base}{path}"), None).await.0, 401, "{path}");
        assert_eq!(
            get(&format!("{base}{path}"), Some("k-forged")).await.0,
            401,
            "{path}"
        );
    }

    let mut checked = 0;
    for who in PEOPLE {
        let key = Some(who.key);
        let mine: Vec<&Call> = calls.iter().filter(|c| visible(who, c)).collect();
        // Overview: exactly the calls in scope.
        let (status, body) = get(&format!("{base}/api/v1/overview"), key).await;
        assert_eq!(status, 200, "{} overview: {body}", who.user);
        assert_eq!(
            body["calls"],
            mine.len() as u64,
            "{} overview calls",
            who.user
        );
        let critical = mine.iter().filter(|c| c.tier == "CRITICAL").count() as u64;
        assert_eq!(
            body["tiers"]["critical"], critical,
            "{} overview critical",
            who.user
        );
        let day_ago = now - DAY_MS;
        let recent = mine.iter().filter(|c| c.ts_ms >= day_ago).count() as u64;
        assert_eq!(
            body["interactions_24h"], recent,
            "{} interactions 24h",
            who.user
        );

        // A user page per seeded user name: visible iff some call of that name is in scope,
        // and then exactly those calls (dana is a user of two tenants).
        for name in ["dana", "erin", "finn", "gus"] {
            let theirs = mine.iter().filter(|c| c.user == name).count() as u64;
            let (status, body) = get(&format!("{base}/api/v1/users/{name}"), key).await;
            if theirs == 0 {
                assert!(
                    matches!(status, 403 | 404),
                    "{} reads user {name}: {status} {body}",
                    who.user
                );
            } else {
                assert_eq!(status, 200, "{} reads user {name}: {body}", who.user);
                assert_eq!(body["calls"], theirs, "{} reads user {name}", who.user);
            }
            checked += 1;
        }
        // Every conversation.
        let conversations: HashSet<&String> = calls.iter().map(|c| &c.conversation).collect();
        for conv in conversations {
            let theirs = mine.iter().filter(|c| &c.conversation == conv).count() as u64;
            let (status, body) = get(&format!("{base}/api/v1/conversations/{conv}"), key).await;
            if theirs == 0 {
                assert_eq!(
                    status, 404,
                    "{} reads conversation {conv}: {body}",
                    who.user
                );
            } else {
                assert_eq!(
                    (status, body["calls"].as_u64()),
                    (200, Some(theirs)),
                    "{} reads {conv}",
                    who.user
                );
                let text = body.to_string();
                for other in calls.iter().filter(|c| !visible(who, c)) {
                    assert!(
                        !text.contains(&format!("\"{}\"", other.call_id)),
                        "{} sees {}",
                        who.user,
                        other.call_id
                    );
                }
            }
            checked += 1;
        }
        // Teams: a user sees none, a lead only theirs, an admin their tenant's.
        for team in ["payments", "web", "ops"] {
            let theirs = mine.iter().filter(|c| c.team == team).count() as u64;
            let (status, body) = get(&format!("{base}/api/v1/teams/{team}"), key).await;
            if who.role == "user" {
                assert_eq!(status, 403, "{} reads team {team}", who.user);
            } else if theirs == 0 {
                assert_eq!(status, 404, "{} reads team {team}: {body}", who.user);
            } else {
                assert_eq!(
                    (status, body["calls"].as_u64()),
                    (200, Some(theirs)),
                    "{} reads team {team}",
                    who.user
                );
            }
            checked += 1;
        }
        // Incidents: the list and each one.
        let expected_incidents: Vec<&str> = [
            // Id, tenant, user, and the team of the call it links (leads see by that).
            ("inc-acme-dana", "acme", "dana", "payments"),
            ("inc-acme-finn", "acme", "finn", ""),
            ("inc-acme-erin-web", "acme", "erin", "web"),
            ("inc-acme-tenant", "acme", "", ""),
            ("inc-globex-gus", "globex", "gus", ""),
        ]
        .iter()
        .filter(|(_, tenant, user, team)| match who.role {
            "super_admin" => true,
            "admin" => Some(*tenant) == who.tenant,
            "lead" => Some(*tenant) == who.tenant && Some(*team) == who.team && !user.is_empty(),
            _ => Some(*tenant) == who.tenant && *user == who.user,
        })
        .map(|(id, ..)| *id)
        .collect();
        let (status, body) = get(&format!("{base}/api/v1/incidents"), key).await;
        assert_eq!(status, 200);
        let mut listed: Vec<&str> = body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["incident_id"].as_str().unwrap_or(""))
            .collect();
        listed.sort_unstable();
        let mut want = expected_incidents.clone();
        want.sort_unstable();
        assert_eq!(listed, want, "{} lists incidents", who.user);
        for id in [
            "inc-acme-dana",
            "inc-acme-finn",
            "inc-acme-erin-web",
            "inc-acme-tenant",
            "inc-globex-gus",
        ] {
            let (status, _) = get(&format!("{base}/api/v1/incidents/{id}"), key).await;
            assert_eq!(
                status == 200,
                expected_incidents.contains(&id),
                "{} reads {id}: {status}",
                who.user
            );
            checked += 1;
        }
        // Tenant-wide pages.
        for (path, least) in [
            ("/api/v1/capabilities", "admin"),
            ("/api/v1/rules", "lead"),
            ("/api/v1/audit", "admin"),
        ] {
            let (status, body) = get(&format!("{base}{path}"), key).await;
            let allowed = match least {
                "admin" => matches!(who.role, "admin" | "super_admin"),
                _ => who.role != "user",
            };
            assert_eq!(
                status == 200,
                allowed,
                "{} reads {path}: {status} {body}",
                who.user
            );
            if path == "/api/v1/rules" && allowed {
                let triggers: u64 = body["rules"]
                    .as_array()
                    .expect("rules")
                    .iter()
                    .map(|r| r["triggers"].as_u64().unwrap_or(0))
                    .sum();
                let expected = mine.iter().filter(|c| c.tier != "NONE").count() as u64;
                assert_eq!(triggers, expected, "{} rule triggers", who.user);
            }
            checked += 1;
        }
        // The export: every row in scope, and only those.
        let resp = reqwest::Client::new()
            .get(format!("{base}/api/v1/export?format=jsonl"))
            .bearer_auth(who.key)
            .send()
            .await
            .expect("export");
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["x-sightline-rows"].to_str().ok(),
            Some(mine.len().to_string().as_str())
        );
        let text = resp.text().await.expect("body");
        let exported: HashSet<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).expect("jsonl")["call_id"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        let want: HashSet<String> = mine.iter().map(|c| c.call_id.clone()).collect();
        assert_eq!(exported, want, "{} exports", who.user);
    }
    assert!(checked > 100, "{checked} checks");

    // Working incidents needs the lead role: a user's action is refused before anything is sent.
    let refused = reqwest::Client::new()
        .post(format!("{base}/api/v1/incidents/inc-acme-dana/actions"))
        .bearer_auth("k-acme-dana")
        .json(&serde_json::json!({"action": "ack"}))
        .send()
        .await
        .expect("act");
    assert_eq!(refused.status(), 403);
    let elsewhere = reqwest::Client::new()
        .post(format!("{base}/api/v1/incidents/inc-globex-gus/actions"))
        .bearer_auth("k-acme-jordan")
        .json(&serde_json::json!({"action": "ack"}))
        .send()
        .await
        .expect("act");
    assert_eq!(
        elsewhere.status(),
        404,
        "another tenant's incident does not exist for an admin"
    );

    // False-positive feedback: dana marks her own finding; she cannot mark erin's.
    let mark = |key: &'static str, verdict: &str| {
        let body =
            serde_json::json!({"verdict_id": verdict, "position": 0, "false_positive": true});
        let url = format!("{base}/api/v1/feedback");
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .expect("mark")
                .status()
                .as_u16()
        }
    };
    assert_eq!(mark("k-acme-dana", "acme-dana-call01-v").await, 204);
    assert_eq!(mark("k-acme-dana", "acme-erin-call01-v").await, 404);
    let (_, rules) = get(&format!("{base}/api/v1/rules"), Some("k-acme-jordan")).await;
    let email = rules["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["rule_id"] == "email")
        .cloned()
        .expect("email rule");
    assert_eq!(
        (email["marked"].as_u64(), email["false_positives"].as_u64()),
        (Some(1), Some(1)),
        "{email}"
    );

    // Every request above is in the access audit log; an admin sees only their tenant's.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, body) = get(
        &format!("{base}/api/v1/audit?limit=500"),
        Some("k-acme-jordan"),
    )
    .await;
    assert_eq!(status, 200);
    let entries = body["items"].as_array().expect("items");
    assert!(
        entries.iter().all(|e| e["tenant_id"] == "acme"),
        "an admin reads only their tenant's log"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["user_id"] == "dana" && e["result"] == "denied"),
        "refusals are logged"
    );
    assert!(entries
        .iter()
        .any(|e| e["action"] == "export" && e["user_id"] == "jordan"));
    let (_, all) = get(&format!("{base}/api/v1/audit?limit=500"), Some("k-root")).await;
    assert!(all["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|e| e["result"] == "unauthenticated" && e["peer"] == "127.0.0.1"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_pages_walk_without_skipping_or_repeating_while_incidents_arrive() {
    let env = TestEnv::new(1).await.expect("env");
    let now = sightline_dashboard::now_ms();
    for i in 0..23 {
        // Some share a first-seen time: the id breaks the tie.
        seed_incident(
            &env,
            &format!("inc-{i:02}"),
            "acme",
            "dana",
            now - 1_000_000 + (i / 3) * 1000,
            None,
        )
        .await;
    }
    let server = Server::start(config(&env)).await;
    let mut seen: Vec<String> = vec![];
    let mut cursor = String::new();
    for page in 0..20 {
        let (status, body) = get(
            &format!("{}/api/v1/incidents?limit=5&cursor={cursor}", server.url),
            Some("k-acme-jordan"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        seen.extend(
            body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["incident_id"].as_str().unwrap_or("").to_string()),
        );
        // A newer incident arrives between pages.
        seed_incident(
            &env,
            &format!("new-{page}"),
            "acme",
            "dana",
            now + page * 1000,
            None,
        )
        .await;
        match body["next"].as_str() {
            Some(n) => cursor = n.to_string(),
            None => break,
        }
    }
    let mut expected: Vec<String> = (0..23).map(|i| format!("inc-{i:02}")).collect();
    expected.sort_by(|a, b| b.cmp(a));
    let old: Vec<String> = seen
        .iter()
        .filter(|s| s.starts_with("inc-"))
        .cloned()
        .collect();
    let distinct: HashSet<&String> = old.iter().collect();
    assert_eq!(distinct.len(), old.len(), "no incident repeated: {old:?}");
    let mut sorted = old.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(sorted, expected, "none skipped");
    let (status, body) = get(
        &format!("{}/api/v1/incidents?cursor=bm90LWEtY3Vyc29y", server.url),
        Some("k-acme-jordan"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_lock_an_address_out_and_requests_are_rate_limited() {
    let env = TestEnv::new(1).await.expect("env");
    let mut cfg = config(&env);
    cfg.dashboard.failed_logins_per_minute = 3;
    cfg.dashboard.requests_per_second = 1;
    cfg.dashboard.burst = 5;
    let server = Server::start(cfg).await;
    let url = format!("{}/api/v1/me", server.url);
    // Requests with no key at all (a link opened without a session) are not guesses.
    for _ in 0..5 {
        assert_eq!(get(&url, None).await.0, 401);
    }
    let mut statuses = vec![];
    for _ in 0..8 {
        statuses.push(get(&url, Some("k-acme-jordan")).await.0);
    }
    assert_eq!(&statuses[..5], &[200; 5], "the burst is served");
    assert!(
        statuses[5..].contains(&429),
        "then the caller is slowed: {statuses:?}"
    );
    for _ in 0..4 {
        assert_eq!(get(&url, Some("k-guess")).await.0, 401);
    }
    // Locked out: even the right key is not looked at.
    assert_eq!(get(&url, Some("k-acme-dana")).await.0, 429);
    server.stop().await;
}

/// A page the browser checks: its path, the figures it must show, links it must follow.
fn page(name: &str, path: &str, metrics: BTreeMap<&str, String>, follow: Vec<Value>) -> Value {
    serde_json::json!({"name": name, "path": path, "metrics": metrics, "follow": follow,
        "absent": ["AKIA", "wJalrXUtnFEMI"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_a_real_browser_shows_what_clickhouse_holds() {
    let env = TestEnv::new(1).await.expect("env");
    let (_, calls) = seed_story(&env).await;
    let server = Server::start(config(&env)).await;
    let client = env.clickhouse.client();
    let figure = |sql: &'static str| {
        let client = client.clone();
        async move { client.query(sql).fetch_one::<u64>().await.expect(sql) }
    };
    let fmt = |n: u64| {
        let s = n.to_string();
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(ch);
        }
        out
    };
    // What ClickHouse holds, asked directly.
    let acme_calls = figure("SELECT count() FROM llm_calls WHERE tenant_id = 'acme'").await;
    let acme_critical =
        figure("SELECT count() FROM verdicts WHERE tenant_id = 'acme' AND tier = 'CRITICAL'").await;
    let dana_calls =
        figure("SELECT count() FROM llm_calls WHERE tenant_id = 'acme' AND user_id = 'dana'").await;
    let dana_blocked = figure("SELECT count() FROM llm_calls WHERE tenant_id = 'acme' AND user_id = 'dana' AND status = 'BLOCKED'").await;
    let payments =
        figure("SELECT count() FROM llm_calls WHERE tenant_id = 'acme' AND team_id = 'payments'")
            .await;
    let conv_calls = figure("SELECT count() FROM llm_calls WHERE tenant_id = 'acme' AND conversation_id = 'acme-dana-c0'").await;
    let email_triggers =
        figure("SELECT count() FROM findings WHERE tenant_id = 'acme' AND rule_id = 'email'").await;
    let mut conversation = page(
        "conversation",
        "/dashboard/conversations/acme-dana-c0",
        [("calls", fmt(conv_calls))].into(),
        vec![
            serde_json::json!({"selector": "a[data-link=user]", "path_prefix": "/dashboard/users/dana", "metrics": {"calls": fmt(dana_calls)}}),
        ],
    );
    // The attachment's metadata, and the finding's rule and location.
    conversation["texts"] = serde_json::json!([
        "image/png",
        "1280×800",
        "aws_access_key_id",
        "messages[0].content [20..40]"
    ]);
    let plan = serde_json::json!({"pages": [
        page("overview", "/dashboard", [("calls", fmt(acme_calls)), ("critical", fmt(acme_critical))].into(), vec![]),
        page("user", "/dashboard/users/dana", [("calls", fmt(dana_calls)), ("blocked", fmt(dana_blocked))].into(),
            vec![serde_json::json!({"selector": "a[data-link=conversation]", "path_prefix": "/dashboard/conversations/"})]),
        conversation,
        page("team", "/dashboard/teams/payments", [("calls", fmt(payments))].into(),
            vec![serde_json::json!({"selector": "a[data-link=user]", "path_prefix": "/dashboard/users/"})]),
        serde_json::json!({"name": "conversation-resampled", "path": "/dashboard/conversations/acme-dana-c2",
            "metrics": {"calls": "4", "requests": "3"}, "texts": ["one logical request sent 2 times (resampled)"],
            "follow": [], "absent": ["AKIA"]}),
        page("incidents", "/dashboard/incidents", [("shown", "1".to_string())].into(),
            vec![serde_json::json!({"selector": "a[data-link=incident]", "path_prefix": "/dashboard/incidents/inc-acme-dana", "metrics": {"status": "OPEN"}})]),
        page("incident", "/dashboard/incidents/inc-acme-dana", [("status", "OPEN".to_string())].into(),
            vec![serde_json::json!({"selector": "a[data-link=conversation]", "path_prefix": "/dashboard/conversations/acme-dana-c0"})]),
        page("capabilities", "/dashboard/capabilities", [("interactions_claude-code", fmt(calls.iter().filter(|c| c.tenant == "acme" && c.capability == "claude-code").count() as u64))].into(), vec![]),
        page("rules", "/dashboard/rules", [("triggers_email", fmt(email_triggers))].into(), vec![]),
        page("audit", "/dashboard/audit", BTreeMap::new(), vec![]),
    ]});
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/dashboard-screenshots");
    std::fs::create_dir_all(&dir).expect("dir");
    let plan_file = dir.join("plan.json");
    std::fs::write(&plan_file, plan.to_string()).expect("plan");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/check_pages.py");
    let out =
        tokio::process::Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
            .arg(&script)
            .args(["--base", &server.url, "--token", "k-acme-jordan", "--plan"])
            .arg(&plan_file)
            .arg("--out")
            .arg(&dir)
            .output()
            .await
            .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("summary");
    assert_eq!(summary["pages"], 10, "{summary}");
    for name in [
        "overview",
        "user",
        "conversation",
        "team",
        "incidents",
        "incident",
        "capabilities",
        "rules",
        "audit",
    ] {
        let shot = dir.join(format!("{name}.png"));
        assert!(
            std::fs::metadata(&shot).is_ok_and(|m| m.len() > 5_000),
            "{} saved",
            shot.display()
        );
    }
    server.stop().await;
}

/// The story end to end: dana pastes an AWS key through the shim; the admin's live view shows
/// the CRITICAL event within 5 s of the call; the admin works the incident from the
/// dashboard, and PagerDuty is acknowledged and then resolved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_key_is_live_within_5_s_and_dashboard_actions_acknowledge_and_resolve_the_page() {
    use super::alerts::ROUTING_KEY;
    use super::{client, AWS_KEY_ID, AWS_SECRET, WAIT};
    use futures::StreamExt;

    let super::alerts::Story {
        env,
        shim,
        shim_task,
        sink,
        r,
        procs,
        ..
    } = super::alerts::story().await;
    let server = Server::start(config(&env)).await;
    let key = "k-acme-jordan"; // the shim in these tests is tenant acme's

    // The live view, open before the call.
    let live = reqwest::Client::new()
        .get(format!("{}/api/v1/live", server.url))
        .bearer_auth(key)
        .send()
        .await
        .expect("live");
    assert_eq!(live.status(), 200, "{:?}", live.headers());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, std::time::Instant)>();
    let reader = tokio::spawn(async move {
        let mut body = live.bytes_stream();
        let mut text = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = text.find("\n\n") {
                let event: String = text.drain(..end + 2).collect();
                let _ = tx.send((event, std::time::Instant::now()));
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let prompt = format!("Deploy fails with:\naws_access_key_id = {AWS_KEY_ID}\naws_secret_access_key = {AWS_SECRET}\nwhy?");
    let sent = std::time::Instant::now();
    let resp = client()
        .post(format!("{shim}/v1/messages"))
        .header("x-sightline-user", "dana")
        .json(&serde_json::json!({"model": "claude-sonnet-4", "max_tokens": 64, "messages": [{"role": "user", "content": prompt}]}))
        .send()
        .await
        .expect("call");
    assert_eq!(resp.headers()["x-sightline-blocked"], "true");
    let critical = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (event, at) = rx.recv().await.expect("live stream open");
            if event.contains("event: critical") {
                return (event, at);
            }
        }
    })
    .await;
    let Ok(critical) = critical else {
        let rows: Vec<(String, String, String, String, u64)> = env
            .clickhouse
            .client()
            .query("SELECT tenant_id, user_id, tier, decision, ts_ms FROM verdicts")
            .fetch_all()
            .await
            .expect("verdicts");
        panic!(
            "no critical event on the live view within 30 s; verdicts now {rows:?} at {}",
            sightline_dashboard::now_ms()
        );
    };
    let lag = critical.1.duration_since(sent);
    println!(
        "live view: the CRITICAL event arrived {} ms after the call",
        lag.as_millis()
    );
    assert!(
        lag <= Duration::from_secs(5),
        "the critical event took {lag:?}"
    );
    assert!(
        critical.0.contains("\"user_id\":\"dana\""),
        "{}",
        critical.0
    );
    assert!(!critical.0.contains(AWS_KEY_ID));

    // The incident, worked from the dashboard: PagerDuty is acknowledged, then resolved.
    let pages = r.pager.wait_until(WAIT, |q| !q.is_empty()).await;
    assert_eq!(
        pages[0].json()["event_action"],
        "trigger",
        "{}",
        procs[3].tail()
    );
    let dedup_key = pages[0].json()["dedup_key"]
        .as_str()
        .expect("dedup_key")
        .to_string();
    let id = sightline_testkit::eventually("the incident on the dashboard", WAIT, || async {
        let (_, body) = get(&format!("{}/api/v1/incidents", server.url), Some(key)).await;
        body["items"][0]["incident_id"].as_str().map(str::to_string)
    })
    .await;
    assert_eq!(dedup_key, format!("sightline:{id}"));
    let act = |action: &'static str| {
        let url = format!("{}/api/v1/incidents/{id}/actions", server.url);
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&serde_json::json!({"action": action}))
                .send()
                .await
                .expect("act")
                .status()
                .as_u16()
        }
    };
    assert_eq!(act("ack").await, 202);
    let pages = r.pager.wait_until(WAIT, |q| q.len() >= 2).await;
    assert_eq!(
        pages[1].json(),
        serde_json::json!({"routing_key": ROUTING_KEY, "event_action": "acknowledge", "dedup_key": dedup_key})
    );
    // The dashboard reads the new status back from ClickHouse, then allows the next step.
    sightline_testkit::eventually("INVESTIGATING on the dashboard", WAIT, || async {
        let (_, body) = get(&format!("{}/api/v1/incidents/{id}", server.url), Some(key)).await;
        (body["incident"]["status"] == "INVESTIGATING").then_some(())
    })
    .await;
    assert_eq!(
        act("ack").await,
        409,
        "the workflow refuses a second acknowledgement"
    );
    // Assignment and a note go the same way, and show in the history.
    let send = |body: serde_json::Value| {
        let url = format!("{}/api/v1/incidents/{id}/actions", server.url);
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .expect("act")
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        send(serde_json::json!({"action": "assign", "assignee": "sam"})).await,
        202
    );
    assert_eq!(
        send(serde_json::json!({"action": "note", "note": "rotated the key"})).await,
        202
    );
    assert_eq!(
        send(serde_json::json!({"action": "assign"})).await,
        400,
        "assign needs an assignee"
    );
    sightline_testkit::eventually(
        "the assignment and the note on the dashboard",
        WAIT,
        || async {
            let (_, body) = get(&format!("{}/api/v1/incidents/{id}", server.url), Some(key)).await;
            let notes = body["events"].as_array().map_or(0, |e| {
                e.iter().filter(|e| e["note"] == "rotated the key").count()
            });
            (body["incident"]["assignee"] == "sam" && notes == 1).then_some(())
        },
    )
    .await;
    assert_eq!(act("resolve").await, 202);
    let pages = r.pager.wait_until(WAIT, |q| q.len() >= 3).await;
    assert_eq!(
        pages[2].json(),
        serde_json::json!({"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": dedup_key})
    );
    let (_, body) = sightline_testkit::eventually("RESOLVED with its history", WAIT, || async {
        let got = get(&format!("{}/api/v1/incidents/{id}", server.url), Some(key)).await;
        (got.1["incident"]["status"] == "RESOLVED").then_some(got)
    })
    .await;
    let actors: Vec<&str> = body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["actor"].as_str().unwrap_or(""))
        .collect();
    assert!(
        actors.iter().filter(|a| **a == "jordan").count() >= 2,
        "the actions are jordan's: {actors:?}"
    );
    assert_eq!(r.slack.requests().len(), 1, "Slack heard once");
    reader.abort();
    server.stop().await;
    shim_task.stop().await.expect("shim");
    sink.stop().await.expect("sink");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sightline_export_writes_the_scoped_calls_to_a_file_whole() {
    let env = TestEnv::new(1).await.expect("env");
    let calls = seed_calls(sightline_dashboard::now_ms());
    seed(&env, &calls).await;
    let server = Server::start(config(&env)).await;
    let dir = std::env::temp_dir().join(sightline_testkit::unique("export"));
    std::fs::create_dir_all(&dir).expect("dir");
    let args = |format: &str, out: &str| sightline_cli::export::ExportArgs {
        url: server.url.clone(),
        from: None,
        to: None,
        format: format.into(),
        out: dir.join(out),
        quiet: true,
    };
    // A lead exports their team's calls: exactly those, with user attribution.
    let lead = &PEOPLE[2];
    let expected = calls.iter().filter(|c| visible(lead, c)).count() as u64;
    let done = sightline_cli::export::run(&args("csv", "team.csv"), lead.key)
        .await
        .expect("export");
    assert_eq!(done.rows, expected);
    let text = std::fs::read_to_string(dir.join("team.csv")).expect("file");
    let mut lines = text.lines();
    assert!(lines
        .next()
        .is_some_and(|h| h.contains("user_id") && h.contains("call_id")));
    assert!(lines.all(|l| l.contains("\"payments\"") && l.contains("\"acme\"")));
    let jsonl = sightline_cli::export::run(&args("jsonl", "team.jsonl"), lead.key)
        .await
        .expect("jsonl");
    assert_eq!(jsonl.rows, expected);
    // Refusals are errors with the dashboard's reason, and leave no file.
    let err = sightline_cli::export::run(&args("xml", "bad.xml"), lead.key)
        .await
        .expect_err("bad format");
    assert!(err.to_string().contains("not csv or jsonl"), "{err}");
    let err = sightline_cli::export::run(&args("csv", "nope.csv"), "k-forged")
        .await
        .expect_err("bad key");
    assert!(err.to_string().contains("401"), "{err}");
    assert!(!dir.join("nope.csv").exists());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signs_in_once_and_gets_a_session_cookie() {
    let env = TestEnv::new(1).await.expect("env");
    let server = Server::start(config(&env)).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let sign_in = |key: &str| {
        http.post(format!("{}/login", server.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("key={key}"))
            .send()
    };
    let signed = sign_in("k-acme-jordan").await.expect("login");
    assert_eq!(signed.status(), 303);
    let cookie = signed.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Secure"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("k-acme-jordan"),
        "the key is not the session"
    );
    let session = cookie.split(';').next().expect("pair").to_string();
    let page = http
        .get(format!("{}/dashboard", server.url))
        .header("cookie", &session)
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .expect("html")
        .contains("jordan · admin · acme"));
    assert_eq!(sign_in("k-wrong").await.expect("login").status(), 401);
    // A JWT signs in too, its role from the `role` claim; one signed with another key does not.
    let token = |secret: &str, role: &str| {
        let claims = serde_json::json!({"sub": "morgan", "tenant": "acme", "team": "payments",
            "role": role, "exp": sightline_dashboard::now_ms() / 1000 + 600});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).expect("key"),
        )
        .expect("token")
    };
    let (status, me) = get(
        &format!("{}/api/v1/me", server.url),
        Some(&token(JWT_SECRET, "lead")),
    )
    .await;
    assert_eq!((status, me["role"].as_str()), (200, Some("lead")), "{me}");
    let forged = token("another-secret-that-is-at-least-32-bytes", "super_admin");
    assert_eq!(
        get(&format!("{}/api/v1/me", server.url), Some(&forged))
            .await
            .0,
        401
    );
    let by_token = sign_in(&token(JWT_SECRET, "lead")).await.expect("login");
    assert_eq!(by_token.status(), 303, "a token signs in at /login too");
    // A state change a browser marks as cross-site is refused, session or not.
    let forged = http
        .post(format!("{}/api/v1/feedback", server.url))
        .header("cookie", &session)
        .header("sec-fetch-site", "cross-site")
        .json(&serde_json::json!({"verdict_id": "v", "position": 0, "false_positive": true}))
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 403);
    let out = http
        .post(format!("{}/logout", server.url))
        .send()
        .await
        .expect("logout");
    assert!(out.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .contains("Max-Age=0"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Refused before sign-in, the cross-site request has no tenant: a super admin sees it.
    let (_, log) = get(&format!("{}/api/v1/audit", server.url), Some("k-root")).await;
    let results: Vec<(String, String)> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_string(),
                e["result"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        results.contains(&("sign-in".into(), "ok".into())),
        "{results:?}"
    );
    assert!(
        results.contains(&("feedback".into(), "denied".into())),
        "{results:?}"
    );
    server.stop().await;
}
