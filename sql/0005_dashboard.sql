-- The dashboard's own tables: the access audit log and false-positive feedback on findings;
-- and the key incident commands are sent under.

-- Every dashboard view, API read, export, incident action and refused request: who, what,
-- when, from where, and the result. Never holds tokens or keys (requests carry them in
-- headers, which are not logged) nor query values beyond the path and its filters.
CREATE TABLE access_audit
(
    audit_id            String,
    ts_ms               UInt64,
    event_date          Date DEFAULT toDate(intDiv(ts_ms, 1000)),
    tenant_id           String,
    user_id             String,
    role                String,
    action              String,
    method              String,
    path                String,
    status              UInt16,
    result              String,
    peer                String,
    user_agent          String
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (tenant_id, ts_ms, audit_id);

-- A person's verdict on one finding (rule and location; never the value): a false positive
-- or not. The latest mark per finding counts.
CREATE TABLE finding_feedback
(
    tenant_id           String,
    verdict_id          String,
    position            UInt32,
    rule_id             String,
    team_id             String,
    user_id             String,
    false_positive      UInt8,
    marked_by           String,
    ts_ms               UInt64,
    event_date          Date DEFAULT toDate(intDiv(ts_ms, 1000))
)
ENGINE = ReplacingMergeTree(ts_ms)
ORDER BY (tenant_id, verdict_id, position);

-- The Kafka key of an incident's events: its commands are sent under the same key (rows
-- stored before this migration read it as empty).
ALTER TABLE incident_events ADD COLUMN partition_key String AFTER link_at_ms;
