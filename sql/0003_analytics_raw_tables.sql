-- The analytics schema, part 1: one raw table per fact, written by processors/sink.
-- Replaces the per-event llm_calls of 0001 (ClickHouse is a projection of the topics;
-- `sightline replay` rebuilds it). Conventions, explained in sql/README.md:
--   * every row has tenant_id and _topic/_partition/_offset (where it was read);
--   * raw tables are PARTITION BY event_date, so retention drops whole days;
--   * absent strings are '' and absent numbers NULL; times are epoch millis (UInt64).
DROP TABLE IF EXISTS llm_call_summary;

DROP TABLE IF EXISTS sink_progress_llm_calls_mv;

DROP TABLE IF EXISTS llm_calls;

-- The old table's resume points; the new llm_calls starts afresh.
ALTER TABLE sink_progress DELETE WHERE table_name = 'llm_calls';

-- One row per call, written when its RESPONSE arrives (the shim builds the RESPONSE from
-- the REQUEST, so it carries both: who, where, what was asked for, and how it ended).
CREATE TABLE llm_calls
(
    call_id             String,
    event_id            String,
    logical_id          String,
    resample_role       String,
    resample_index      Int32,
    tenant_id           String,
    user_id             String,
    team_id             String,
    conversation_id     String,
    workspace_id        String,
    capability          String,
    api_key_id          String,
    provider            String,
    model               String,
    endpoint            String,
    streaming           UInt8,
    started_ms          UInt64,
    ts_ms               UInt64,
    event_date          Date DEFAULT toDate(intDiv(ts_ms, 1000)),
    status              String,
    http_status         Nullable(Int32),
    error               String,
    input_tokens        UInt64,
    output_tokens       UInt64,
    cache_read_tokens   UInt64,
    cache_write_tokens  UInt64,
    cost_usd_micros     Int64,
    latency_ms          UInt64,
    ttft_ms             Nullable(Int64),
    stop_reason         String,
    request_bytes       Nullable(Int64),
    response_bytes      Nullable(Int64),
    attachment_count    UInt32,
    user_agent          String,
    _topic              String,
    _partition          Int32,
    _offset             Int64,
    _inserted_at        DateTime DEFAULT now()
)
ENGINE = MergeTree()
PARTITION BY event_date
ORDER BY (tenant_id, user_id, ts_ms, call_id);

-- Redacted message text, one row per message of each REQUEST and RESPONSE event.
CREATE TABLE llm_messages
(
    event_id            String,
    call_id             String,
    kind                String,
    position            UInt32,
    role                String,
    text                String,
    tenant_id           String,
    user_id             String,
    conversation_id     String,
    ts_ms               UInt64,
    event_date          Date DEFAULT toDate(intDiv(ts_ms, 1000)),
    _topic              String,
    _partition          Int32,
    _offset             Int64
)
ENGINE = MergeTree()
PARTITION BY event_date
ORDER BY (tenant_id, conversation_id, ts_ms, call_id, kind, position);

-- Attachment metadata of REQUEST events; never the bytes.
CREATE TABLE attachments
(
    event_id            String,
    call_id             String,
    position            UInt32,
    kind                String,
    media_type          String,
    source              String,
    size_bytes          Nullable(Int64),
    digest              String,
    width               Nullable(Int32),
    height              Nullable(Int32),
    tenant_id           String,
    user_id             String,
    conversation_id     String,
    ts_ms               UInt64,
    event_date          Date DEFAULT toDate(intDiv(ts_ms, 1000)),
    _topic              String,
    _partition          Int32,
    _offset             Int64
)
ENGINE = MergeTree()
PARTITION BY event_date
ORDER BY (tenant_id, conversation_id, ts_ms, call_id, position);

-- One row per verdict (classify's decision on one event).
CREATE TABLE verdicts
(
    verdict_id          String,
    event_id            String,
    call_id             String,
    logical_id          String,
    kind                String,
    resample_role       String,
    decision            String,
    tenant_id           String,
    user_id             String,
    team_id             String,
    conversation_id     String,
    ts_ms               UInt64,
    event_date          Date DEFAULT toDate(intDiv(ts_ms, 1000)),
    tier                String,
    rules               Array(String),
    actions             Array(String),
    judge_status        String,
    policy_version      String,
    _topic              String,
    _partition          Int32,
    _offset             Int64
)
ENGINE = MergeTree()
PARTITION BY event_date
ORDER BY (tenant_id, user_id, ts_ms, verdict_id);

-- One row per finding of a verdict: where and what kind, with a keyed fingerprint; never
-- the value. A RESAMPLE's inherited verdict repeats its primary's findings (decision
-- INHERITED); rollups count them once.
CREATE TABLE findings
(
    verdict_id          String,
    call_id             String,
    kind                String,
    decision            String,
    position            UInt32,
    rule_id             String,
    category            String,
    tier                String,
    location            String,
    span_start          Int64,
    span_end            Int64,
    confidence          Float32,
    fingerprint         String,
    example             UInt8,
    tenant_id           String,
    user_id             String,
    team_id             String,
    conversation_id     String,
    ts_ms               UInt64,
    event_date          Date DEFAULT toDate(intDiv(ts_ms, 1000)),
    _topic              String,
    _partition          Int32,
    _offset             Int64
)
ENGINE = MergeTree()
PARTITION BY event_date
ORDER BY (tenant_id, rule_id, ts_ms, verdict_id, position);

-- Every change of every incident, in order (the incidents topic).
CREATE TABLE incident_events
(
    event_id            String,
    incident_id         String,
    seq                 Int64,
    event_type          String,
    tenant_id           String,
    user_id             String,
    rule                String,
    dedupe_key          String,
    severity            String,
    category            String,
    status              String,
    previous_status     String,
    title               String,
    first_seen_ms       Int64,
    last_seen_ms        Int64,
    occurrences         Int64,
    assignee            String,
    actor               String,
    note                String,
    closed_at_ms        Nullable(Int64),
    ts_ms               UInt64,
    event_date          Date DEFAULT toDate(intDiv(ts_ms, 1000)),
    link_call_ids       Array(String),
    link_event_ids      Array(String),
    link_reasons        Array(String),
    link_at_ms          Array(Int64),
    _topic              String,
    _partition          Int32,
    _offset             Int64
)
ENGINE = MergeTree()
PARTITION BY event_date
ORDER BY (tenant_id, incident_id, seq);

-- Every delivery outcome of every alert (the notifications topic).
CREATE TABLE notifications
(
    notification_id     String,
    outcome             String,
    destination         String,
    destination_kind    String,
    group_id            String,
    group_key           String,
    tenant_id           String,
    seq_from            Int64,
    seq                 Int64,
    alerts              Int64,
    delivery_id         String,
    merged_groups       Int32,
    attempts            Int32,
    http_status         Nullable(Int32),
    error               String,
    alert_source        String,
    alert_source_id     String,
    level               String,
    user_id             String,
    incident_id         String,
    ts_ms               UInt64,
    event_date          Date DEFAULT toDate(intDiv(ts_ms, 1000)),
    _topic              String,
    _partition          Int32,
    _offset             Int64
)
ENGINE = MergeTree()
PARTITION BY event_date
ORDER BY (tenant_id, destination, ts_ms, notification_id);

-- What the sink resumes from: the highest offset each table holds per source partition,
-- fed in the same insert as the rows.
CREATE MATERIALIZED VIEW sink_progress_llm_calls_mv TO sink_progress AS
SELECT 'llm_calls' AS table_name, _topic AS topic, _partition AS partition, max(_offset) AS offset
FROM llm_calls GROUP BY _topic, _partition;

CREATE MATERIALIZED VIEW sink_progress_llm_messages_mv TO sink_progress AS
SELECT 'llm_messages' AS table_name, _topic AS topic, _partition AS partition, max(_offset) AS offset
FROM llm_messages GROUP BY _topic, _partition;

CREATE MATERIALIZED VIEW sink_progress_attachments_mv TO sink_progress AS
SELECT 'attachments' AS table_name, _topic AS topic, _partition AS partition, max(_offset) AS offset
FROM attachments GROUP BY _topic, _partition;

CREATE MATERIALIZED VIEW sink_progress_verdicts_mv TO sink_progress AS
SELECT 'verdicts' AS table_name, _topic AS topic, _partition AS partition, max(_offset) AS offset
FROM verdicts GROUP BY _topic, _partition;

CREATE MATERIALIZED VIEW sink_progress_findings_mv TO sink_progress AS
SELECT 'findings' AS table_name, _topic AS topic, _partition AS partition, max(_offset) AS offset
FROM findings GROUP BY _topic, _partition;

CREATE MATERIALIZED VIEW sink_progress_incident_events_mv TO sink_progress AS
SELECT 'incident_events' AS table_name, _topic AS topic, _partition AS partition, max(_offset) AS offset
FROM incident_events GROUP BY _topic, _partition;

CREATE MATERIALIZED VIEW sink_progress_notifications_mv TO sink_progress AS
SELECT 'notifications' AS table_name, _topic AS topic, _partition AS partition, max(_offset) AS offset
FROM notifications GROUP BY _topic, _partition;
