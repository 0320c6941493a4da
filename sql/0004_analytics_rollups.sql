-- The analytics schema, part 2: incident state, rollups fed on insert by materialized views,
-- and the stable views analysts and BI tools read. None of these is partitioned by day:
-- retention never drops them. Each rollup counts what its raw tables hold exactly once, as
-- long as the sink inserts each fact once (see sql/README.md, "Exact counts").

-- Latest state of each incident: the event with the highest seq wins (merges are eventual:
-- read with FINAL or argMax, as v_open_incidents_summary does).
CREATE TABLE incidents
(
    incident_id         String,
    seq                 Int64,
    tenant_id           String,
    user_id             String,
    rule                String,
    dedupe_key          String,
    severity            String,
    category            String,
    status              String,
    title               String,
    first_seen_ms       Int64,
    last_seen_ms        Int64,
    occurrences         Int64,
    assignee            String,
    closed_at_ms        Nullable(Int64),
    updated_ms          UInt64
)
ENGINE = ReplacingMergeTree(seq)
ORDER BY (tenant_id, incident_id);

CREATE MATERIALIZED VIEW incidents_mv TO incidents AS
SELECT incident_id, seq, tenant_id, user_id, rule, dedupe_key, severity, category, status, title,
       first_seen_ms, last_seen_ms, occurrences, assignee, closed_at_ms, ts_ms AS updated_ms
FROM incident_events;

-- Which calls each incident is about (many to many): TRIGGER, RELATED or CONTEXT.
CREATE TABLE incident_calls
(
    tenant_id           String,
    incident_id         String,
    call_id             String,
    link_event_id       String,
    reason              String,
    at_ms               Int64
)
ENGINE = ReplacingMergeTree()
ORDER BY (tenant_id, incident_id, call_id, reason);

CREATE MATERIALIZED VIEW incident_calls_mv TO incident_calls AS
SELECT tenant_id, incident_id, call_id, link_event_id, reason, at_ms
FROM incident_events
ARRAY JOIN link_call_ids AS call_id, link_event_ids AS link_event_id, link_reasons AS reason, link_at_ms AS at_ms;

-- Per user per day. Calls, tokens, cost and latency come from llm_calls; tiers and
-- redactions from verdicts (a RESAMPLE's inherited verdict is not counted again).
CREATE TABLE user_daily
(
    tenant_id           String,
    user_id             String,
    day                 Date,
    team_id             String,
    calls               AggregateFunction(count),
    logical_requests    AggregateFunction(sum, UInt64),
    blocked             AggregateFunction(sum, UInt64),
    errors              AggregateFunction(sum, UInt64),
    input_tokens        AggregateFunction(sum, UInt64),
    output_tokens       AggregateFunction(sum, UInt64),
    cost_usd_micros     AggregateFunction(sum, Int64),
    latency_ms          AggregateFunction(quantiles(0.5, 0.95, 0.99), UInt64),
    conversations       AggregateFunction(uniqExactIf, String, UInt8)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, user_id, day, team_id);

CREATE MATERIALIZED VIEW user_daily_calls_mv TO user_daily AS
SELECT tenant_id, user_id, event_date AS day, team_id,
       countState() AS calls,
       sumState(toUInt64(resample_role != 'RESAMPLE')) AS logical_requests,
       sumState(toUInt64(status = 'BLOCKED')) AS blocked,
       sumState(toUInt64(status IN ('FAILED', 'UPSTREAM_ERROR'))) AS errors,
       sumState(input_tokens) AS input_tokens,
       sumState(output_tokens) AS output_tokens,
       sumState(cost_usd_micros) AS cost_usd_micros,
       quantilesState(0.5, 0.95, 0.99)(latency_ms) AS latency_ms,
       uniqExactIfState(conversation_id, conversation_id != '') AS conversations
FROM llm_calls
GROUP BY tenant_id, user_id, day, team_id;

-- A materialized view on ClickHouse 18.16 must fill every column of its target, so the
-- verdict counts have their own table; v_daily_ai_call_stats joins the two.
CREATE TABLE user_daily_verdicts
(
    tenant_id           String,
    user_id             String,
    day                 Date,
    team_id             String,
    verdicts            UInt64,
    info                UInt64,
    warning             UInt64,
    critical            UInt64,
    redacted            UInt64
)
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, user_id, day, team_id);

CREATE MATERIALIZED VIEW user_daily_verdicts_mv TO user_daily_verdicts AS
SELECT tenant_id, user_id, event_date AS day, team_id,
       count() AS verdicts,
       sum(toUInt64(tier = 'INFO')) AS info,
       sum(toUInt64(tier = 'WARNING')) AS warning,
       sum(toUInt64(tier = 'CRITICAL')) AS critical,
       sum(toUInt64(has(actions, 'redact'))) AS redacted
FROM verdicts
WHERE decision != 'INHERITED'
GROUP BY tenant_id, user_id, day, team_id;

-- Per team per day: the same, plus distinct users (block rate is blocked / calls).
CREATE TABLE team_daily
(
    tenant_id           String,
    team_id             String,
    day                 Date,
    calls               AggregateFunction(count),
    logical_requests    AggregateFunction(sum, UInt64),
    blocked             AggregateFunction(sum, UInt64),
    errors              AggregateFunction(sum, UInt64),
    input_tokens        AggregateFunction(sum, UInt64),
    output_tokens       AggregateFunction(sum, UInt64),
    cost_usd_micros     AggregateFunction(sum, Int64),
    latency_ms          AggregateFunction(quantiles(0.5, 0.95, 0.99), UInt64),
    conversations       AggregateFunction(uniqExactIf, String, UInt8),
    users               AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, team_id, day);

CREATE MATERIALIZED VIEW team_daily_calls_mv TO team_daily AS
SELECT tenant_id, team_id, event_date AS day,
       countState() AS calls,
       sumState(toUInt64(resample_role != 'RESAMPLE')) AS logical_requests,
       sumState(toUInt64(status = 'BLOCKED')) AS blocked,
       sumState(toUInt64(status IN ('FAILED', 'UPSTREAM_ERROR'))) AS errors,
       sumState(input_tokens) AS input_tokens,
       sumState(output_tokens) AS output_tokens,
       sumState(cost_usd_micros) AS cost_usd_micros,
       quantilesState(0.5, 0.95, 0.99)(latency_ms) AS latency_ms,
       uniqExactIfState(conversation_id, conversation_id != '') AS conversations,
       uniqExactState(user_id) AS users
FROM llm_calls
GROUP BY tenant_id, team_id, day;

CREATE TABLE team_daily_verdicts
(
    tenant_id           String,
    team_id             String,
    day                 Date,
    verdicts            UInt64,
    info                UInt64,
    warning             UInt64,
    critical            UInt64,
    redacted            UInt64
)
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, team_id, day);

CREATE MATERIALIZED VIEW team_daily_verdicts_mv TO team_daily_verdicts AS
SELECT tenant_id, team_id, event_date AS day,
       count() AS verdicts,
       sum(toUInt64(tier = 'INFO')) AS info,
       sum(toUInt64(tier = 'WARNING')) AS warning,
       sum(toUInt64(tier = 'CRITICAL')) AS critical,
       sum(toUInt64(has(actions, 'redact'))) AS redacted
FROM verdicts
WHERE decision != 'INHERITED'
GROUP BY tenant_id, team_id, day;

-- Per rule per day: how often each rule found something ("top triggered rules"); a
-- resample's inherited findings are not counted again.
CREATE TABLE rule_daily
(
    tenant_id           String,
    day                 Date,
    rule_id             String,
    category            String,
    tier                String,
    team_id             String,
    triggers            UInt64
)
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, rule_id, category, tier, team_id);

CREATE MATERIALIZED VIEW rule_daily_mv TO rule_daily AS
SELECT tenant_id, event_date AS day, rule_id, category, tier, team_id, count() AS triggers
FROM findings
WHERE decision != 'INHERITED'
GROUP BY tenant_id, day, rule_id, category, tier, team_id;

-- Per capability × provider × day (the playbook's ai_audit_daily).
CREATE TABLE capability_daily
(
    tenant_id           String,
    day                 Date,
    capability          String,
    provider            String,
    interactions        AggregateFunction(count),
    workspaces          AggregateFunction(uniqExactIf, String, UInt8),
    users               AggregateFunction(uniqExact, String),
    errors              AggregateFunction(sum, UInt64),
    latency_ms          AggregateFunction(quantiles(0.5, 0.95, 0.99), UInt64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, capability, provider);

CREATE MATERIALIZED VIEW capability_daily_mv TO capability_daily AS
SELECT tenant_id, event_date AS day, capability, provider,
       countState() AS interactions,
       uniqExactIfState(workspace_id, workspace_id != '') AS workspaces,
       uniqExactState(user_id) AS users,
       sumState(toUInt64(status IN ('FAILED', 'UPSTREAM_ERROR'))) AS errors,
       quantilesState(0.5, 0.95, 0.99)(latency_ms) AS latency_ms
FROM llm_calls
GROUP BY tenant_id, day, capability, provider;

-- Per workspace per day (ai_audit_workspace_stats).
CREATE TABLE workspace_daily
(
    tenant_id           String,
    day                 Date,
    workspace_id        String,
    interactions        AggregateFunction(count),
    users               AggregateFunction(uniqExact, String),
    capabilities        AggregateFunction(uniqExact, String),
    errors              AggregateFunction(sum, UInt64),
    input_tokens        AggregateFunction(sum, UInt64),
    output_tokens       AggregateFunction(sum, UInt64),
    cost_usd_micros     AggregateFunction(sum, Int64),
    latency_ms          AggregateFunction(quantiles(0.5, 0.95, 0.99), UInt64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, workspace_id);

CREATE MATERIALIZED VIEW workspace_daily_mv TO workspace_daily AS
SELECT tenant_id, event_date AS day, workspace_id,
       countState() AS interactions,
       uniqExactState(user_id) AS users,
       uniqExactState(capability) AS capabilities,
       sumState(toUInt64(status IN ('FAILED', 'UPSTREAM_ERROR'))) AS errors,
       sumState(input_tokens) AS input_tokens,
       sumState(output_tokens) AS output_tokens,
       sumState(cost_usd_micros) AS cost_usd_micros,
       quantilesState(0.5, 0.95, 0.99)(latency_ms) AS latency_ms
FROM llm_calls
GROUP BY tenant_id, day, workspace_id;

-- Per conversation: first and last seen and calls; and its highest tier (0 none … 3
-- CRITICAL) in conversation_tiers.
CREATE TABLE conversation_stats
(
    tenant_id           String,
    conversation_id     String,
    user_id             AggregateFunction(any, String),
    first_seen_ms       AggregateFunction(min, UInt64),
    last_seen_ms        AggregateFunction(max, UInt64),
    calls               AggregateFunction(count)
)
ENGINE = AggregatingMergeTree()
ORDER BY (tenant_id, conversation_id);

CREATE MATERIALIZED VIEW conversation_stats_calls_mv TO conversation_stats AS
SELECT tenant_id, conversation_id,
       anyState(user_id) AS user_id,
       minState(started_ms) AS first_seen_ms,
       maxState(ts_ms) AS last_seen_ms,
       countState() AS calls
FROM llm_calls
WHERE conversation_id != ''
GROUP BY tenant_id, conversation_id;

CREATE TABLE conversation_tiers
(
    tenant_id           String,
    conversation_id     String,
    highest_tier        AggregateFunction(max, UInt8)
)
ENGINE = AggregatingMergeTree()
ORDER BY (tenant_id, conversation_id);

CREATE MATERIALIZED VIEW conversation_tiers_mv TO conversation_tiers AS
SELECT tenant_id, conversation_id,
       maxState(toUInt8(multiIf(tier = 'CRITICAL', 3, tier = 'WARNING', 2, tier = 'INFO', 1, 0))) AS highest_tier
FROM verdicts
WHERE conversation_id != ''
GROUP BY tenant_id, conversation_id;

-- Per tenant per day per model: cost and tokens, for budgets.
CREATE TABLE tenant_model_daily
(
    tenant_id           String,
    day                 Date,
    provider            String,
    model               String,
    calls               UInt64,
    input_tokens        UInt64,
    output_tokens       UInt64,
    cache_read_tokens   UInt64,
    cache_write_tokens  UInt64,
    cost_usd_micros     Int64
)
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, provider, model);

CREATE MATERIALIZED VIEW tenant_model_daily_mv TO tenant_model_daily AS
SELECT tenant_id, event_date AS day, provider, model,
       count() AS calls,
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens,
       sum(cache_read_tokens) AS cache_read_tokens,
       sum(cache_write_tokens) AS cache_write_tokens,
       sum(cost_usd_micros) AS cost_usd_micros
FROM llm_calls
GROUP BY tenant_id, day, provider, model;

-- Per tenant per 15 minutes: calls and errors, for the error-rate and silence checks.
CREATE TABLE tenant_quarter_hourly
(
    tenant_id           String,
    bucket              DateTime,
    calls               UInt64,
    errors              UInt64
)
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(bucket)
ORDER BY (tenant_id, bucket);

CREATE MATERIALIZED VIEW tenant_quarter_hourly_mv TO tenant_quarter_hourly AS
SELECT tenant_id, toStartOfFifteenMinutes(toDateTime(intDiv(ts_ms, 1000))) AS bucket,
       count() AS calls,
       sum(toUInt64(status IN ('FAILED', 'UPSTREAM_ERROR'))) AS errors
FROM llm_calls
GROUP BY tenant_id, bucket;

-- When each capability, model and attachment media type was first seen per tenant.
CREATE TABLE tenant_first_seen
(
    tenant_id           String,
    dimension           String,
    value               String,
    first_seen_ms       AggregateFunction(min, UInt64)
)
ENGINE = AggregatingMergeTree()
ORDER BY (tenant_id, dimension, value);

CREATE MATERIALIZED VIEW tenant_first_seen_calls_mv TO tenant_first_seen AS
SELECT tenant_id, dimension, value, minState(ts_ms) AS first_seen_ms
FROM llm_calls
ARRAY JOIN ['capability', 'model'] AS dimension, [capability, model] AS value
WHERE value != ''
GROUP BY tenant_id, dimension, value;

CREATE MATERIALIZED VIEW tenant_first_seen_attachments_mv TO tenant_first_seen AS
SELECT tenant_id, 'attachment_type' AS dimension, if(media_type = '', kind, media_type) AS value,
       minState(ts_ms) AS first_seen_ms
FROM attachments
GROUP BY tenant_id, dimension, value;

-- Stable views for analysts and BI tools (names from the source documents).

CREATE VIEW v_daily_ai_call_stats AS
SELECT day, tenant_id, user_id, team_id, calls, logical_requests, blocked, errors,
       verdicts, info, warning, critical, redacted,
       input_tokens, output_tokens, cost_usd_micros, latency_ms_p50_p95_p99, conversations
FROM
(
    SELECT day, tenant_id, user_id, team_id,
           countMerge(calls) AS calls,
           sumMerge(logical_requests) AS logical_requests,
           sumMerge(blocked) AS blocked,
           sumMerge(errors) AS errors,
           sumMerge(input_tokens) AS input_tokens,
           sumMerge(output_tokens) AS output_tokens,
           sumMerge(cost_usd_micros) AS cost_usd_micros,
           quantilesMerge(0.5, 0.95, 0.99)(latency_ms) AS latency_ms_p50_p95_p99,
           uniqExactIfMerge(conversations) AS conversations
    FROM user_daily
    GROUP BY day, tenant_id, user_id, team_id
) AS call_counts
ANY LEFT JOIN
(
    SELECT day, tenant_id, user_id, team_id,
           sum(verdicts) AS verdicts, sum(info) AS info, sum(warning) AS warning,
           sum(critical) AS critical, sum(redacted) AS redacted
    FROM user_daily_verdicts
    GROUP BY day, tenant_id, user_id, team_id
) AS verdict_counts USING (day, tenant_id, user_id, team_id);

CREATE VIEW v_open_incidents_summary AS
SELECT tenant_id, severity, category,
       count() AS open_incidents,
       sum(occurrences) AS occurrences,
       min(first_seen_ms) AS oldest_first_seen_ms,
       max(last_seen_ms) AS latest_seen_ms
FROM
(
    SELECT tenant_id, incident_id,
           argMax(status, seq) AS status,
           argMax(severity, seq) AS severity,
           argMax(category, seq) AS category,
           argMax(occurrences, seq) AS occurrences,
           argMax(first_seen_ms, seq) AS first_seen_ms,
           argMax(last_seen_ms, seq) AS last_seen_ms
    FROM incidents
    GROUP BY tenant_id, incident_id
)
WHERE status IN ('OPEN', 'INVESTIGATING')
GROUP BY tenant_id, severity, category;

CREATE VIEW ai_audit_daily AS
SELECT day, tenant_id, capability, provider,
       countMerge(interactions) AS interactions,
       uniqExactIfMerge(workspaces) AS workspaces,
       uniqExactMerge(users) AS users,
       sumMerge(errors) AS errors,
       if(interactions = 0, 0, errors / interactions) AS error_rate,
       quantilesMerge(0.5, 0.95, 0.99)(latency_ms) AS latency_ms_p50_p95_p99
FROM capability_daily
GROUP BY day, tenant_id, capability, provider;

CREATE VIEW ai_audit_workspace_stats AS
SELECT day, tenant_id, workspace_id,
       countMerge(interactions) AS interactions,
       uniqExactMerge(users) AS users,
       uniqExactMerge(capabilities) AS capabilities,
       sumMerge(errors) AS errors,
       sumMerge(input_tokens) AS input_tokens,
       sumMerge(output_tokens) AS output_tokens,
       sumMerge(cost_usd_micros) AS cost_usd_micros,
       quantilesMerge(0.5, 0.95, 0.99)(latency_ms) AS latency_ms_p50_p95_p99
FROM workspace_daily
GROUP BY day, tenant_id, workspace_id;

-- Daily volume per capability against the median of the 14 days before it (days with no
-- calls are not in the rollup, so they do not count towards the median). SPIKE above
-- 1.75×, DROP below 0.4×; NEW when there is no history yet.
CREATE VIEW ai_audit_capability_anomalies AS
SELECT tenant_id, capability, day, interactions, baseline_days, median_14d,
       if(baseline_days = 0, 0, interactions / median_14d) AS ratio,
       multiIf(baseline_days = 0, 'NEW',
               interactions > 1.75 * median_14d, 'SPIKE',
               interactions < 0.4 * median_14d, 'DROP',
               'NORMAL') AS status
FROM
(
    SELECT tenant_id, capability, day, countMerge(interactions) AS interactions
    FROM capability_daily
    GROUP BY tenant_id, capability, day
) AS daily
ANY LEFT JOIN
(
    SELECT tenant_id, capability, past_day + lag_days AS day,
           count() AS baseline_days,
           quantileExact(0.5)(past) AS median_14d
    FROM
    (
        SELECT tenant_id, capability, day AS past_day, countMerge(interactions) AS past
        FROM capability_daily
        GROUP BY tenant_id, capability, past_day
    )
    ARRAY JOIN arrayMap(x -> x + 1, range(14)) AS lag_days
    GROUP BY tenant_id, capability, day
) AS history USING (tenant_id, capability, day);
