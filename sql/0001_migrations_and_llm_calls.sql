-- One row per LlmEvent (REQUEST and RESPONSE) as published by the ingest shim.
-- Written by processors/sink. _topic/_partition/_offset make replays idempotent.
CREATE TABLE IF NOT EXISTS llm_calls
(
    event_id            String,
    call_id             String,
    kind                String,
    ts_ms               UInt64,
    event_date          Date DEFAULT toDate(intDiv(ts_ms, 1000)),
    event_time          DateTime DEFAULT toDateTime(intDiv(ts_ms, 1000)),
    tenant_id           String,
    user_id             String,
    team_id             Nullable(String),
    conversation_id     Nullable(String),
    provider            String,
    model               Nullable(String),
    endpoint            String,
    streaming           UInt8,
    message_roles       Array(String),
    message_texts       Array(String),
    attachment_kinds    Array(String),
    attachment_media_types Array(String),
    attachment_sizes    Array(Int64),
    attachment_sha256   Array(String),
    input_tokens        Nullable(Int64),
    output_tokens       Nullable(Int64),
    cache_read_tokens   Nullable(Int64),
    cache_write_tokens  Nullable(Int64),
    cost_usd_micros     Nullable(Int64),
    latency_ms          Nullable(Int64),
    ttft_ms             Nullable(Int64),
    status              String,
    http_status         Nullable(Int32),
    error               Nullable(String),
    finding_rules       Array(String),
    finding_categories  Array(String),
    finding_fingerprints Array(String),
    user_agent          Nullable(String),
    _topic              String,
    _partition          Int32,
    _offset             Int64,
    _inserted_at        DateTime DEFAULT now()
)
ENGINE = MergeTree()
PARTITION BY event_date
ORDER BY (tenant_id, user_id, ts_ms, event_id);

-- Highest offset stored in ClickHouse per source partition; the sink resumes from here.
CREATE TABLE IF NOT EXISTS sink_progress
(
    table_name  String,
    topic       String,
    partition   Int32,
    offset      Int64
)
ENGINE = ReplacingMergeTree(offset)
ORDER BY (table_name, topic, partition);

CREATE MATERIALIZED VIEW IF NOT EXISTS sink_progress_llm_calls_mv TO sink_progress AS
SELECT 'llm_calls' AS table_name, _topic AS topic, _partition AS partition, max(_offset) AS offset
FROM llm_calls
GROUP BY _topic, _partition;

-- One row per call: the REQUEST and RESPONSE events folded together. Stable for BI tools.
CREATE VIEW IF NOT EXISTS llm_call_summary AS
SELECT
    call_id,
    any(tenant_id)                                  AS tenant_id,
    any(user_id)                                    AS user_id,
    any(team_id)                                    AS team_id,
    any(conversation_id)                            AS conversation_id,
    any(provider)                                   AS provider,
    anyIf(model, kind = 'REQUEST')                  AS requested_model,
    any(endpoint)                                   AS endpoint,
    max(streaming)                                  AS streaming,
    minIf(ts_ms, kind = 'REQUEST')                  AS started_ms,
    maxIf(ts_ms, kind = 'RESPONSE')                 AS finished_ms,
    anyIf(status, kind = 'RESPONSE')                AS status,
    anyIf(http_status, kind = 'RESPONSE')           AS http_status,
    anyIf(input_tokens, kind = 'RESPONSE')          AS input_tokens,
    anyIf(output_tokens, kind = 'RESPONSE')         AS output_tokens,
    anyIf(cost_usd_micros, kind = 'RESPONSE')       AS cost_usd_micros,
    anyIf(latency_ms, kind = 'RESPONSE')            AS latency_ms,
    anyIf(ttft_ms, kind = 'RESPONSE')               AS ttft_ms
FROM llm_calls
GROUP BY call_id;
