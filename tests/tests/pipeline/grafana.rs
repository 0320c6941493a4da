//! The provisioned Grafana dashboards (crates/sightline-dashboard/grafana): every panel's SQL
//! runs on ClickHouse 18.16 against the migrated schema, with the plugin's two time macros
//! filled in; each dashboard has a unique uid and names only the provisioned data source.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sightline_testkit::TestEnv;

/// The only Grafana macros the panels may use, and what the test puts in their place (the
/// plugin expands them to `toDateTime(<unix seconds>)`).
const MACROS: [(&str, &str); 2] = [
    ("$__fromTime", "toDateTime('2026-01-01 00:00:00')"),
    ("$__toTime", "now()"),
];

/// The plugin the data source and every panel use.
const PLUGIN: &str = "grafana-clickhouse-datasource";

/// Two weeks of calls for two tenants, relative to now: `chat` and `code` every day, then
/// today `chat` spikes, `code` drops and `vision` (and calls without a capability) appear; plus
/// verdicts of every tier. Enough for every panel to return rows.
const SEED: [&str; 2] = [
    "INSERT INTO llm_calls (call_id, event_id, logical_id, resample_role, resample_index, \
     tenant_id, user_id, team_id, conversation_id, workspace_id, capability, api_key_id, \
     provider, model, endpoint, streaming, started_ms, ts_ms, status, http_status, error, \
     input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd_micros, \
     latency_ms, ttft_ms, stop_reason, request_bytes, response_bytes, attachment_count, \
     user_agent, _topic, _partition, _offset) \
     SELECT concat('g', toString(n)), concat('e', toString(n)), concat('g', toString(n)), \
     'PRIMARY', 0, if(n % 2 = 0, 'acme', 'globex'), concat('user-', toString(n % 5)), \
     'platform', concat('conv-', toString(n % 7)), concat('ws-', toString(n % 3)), \
     multiIf(i < 40, 'chat', i < 50, 'code', i < 53, 'vision', ''), '', \
     if(n % 3 = 0, 'OPENAI', 'ANTHROPIC'), 'model-x', 'POST /v1/messages', 0, ts - 300, ts, \
     if(n % 9 = 0, 'UPSTREAM_ERROR', 'OK'), 200, '', 10, 5, 0, 0, 100, 100 + (n % 50) * 10, \
     NULL, 'end_turn', 100, 200, 0, '', 'g', 0, toInt64(n) \
     FROM (SELECT number AS n, intDiv(number, 100) AS d, number % 100 AS i, \
     toUInt64(1000 * (toUInt64(toUnixTimestamp(now())) - 600 - d * 86400 - i * 10)) AS ts \
     FROM numbers(1500)) \
     WHERE (d = 0 AND (i <= 40 OR (i >= 50 AND i < 55))) \
     OR (d > 0 AND (i < 10 OR (i >= 40 AND i < 50)))",
    "INSERT INTO verdicts (verdict_id, event_id, call_id, logical_id, kind, resample_role, \
     decision, tenant_id, user_id, team_id, conversation_id, ts_ms, tier, rules, actions, \
     judge_status, policy_version, _topic, _partition, _offset) \
     SELECT concat('v', toString(number)), concat('q', toString(number)), \
     concat('g', toString(number)), concat('g', toString(number)), 'REQUEST', 'PRIMARY', \
     if(number % 5 = 0, 'INHERITED', 'EVALUATED'), 'acme', concat('user-', toString(number % 5)), \
     'platform', '', toUInt64(1000 * (toUInt64(toUnixTimestamp(now())) - 600 - number * 60)), \
     ['NONE', 'INFO', 'WARNING', 'CRITICAL'][number % 4 + 1], ['rule-a'], ['log'], '', 'p1', \
     'v', 0, toInt64(number) FROM numbers(40)",
];

fn grafana_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/sightline-dashboard/grafana")
}

/// Every dashboard JSON file, by file name, in name order.
fn dashboards() -> Vec<(String, Value)> {
    let dir = grafana_dir().join("dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no dashboards in {}", dir.display());
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            let json: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            (name, json)
        })
        .collect()
}

/// One query of one panel.
struct PanelQuery {
    panel: String,
    sql: String,
}

/// Walks the whole dashboard (rows, nested and collapsed panels alike): every `rawSql`, with
/// the title of the closest object that has one; and how many panels hold SQL.
fn collect_queries(node: &Value, title: &str, out: &mut Vec<PanelQuery>, panels: &mut usize) {
    match node {
        Value::Object(map) => {
            let title = map.get("title").and_then(Value::as_str).unwrap_or(title);
            let has_sql = |t: &Value| t.get("rawSql").and_then(Value::as_str).is_some();
            if map
                .get("targets")
                .and_then(Value::as_array)
                .is_some_and(|targets| targets.iter().any(has_sql))
            {
                *panels += 1;
            }
            if let Some(sql) = map.get("rawSql").and_then(Value::as_str) {
                out.push(PanelQuery {
                    panel: title.to_string(),
                    sql: sql.to_string(),
                });
            }
            for v in map.values() {
                collect_queries(v, title, out, panels);
            }
        }
        Value::Array(items) => {
            for v in items {
                collect_queries(v, title, out, panels);
            }
        }
        _ => {}
    }
}

/// Every value of a `datasource` key anywhere in the dashboard.
fn datasource_refs<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    match node {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "datasource" {
                    out.push(v);
                }
                datasource_refs(v, out);
            }
        }
        Value::Array(items) => {
            for v in items {
                datasource_refs(v, out);
            }
        }
        _ => {}
    }
}

/// The `uid:` of the provisioned data source (one data source in the file).
fn provisioned_datasource_uid() -> String {
    let path = grafana_dir().join("provisioning/datasources/clickhouse.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert!(
        text.contains(PLUGIN),
        "{} is not the {PLUGIN}",
        path.display()
    );
    let uids: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("uid:"))
        .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
        .collect();
    assert_eq!(uids.len(), 1, "one data source uid in {}", path.display());
    uids[0].clone()
}

#[test]
fn grafana_dashboards_have_unique_uids_and_use_the_provisioned_datasource() {
    let ds_uid = provisioned_datasource_uid();
    let mut uids = HashSet::new();
    for (file, dashboard) in dashboards() {
        let uid = dashboard
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{file} has no uid"));
        assert!(!uid.is_empty(), "{file} has an empty uid");
        assert!(
            uids.insert(uid.to_string()),
            "{file}: uid {uid} is used twice"
        );

        let mut refs = vec![];
        datasource_refs(&dashboard, &mut refs);
        assert!(!refs.is_empty(), "{file} names no data source");
        for r in refs {
            assert_eq!(
                r.get("uid").and_then(Value::as_str),
                Some(ds_uid.as_str()),
                "{file}: data source {r} is not the provisioned uid {ds_uid}"
            );
            assert_eq!(
                r.get("type").and_then(Value::as_str),
                Some(PLUGIN),
                "{file}: data source {r} is not the {PLUGIN}"
            );
        }

        let (mut queries, mut panels) = (vec![], 0);
        collect_queries(&dashboard, "", &mut queries, &mut panels);
        assert!(
            panels >= 4,
            "{file} has {panels} panels with SQL, want at least 4"
        );
        for q in &queries {
            // The HTTP client reads `?` as a bind placeholder.
            assert!(!q.sql.contains('?'), "{file} / {}: '?' in the SQL", q.panel);
            let mut rest = q.sql.clone();
            for (macro_name, _) in MACROS {
                rest = rest.replace(macro_name, "");
            }
            assert!(
                !rest.contains('$'),
                "{file} / {}: only $__fromTime and $__toTime may be used:\n{}",
                q.panel,
                q.sql
            );
        }
    }

    // The compose file mounts what the provider loads.
    let provider =
        std::fs::read_to_string(grafana_dir().join("provisioning/dashboards/sightline.yaml"))
            .expect("dashboard provider");
    assert!(provider.contains("path: /var/lib/grafana/dashboards"));
    let compose = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker-compose.yaml"),
    )
    .expect("docker-compose.yaml");
    assert!(compose.contains(
        "./crates/sightline-dashboard/grafana/dashboards:/var/lib/grafana/dashboards:ro"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_grafana_panel_query_runs_on_clickhouse_18() {
    let env = TestEnv::new(1).await.expect("env");
    let client = env.clickhouse.client();
    for stmt in SEED {
        client.query(stmt).execute().await.expect(stmt);
    }
    let mut failures = vec![];
    let mut ran = 0;
    for (file, dashboard) in dashboards() {
        let (mut queries, mut panels) = (vec![], 0);
        collect_queries(&dashboard, "", &mut queries, &mut panels);
        assert!(
            panels >= 4,
            "{file} has {panels} panels with SQL, want at least 4"
        );
        for q in queries {
            let mut sql = q.sql.clone();
            for (macro_name, value) in MACROS {
                sql = sql.replace(macro_name, value);
            }
            // Whatever the columns: the number of rows the panel would get.
            let wrapped = format!("SELECT count() FROM (\n{sql}\n) AS q");
            match client.query(&wrapped).fetch_one::<u64>().await {
                Ok(0) => failures.push(format!("{file} / {}: no rows\n{sql}", q.panel)),
                Ok(_) => ran += 1,
                Err(e) => failures.push(format!("{file} / {}: {e}\n{sql}", q.panel)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} panel queries failed ({ran} ran):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
