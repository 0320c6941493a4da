//! Every read the pages and the API make, each filtered by the caller's [`Scope`]. One
//! function per page returns the page's whole model; the HTML and the JSON are two
//! renderings of it.

use std::collections::HashMap;

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::auth::Denied;
use crate::cursor::{Cursor, Page};
use crate::range::{format_day, Range, DAY_MS};
use crate::scope::{Bind, Cols, Scope, Sql};
use crate::{Error, Result};

/// Reads from ClickHouse.
#[derive(Clone)]
pub struct Store {
    client: clickhouse::Client,
}

impl Store {
    /// A store on `client`.
    pub fn new(client: clickhouse::Client) -> Self {
        Self { client }
    }

    /// The client (exports stream through it, feedback is written with it).
    pub fn client(&self) -> &clickhouse::Client {
        &self.client
    }

    async fn rows<T>(&self, sql: &Sql) -> Result<Vec<T>>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        Ok(sql.query(&self.client).fetch_all::<T>().await?)
    }

    async fn one<T>(&self, sql: &Sql) -> Result<T>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        Ok(sql.query(&self.client).fetch_one::<T>().await?)
    }
}

/// `SELECT … FROM table WHERE <scope> AND <rest>`.
fn select(head: &str, scope: &Scope, cols: Cols, rest: &str, binds: Vec<Bind>) -> Result<Sql> {
    let filter = scope.filter(cols)?;
    let mut sql = Sql::new(head);
    sql.push(" WHERE ", []).append(&filter);
    if !rest.is_empty() {
        sql.push(" AND ", []).push(rest, binds);
    }
    Ok(sql)
}

fn day_binds(range: &Range) -> Vec<Bind> {
    vec![
        format_day(range.from_day).into(),
        format_day(range.to_day).into(),
    ]
}

const IN_RANGE: &str = "day BETWEEN toDate(?) AND toDate(?)";
/// Raw rows whose day is in the range (two binds: from, to).
pub(crate) const EVENTS_IN_RANGE: &str = "event_date BETWEEN toDate(?) AND toDate(?)";

/// Calls and their outcomes per day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Row)]
pub struct DayCalls {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Calls.
    pub calls: u64,
    /// Blocked calls.
    pub blocked: u64,
    /// Failed calls.
    pub errors: u64,
}

/// Security events by tier.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Row)]
pub struct Tiers {
    /// INFO verdicts.
    pub info: u64,
    /// WARNING verdicts.
    pub warning: u64,
    /// CRITICAL verdicts.
    pub critical: u64,
    /// Redacted calls.
    pub redacted: u64,
}

/// A count of something by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct Named {
    /// Name.
    pub name: String,
    /// Count.
    pub count: u64,
}

/// Calls per day and capability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct DayCapability {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Capability (`unknown` when the key names none).
    pub capability: String,
    /// Calls.
    pub calls: u64,
}

/// `/dashboard`.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// Range shown.
    pub range: Range,
    /// Calls in the last 24 hours.
    pub interactions_24h: u64,
    /// Users with calls in the last 7 days.
    pub active_users_7d: u64,
    /// Workspaces with calls in the last 7 days.
    pub active_workspaces_7d: u64,
    /// Calls in the range.
    pub calls: u64,
    /// Failed calls in the range.
    pub errors: u64,
    /// `errors / calls`.
    pub error_rate: f64,
    /// p95 latency over the range, ms.
    pub p95_latency_ms: f64,
    /// Per day.
    pub days: Vec<DayCalls>,
    /// Volume by capability per day.
    pub capabilities: Vec<DayCapability>,
    /// Calls by provider.
    pub providers: Vec<Named>,
    /// Security events by tier.
    pub tiers: Tiers,
}

#[derive(Row, Deserialize)]
struct Totals {
    calls: u64,
    errors: u64,
    latency: Vec<f64>,
}

impl Store {
    /// The overview, as far as `scope` reaches.
    pub async fn overview(&self, scope: &Scope, range: &Range, now_ms: i64) -> Result<Overview> {
        let since_24h = now_ms - DAY_MS;
        let week_from = format_day(now_ms.div_euclid(DAY_MS) - 6);
        let interactions_24h: u64 = self
            .one(&select(
                "SELECT toUInt64(count()) FROM llm_calls",
                scope,
                Cols::ALL,
                "event_date >= toDate(?) AND ts_ms >= ?",
                vec![
                    format_day(since_24h.div_euclid(DAY_MS)).into(),
                    since_24h.into(),
                ],
            )?)
            .await?;
        let active_users_7d: u64 = self
            .one(&select(
                "SELECT toUInt64(uniqExact(user_id)) FROM user_daily",
                scope,
                Cols::ALL,
                "day >= toDate(?)",
                vec![week_from.clone().into()],
            )?)
            .await?;
        let active_workspaces_7d: u64 = self
            .one(&select(
                "SELECT toUInt64(uniqExact(workspace_id)) FROM llm_calls",
                scope,
                Cols::ALL,
                "event_date >= toDate(?) AND workspace_id != ''",
                vec![week_from.into()],
            )?)
            .await?;
        let totals: Totals = self
            .one(&select(
                "SELECT toUInt64(countMerge(calls)), toUInt64(sumMerge(errors)), \
                 quantilesMerge(0.5, 0.95, 0.99)(latency_ms) FROM user_daily",
                scope,
                Cols::ALL,
                IN_RANGE,
                day_binds(range),
            )?)
            .await?;
        let mut days = self.days(scope, range, None).await?;
        fill_days(&mut days, range);
        let capabilities: Vec<DayCapability> = self
            .rows(&select(
                "SELECT toString(event_date) AS d, if(capability = '', 'unknown', capability) AS c, \
                 toUInt64(count()) FROM llm_calls",
                scope,
                Cols::ALL,
                &format!("{EVENTS_IN_RANGE} GROUP BY d, c ORDER BY d, c"),
                day_binds(range),
            )?)
            .await?;
        let providers: Vec<Named> = self
            .rows(&select(
                "SELECT provider, toUInt64(count()) AS n FROM llm_calls",
                scope,
                Cols::ALL,
                &format!("{EVENTS_IN_RANGE} GROUP BY provider ORDER BY n DESC, provider"),
                day_binds(range),
            )?)
            .await?;
        let tiers = self.tiers(scope, range, None).await?;
        Ok(Overview {
            range: *range,
            interactions_24h,
            active_users_7d,
            active_workspaces_7d,
            calls: totals.calls,
            errors: totals.errors,
            error_rate: ratio(totals.errors, totals.calls),
            p95_latency_ms: finite(totals.latency.get(1).copied().unwrap_or(0.0)).round(),
            days,
            capabilities,
            providers,
            tiers,
        })
    }

    /// Calls per day from `user_daily`, optionally for one user.
    async fn days(
        &self,
        scope: &Scope,
        range: &Range,
        user: Option<&str>,
    ) -> Result<Vec<DayCalls>> {
        let mut binds = day_binds(range);
        let mut rest = IN_RANGE.to_string();
        if let Some(u) = user {
            rest.push_str(" AND user_id = ?");
            binds.push(u.into());
        }
        rest.push_str(" GROUP BY day ORDER BY day");
        self.rows(&select(
            "SELECT toString(day), toUInt64(countMerge(calls)), toUInt64(sumMerge(blocked)), \
             toUInt64(sumMerge(errors)) FROM user_daily",
            scope,
            Cols::ALL,
            &rest,
            binds,
        )?)
        .await
    }

    /// Verdict tiers from `user_daily_verdicts`, optionally for one user.
    async fn tiers(&self, scope: &Scope, range: &Range, user: Option<&str>) -> Result<Tiers> {
        let mut binds = day_binds(range);
        let mut rest = IN_RANGE.to_string();
        if let Some(u) = user {
            rest.push_str(" AND user_id = ?");
            binds.push(u.into());
        }
        self.one(&select(
            "SELECT toUInt64(sum(info)), toUInt64(sum(warning)), toUInt64(sum(critical)), \
             toUInt64(sum(redacted)) FROM user_daily_verdicts",
            scope,
            Cols::ALL,
            &rest,
            binds,
        )?)
        .await
    }
}

/// Every day of the range in order, `zero(day)` where `rows` has none (`day_of` names a row's).
fn every_day<T>(rows: &mut Vec<T>, range: &Range, day_of: fn(&T) -> &str, zero: fn(String) -> T) {
    let mut have: HashMap<String, T> = rows
        .drain(..)
        .map(|r| (day_of(&r).to_string(), r))
        .collect();
    for day in range.from_day..=range.to_day {
        let name = format_day(day);
        rows.push(have.remove(&name).unwrap_or_else(|| zero(name)));
    }
}

fn fill_days(days: &mut Vec<DayCalls>, range: &Range) {
    every_day(
        days,
        range,
        |d| &d.day,
        |day| DayCalls {
            day,
            ..DayCalls::default()
        },
    );
}

/// NaN (a quantile of nothing) as 0.
fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// A conversation in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct ConversationRow {
    /// Id.
    pub conversation_id: String,
    /// First call, ms.
    pub first_seen_ms: u64,
    /// Last call, ms.
    pub last_seen_ms: u64,
    /// Calls.
    pub calls: u64,
    /// Highest verdict tier (`NONE` when never classified).
    #[serde(default)]
    pub highest_tier: String,
}

/// `/dashboard/users/{user}`.
#[derive(Debug, Clone, Serialize)]
pub struct UserPage {
    /// User.
    pub user: String,
    /// Range shown.
    pub range: Range,
    /// Calls.
    pub calls: u64,
    /// Logical requests (resamples counted once).
    pub logical_requests: u64,
    /// Blocked calls.
    pub blocked: u64,
    /// Share of calls blocked or redacted.
    pub intervention_rate: f64,
    /// Tiers.
    pub tiers: Tiers,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cost in USD.
    pub cost_usd: f64,
    /// Per day.
    pub days: Vec<DayCalls>,
    /// Conversations, newest first.
    pub conversations: Page<ConversationRow>,
}

#[derive(Row, Deserialize)]
struct UserTotals {
    calls: u64,
    logical: u64,
    blocked: u64,
    input: u64,
    output: u64,
    cost: i64,
}

impl Store {
    /// One user's page; `NotFound` when the user has no calls within `scope`.
    pub async fn user(
        &self,
        scope: &Scope,
        user: &str,
        range: &Range,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<UserPage> {
        let known: u64 = self
            .one(&select(
                "SELECT toUInt64(count()) FROM user_daily",
                scope,
                Cols::ALL,
                "user_id = ?",
                vec![user.into()],
            )?)
            .await?;
        if known == 0 {
            return Err(Error::NotFound("user"));
        }
        let mut binds = day_binds(range);
        binds.push(user.into());
        let t: UserTotals = self
            .one(&select(
                "SELECT toUInt64(countMerge(calls)), toUInt64(sumMerge(logical_requests)), \
                 toUInt64(sumMerge(blocked)), toUInt64(sumMerge(input_tokens)), \
                 toUInt64(sumMerge(output_tokens)), toInt64(sumMerge(cost_usd_micros)) FROM user_daily",
                scope,
                Cols::ALL,
                &format!("{IN_RANGE} AND user_id = ?"),
                binds,
            )?)
            .await?;
        let tiers = self.tiers(scope, range, Some(user)).await?;
        let mut days = self.days(scope, range, Some(user)).await?;
        fill_days(&mut days, range);
        let conversations = self
            .conversations(scope, Some(user), range, after, limit)
            .await?;
        Ok(UserPage {
            user: user.into(),
            range: *range,
            calls: t.calls,
            logical_requests: t.logical,
            blocked: t.blocked,
            intervention_rate: ratio((t.blocked + tiers.redacted).min(t.calls), t.calls),
            tiers,
            input_tokens: t.input,
            output_tokens: t.output,
            cost_usd: t.cost as f64 / 1e6,
            days,
            conversations,
        })
    }

    /// Conversations with calls in the range, newest first by their first call.
    pub async fn conversations(
        &self,
        scope: &Scope,
        user: Option<&str>,
        range: &Range,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<ConversationRow>> {
        let mut binds = day_binds(range);
        let mut rest = format!("{EVENTS_IN_RANGE} AND conversation_id != ''");
        if let Some(u) = user {
            rest.push_str(" AND user_id = ?");
            binds.push(u.into());
        }
        rest.push_str(" GROUP BY conversation_id");
        let mut sql = select(
            "SELECT conversation_id, toUInt64(min(ts_ms)) AS first_ms, toUInt64(max(ts_ms)), \
             toUInt64(count()), '' FROM llm_calls",
            scope,
            Cols::ALL,
            &rest,
            binds,
        )?;
        if let Some(c) = after {
            sql.push(" HAVING ", [])
                .append(&c.before("first_ms", "conversation_id"));
        }
        sql.push(
            " ORDER BY first_ms DESC, conversation_id DESC LIMIT ?",
            [i64::from(limit + 1).into()],
        );
        let mut rows: Vec<ConversationRow> = self.rows(&sql).await?;
        if !rows.is_empty() {
            let ids: Vec<String> = rows.iter().map(|r| r.conversation_id.clone()).collect();
            let tiers_sql = select(
                "SELECT conversation_id, max(multiIf(tier = 'CRITICAL', 3, tier = 'WARNING', 2, tier = 'INFO', 1, 0)) AS t \
                 FROM verdicts",
                scope,
                Cols::ALL,
                // One array literal, escaped by the client; `IN` builds a set: four times
                // faster than `has` over 10 million calls.
                "conversation_id IN (SELECT arrayJoin(?)) GROUP BY conversation_id",
                vec![Bind::Texts(ids)],
            )?;
            let tiers: Vec<(String, u8)> = self.rows(&tiers_sql).await?;
            let tiers: HashMap<String, u8> = tiers.into_iter().collect();
            for r in &mut rows {
                r.highest_tier = match tiers.get(&r.conversation_id) {
                    Some(3) => "CRITICAL",
                    Some(2) => "WARNING",
                    Some(1) => "INFO",
                    _ => "NONE",
                }
                .into();
            }
        }
        Ok(Page::from_rows(rows, limit, |r| Cursor {
            ms: r.first_seen_ms as i64,
            id: r.conversation_id.clone(),
        }))
    }
}

/// A call in a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct CallRow {
    /// Call id.
    pub call_id: String,
    /// Logical request.
    pub logical_id: String,
    /// PRIMARY, RESAMPLE or empty.
    pub resample_role: String,
    /// Tenant.
    pub tenant_id: String,
    /// User.
    pub user_id: String,
    /// Team.
    pub team_id: String,
    /// When it finished, ms.
    pub ts_ms: u64,
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// OK, BLOCKED, ERROR…
    pub status: String,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Latency, ms.
    pub latency_ms: u64,
}

/// A message, redacted as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct MessageRow {
    /// Its call.
    pub call_id: String,
    /// REQUEST or RESPONSE.
    pub kind: String,
    /// Order within the event.
    pub position: u32,
    /// user, assistant, system…
    pub role: String,
    /// Redacted text.
    pub text: String,
}

/// An attachment's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct AttachmentRow {
    /// Its call.
    pub call_id: String,
    /// image, document…
    pub kind: String,
    /// Media type.
    pub media_type: String,
    /// Size in bytes.
    pub size_bytes: Option<i64>,
    /// Keyed digest.
    pub digest: String,
    /// Width.
    pub width: Option<i32>,
    /// Height.
    pub height: Option<i32>,
}

/// A verdict on one event of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct VerdictRow {
    /// Verdict id.
    pub verdict_id: String,
    /// Its call.
    pub call_id: String,
    /// REQUEST or RESPONSE.
    pub kind: String,
    /// Decision.
    pub decision: String,
    /// Tier.
    pub tier: String,
}

/// A finding: where and what rule, never the value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct FindingRow {
    /// Its verdict.
    pub verdict_id: String,
    /// Its call.
    pub call_id: String,
    /// Position within the verdict.
    pub position: u32,
    /// Rule.
    pub rule_id: String,
    /// Category.
    pub category: String,
    /// Tier.
    pub tier: String,
    /// Where (e.g. `messages[0].content`).
    pub location: String,
    /// Span start.
    pub span_start: i64,
    /// Span end.
    pub span_end: i64,
    /// Marked a false positive (1), confirmed (0), or not marked (-1).
    pub feedback: i8,
}

/// A logical request: a primary call and its resamples, shown once.
#[derive(Debug, Clone, Serialize)]
pub struct LogicalRequest {
    /// Logical id.
    pub logical_id: String,
    /// The calls (the first is the primary).
    pub calls: Vec<CallView>,
    /// Resamples beyond the primary.
    pub resamples: usize,
}

/// A call with what belongs to it.
#[derive(Debug, Clone, Serialize)]
pub struct CallView {
    /// The call.
    pub call: CallRow,
    /// Its verdicts.
    pub verdicts: Vec<VerdictRow>,
    /// Its findings.
    pub findings: Vec<FindingRow>,
    /// Its messages in order.
    pub messages: Vec<MessageRow>,
    /// Its attachments.
    pub attachments: Vec<AttachmentRow>,
}

/// `/dashboard/conversations/{id}`.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationPage {
    /// Id.
    pub conversation_id: String,
    /// Its user.
    pub user_id: String,
    /// Calls.
    pub calls: usize,
    /// Logical requests in order.
    pub requests: Vec<LogicalRequest>,
    /// More calls exist than are shown.
    pub truncated: bool,
}

/// The most calls a conversation page shows.
const CONVERSATION_CALLS: i64 = 1000;

impl Store {
    /// One conversation; `NotFound` when none of its calls is within `scope`.
    pub async fn conversation(&self, scope: &Scope, id: &str) -> Result<ConversationPage> {
        let mut calls_sql = select(
            "SELECT call_id, logical_id, resample_role, tenant_id, user_id, team_id, ts_ms, \
             provider, model, status, input_tokens, output_tokens, latency_ms FROM llm_calls",
            scope,
            Cols::ALL,
            "conversation_id = ?",
            vec![id.into()],
        )?;
        calls_sql.push(
            " ORDER BY ts_ms, call_id LIMIT ?",
            [(CONVERSATION_CALLS + 1).into()],
        );
        let mut calls: Vec<CallRow> = self.rows(&calls_sql).await?;
        if calls.is_empty() {
            return Err(Error::NotFound("conversation"));
        }
        let truncated = calls.len() as i64 > CONVERSATION_CALLS;
        calls.truncate(CONVERSATION_CALLS as usize);
        // Only the visible calls' rows: the scope already chose them (a super admin's may be
        // of several tenants).
        let mut tenants: Vec<String> = calls.iter().map(|c| c.tenant_id.clone()).collect();
        tenants.sort();
        tenants.dedup();
        let ids: Vec<String> = calls.iter().map(|c| c.call_id.clone()).collect();
        let by_calls = |head: &str, order: &str| {
            let mut sql = Sql::new(head);
            sql.push(
                " WHERE tenant_id IN (SELECT arrayJoin(?)) AND conversation_id = ? \
                 AND call_id IN (SELECT arrayJoin(?))",
                [
                    Bind::Texts(tenants.clone()),
                    id.into(),
                    Bind::Texts(ids.clone()),
                ],
            );
            sql.push(order, []);
            sql
        };
        let messages: Vec<MessageRow> = self
            .rows(&by_calls(
                "SELECT call_id, kind, position, role, text FROM llm_messages",
                " ORDER BY ts_ms, call_id, kind DESC, position",
            ))
            .await?;
        let attachments: Vec<AttachmentRow> = self.rows(&by_calls(
            "SELECT call_id, kind, media_type, size_bytes, digest, width, height FROM attachments",
            " ORDER BY ts_ms, call_id, position",
        ))
        .await?;
        let verdicts: Vec<VerdictRow> = self
            .rows(&by_calls(
                "SELECT verdict_id, call_id, kind, decision, tier FROM verdicts",
                " ORDER BY ts_ms, verdict_id",
            ))
            .await?;
        let findings: Vec<FindingRow> = self.rows(&by_calls(
            "SELECT verdict_id, call_id, position, rule_id, category, tier, location, \
             span_start, span_end, toInt8(ifNull(fp, -1)) FROM findings \
             ANY LEFT JOIN (SELECT verdict_id, position, toNullable(toInt8(argMax(false_positive, ts_ms))) AS fp \
             FROM finding_feedback GROUP BY verdict_id, position) AS fb USING (verdict_id, position)",
            " ORDER BY ts_ms, verdict_id, position",
        ))
        .await?;
        let user_id = calls[0].user_id.clone();
        let total = calls.len();
        let mut requests: Vec<LogicalRequest> = vec![];
        let mut index: HashMap<String, usize> = HashMap::new();
        for call in calls {
            let view = CallView {
                verdicts: verdicts
                    .iter()
                    .filter(|v| v.call_id == call.call_id)
                    .cloned()
                    .collect(),
                findings: findings
                    .iter()
                    .filter(|f| f.call_id == call.call_id)
                    .cloned()
                    .collect(),
                messages: messages
                    .iter()
                    .filter(|m| m.call_id == call.call_id)
                    .cloned()
                    .collect(),
                attachments: attachments
                    .iter()
                    .filter(|a| a.call_id == call.call_id)
                    .cloned()
                    .collect(),
                call,
            };
            let key = if view.call.logical_id.is_empty() {
                view.call.call_id.clone()
            } else {
                view.call.logical_id.clone()
            };
            match index.get(&key) {
                Some(&i) => {
                    requests[i].calls.push(view);
                    requests[i].resamples += 1;
                }
                None => {
                    index.insert(key.clone(), requests.len());
                    requests.push(LogicalRequest {
                        logical_id: key,
                        calls: vec![view],
                        resamples: 0,
                    });
                }
            }
        }
        // The primary first: the page shows a logical request by it.
        for r in &mut requests {
            r.calls.sort_by_key(|c| c.call.resample_role == "RESAMPLE");
        }
        Ok(ConversationPage {
            conversation_id: id.into(),
            user_id,
            calls: total,
            requests,
            truncated,
        })
    }
}

/// A user ranked on a team page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct RankedUser {
    /// User.
    pub user_id: String,
    /// Calls.
    pub calls: u64,
    /// Blocked plus redacted.
    pub interventions: u64,
    /// CRITICAL verdicts.
    pub critical: u64,
}

/// A rule's triggers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct RuleCount {
    /// Rule.
    pub rule_id: String,
    /// Category.
    pub category: String,
    /// Triggers.
    pub triggers: u64,
}

/// `/dashboard/teams/{team}`.
#[derive(Debug, Clone, Serialize)]
pub struct TeamPage {
    /// Team.
    pub team: String,
    /// Range.
    pub range: Range,
    /// Calls.
    pub calls: u64,
    /// Blocked calls.
    pub blocked: u64,
    /// `blocked / calls`.
    pub block_rate: f64,
    /// Per day.
    pub days: Vec<DayCalls>,
    /// Top rules.
    pub top_rules: Vec<RuleCount>,
    /// Users by interventions.
    pub users: Vec<RankedUser>,
}

impl Store {
    /// One team's page; `NotFound` when the team has no calls within `scope`.
    pub async fn team(&self, scope: &Scope, team: &str, range: &Range) -> Result<TeamPage> {
        let known: u64 = self
            .one(&select(
                "SELECT toUInt64(count()) FROM team_daily",
                scope,
                Cols::TEAM,
                "team_id = ?",
                vec![team.into()],
            )?)
            .await?;
        if known == 0 {
            return Err(Error::NotFound("team"));
        }
        let mut binds = day_binds(range);
        binds.push(team.into());
        let mut days: Vec<DayCalls> = self
            .rows(&select(
                "SELECT toString(day), toUInt64(countMerge(calls)), toUInt64(sumMerge(blocked)), \
                 toUInt64(sumMerge(errors)) FROM team_daily",
                scope,
                Cols::TEAM,
                &format!("{IN_RANGE} AND team_id = ? GROUP BY day ORDER BY day"),
                binds.clone(),
            )?)
            .await?;
        fill_days(&mut days, range);
        let top_rules: Vec<RuleCount> = self
            .rows(&select(
                "SELECT rule_id, any(category), toUInt64(sum(triggers)) AS n FROM rule_daily",
                scope,
                Cols::TEAM,
                &format!(
                    "{IN_RANGE} AND team_id = ? GROUP BY rule_id ORDER BY n DESC, rule_id LIMIT 10"
                ),
                binds.clone(),
            )?)
            .await?;
        let calls_filter = scope.filter(Cols::ALL)?;
        let mut users = Sql::new(
            "SELECT user_id, calls, blocked + redacted AS interventions, critical \
             FROM (SELECT user_id, toUInt64(countMerge(calls)) AS calls, \
             toUInt64(sumMerge(blocked)) AS blocked FROM user_daily WHERE ",
        );
        users
            .append(&calls_filter)
            .push(&format!(" AND {IN_RANGE} AND team_id = ? GROUP BY user_id) AS c ANY LEFT JOIN (SELECT user_id, toUInt64(sum(redacted)) AS redacted, toUInt64(sum(critical)) AS critical FROM user_daily_verdicts WHERE "), binds.clone())
            .append(&calls_filter)
            .push(&format!(" AND {IN_RANGE} AND team_id = ? GROUP BY user_id) AS v USING (user_id) ORDER BY interventions DESC, user_id LIMIT 50"), binds);
        let users: Vec<RankedUser> = self.rows(&users).await?;
        let calls: u64 = days.iter().map(|d| d.calls).sum();
        let blocked: u64 = days.iter().map(|d| d.blocked).sum();
        Ok(TeamPage {
            team: team.into(),
            range: *range,
            calls,
            blocked,
            block_rate: ratio(blocked, calls),
            days,
            top_rules,
            users,
        })
    }
}

/// An incident in a list (its latest state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct IncidentRow {
    /// Id.
    pub incident_id: String,
    /// Tenant.
    pub tenant_id: String,
    /// User (empty for tenant-wide incidents).
    pub user_id: String,
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: String,
    /// Category.
    pub category: String,
    /// Status.
    pub status: String,
    /// Assignee.
    pub assignee: String,
    /// First seen, ms.
    pub first_seen_ms: i64,
    /// Last seen, ms.
    pub last_seen_ms: i64,
    /// Occurrences.
    pub occurrences: i64,
}

/// Filters of the incident list.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct IncidentFilter {
    /// OPEN, INVESTIGATING, RESOLVED, DISMISSED.
    pub status: Option<String>,
    /// Severity.
    pub severity: Option<String>,
    /// Category.
    pub category: Option<String>,
}

// Aliases differ from column names: ClickHouse resolves an alias before a column.
const LATEST_INCIDENT: &str =
    "SELECT incident_id, any(tenant_id) AS ten, argMax(user_id, seq) AS usr, \
    argMax(title, seq) AS ttl, argMax(severity, seq) AS sev, argMax(category, seq) AS cat, \
    argMax(status, seq) AS st, argMax(assignee, seq) AS asg, min(first_seen_ms) AS first_ms, \
    max(last_seen_ms) AS last_ms, max(occurrences) AS occ FROM incidents";

/// An incident's change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct IncidentEventRow {
    /// Sequence.
    pub seq: i64,
    /// OPENED, OCCURRED, STATUS_CHANGED…
    pub event_type: String,
    /// Status after.
    pub status: String,
    /// Who.
    pub actor: String,
    /// Assignee after.
    pub assignee: String,
    /// Note.
    pub note: String,
    /// When, ms.
    pub ts_ms: u64,
    /// Kafka key of the incident's events (commands go under it).
    pub partition_key: String,
}

/// A call an incident links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct LinkedCall {
    /// Call.
    pub call_id: String,
    /// TRIGGER, RELATED, CONTEXT.
    pub reason: String,
    /// When, ms.
    pub at_ms: i64,
    /// Its conversation.
    pub conversation_id: String,
}

/// `/dashboard/incidents/{id}`.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentPage {
    /// Latest state.
    pub incident: IncidentRow,
    /// History, oldest first.
    pub events: Vec<IncidentEventRow>,
    /// Linked calls.
    pub calls: Vec<LinkedCall>,
}

impl Store {
    /// Incidents within `scope`, newest first.
    pub async fn incidents(
        &self,
        scope: &Scope,
        range: &Range,
        filter: &IncidentFilter,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<IncidentRow>> {
        let mut sql = select(LATEST_INCIDENT, scope, Cols::INCIDENT, "", vec![])?;
        // Incidents active in the range: seen in it, or still open when it begins.
        sql.push(
            " GROUP BY incident_id HAVING (last_ms >= ? OR st IN ('OPEN', 'INVESTIGATING')) AND first_ms < ?",
            [range.from_ms().into(), range.until_ms().into()],
        );
        for (col, value) in [
            ("st", &filter.status),
            ("sev", &filter.severity),
            ("cat", &filter.category),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                sql.push(&format!(" AND {col} = ?"), [v.into()]);
            }
        }
        if let Some(c) = after {
            sql.push(" AND ", [])
                .append(&c.before("first_ms", "incident_id"));
        }
        sql.push(
            " ORDER BY first_ms DESC, incident_id DESC LIMIT ?",
            [i64::from(limit + 1).into()],
        );
        let rows: Vec<IncidentRow> = self.rows(&sql).await?;
        Ok(Page::from_rows(rows, limit, |r| Cursor {
            ms: r.first_seen_ms,
            id: r.incident_id.clone(),
        }))
    }

    /// One incident; `NotFound` when it is not within `scope`.
    pub async fn incident(&self, scope: &Scope, id: &str) -> Result<IncidentPage> {
        let mut sql = select(
            LATEST_INCIDENT,
            scope,
            Cols::INCIDENT,
            "incident_id = ?",
            vec![id.into()],
        )?;
        sql.push(" GROUP BY incident_id", []);
        let incident: IncidentRow = self
            .rows(&sql)
            .await?
            .into_iter()
            .next()
            .ok_or(Error::NotFound("incident"))?;
        let mut events = Sql::new(
            "SELECT seq, event_type, status, actor, assignee, note, ts_ms, partition_key \
             FROM incident_events WHERE tenant_id = ? AND incident_id = ? ORDER BY seq, event_id",
        );
        events.binds = vec![incident.tenant_id.clone().into(), id.into()];
        let events: Vec<IncidentEventRow> = self.rows(&events).await?;
        // The incident's calls that the caller may see (a link to any other is not shown).
        let ten_inc = || -> Vec<Bind> { vec![incident.tenant_id.clone().into(), id.into()] };
        let mut visible = Sql::new("SELECT call_id, conversation_id FROM llm_calls WHERE ");
        visible.append(&scope.filter(Cols::ALL)?).push(
            " AND call_id IN (SELECT call_id FROM incident_calls WHERE tenant_id = ? AND incident_id = ?)",
            ten_inc(),
        );
        let mut calls = Sql::new(
            "SELECT call_id, reason, at_ms, conversation_id FROM (SELECT DISTINCT call_id, reason, at_ms \
             FROM incident_calls WHERE tenant_id = ? AND incident_id = ? AND call_id IN (SELECT call_id FROM (",
        );
        calls.binds = ten_inc();
        calls
            .append(&visible)
            .push(")) ) AS l ANY LEFT JOIN (", [])
            .append(&visible)
            .push(") AS c USING (call_id) ORDER BY at_ms, call_id, reason", []);
        let calls: Vec<LinkedCall> = self.rows(&calls).await?;
        Ok(IncidentPage {
            incident,
            events,
            calls,
        })
    }
}

/// A capability flagged by `ai_audit_capability_anomalies`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct CapabilityAnomaly {
    /// Capability.
    pub capability: String,
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Interactions that day.
    pub interactions: u64,
    /// The 14-day median before it.
    pub median_14d: f64,
    /// NEW, SPIKE or DROP.
    pub status: String,
}

/// Latency percentiles of a capability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct CapabilityLatency {
    /// Capability.
    pub capability: String,
    /// Interactions.
    pub interactions: u64,
    /// Errors.
    pub errors: u64,
    /// p50, p95, p99 in ms.
    pub latency: Vec<f64>,
}

/// `/dashboard/capabilities`.
#[derive(Debug, Clone, Serialize)]
pub struct CapabilitiesPage {
    /// Range.
    pub range: Range,
    /// Anomalies in the range (NEW, SPIKE, DROP).
    pub anomalies: Vec<CapabilityAnomaly>,
    /// Capabilities first seen in the last 7 days.
    pub new_7d: Vec<String>,
    /// Spike days in the range.
    pub spikes: usize,
    /// Drop days in the range.
    pub drops: usize,
    /// Latency per capability.
    pub latency: Vec<CapabilityLatency>,
}

impl Store {
    /// The capability tab (tenant-wide: admins).
    pub async fn capabilities(
        &self,
        scope: &Scope,
        range: &Range,
        today: i64,
    ) -> Result<CapabilitiesPage> {
        let mut sql = select(
            "SELECT capability, toString(day), toUInt64(interactions), toFloat64(ifNull(median_14d, 0)), status \
             FROM ai_audit_capability_anomalies",
            scope,
            Cols::TENANT,
            &format!("{IN_RANGE} AND status != 'NORMAL'"),
            day_binds(range),
        )?;
        sql.push(" ORDER BY day DESC, capability", []);
        let anomalies: Vec<CapabilityAnomaly> = self.rows(&sql).await?;
        let new_7d: Vec<String> = self
            .rows(&select(
                "SELECT capability FROM capability_daily",
                scope,
                Cols::TENANT,
                "1 = 1 GROUP BY capability HAVING min(day) >= toDate(?) ORDER BY capability",
                vec![format_day(today - 6).into()],
            )?)
            .await?;
        let latency: Vec<CapabilityLatency> = self
            .rows(&select(
                "SELECT capability, toUInt64(countMerge(interactions)) AS n, toUInt64(sumMerge(errors)), \
                 quantilesMerge(0.5, 0.95, 0.99)(latency_ms) FROM capability_daily",
                scope,
                Cols::TENANT,
                &format!("{IN_RANGE} GROUP BY capability ORDER BY n DESC, capability"),
                day_binds(range),
            )?)
            .await?;
        Ok(CapabilitiesPage {
            range: *range,
            spikes: anomalies.iter().filter(|a| a.status == "SPIKE").count(),
            drops: anomalies.iter().filter(|a| a.status == "DROP").count(),
            anomalies,
            new_7d,
            latency,
        })
    }
}

/// A rule's effectiveness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct RuleEffect {
    /// Rule.
    pub rule_id: String,
    /// Category.
    pub category: String,
    /// Triggers in the range.
    pub triggers: u64,
    /// Findings people marked.
    pub marked: u64,
    /// Marked false positive.
    pub false_positives: u64,
}

/// `/dashboard/rules`.
#[derive(Debug, Clone, Serialize)]
pub struct RulesPage {
    /// Range.
    pub range: Range,
    /// Rules by triggers.
    pub rules: Vec<RuleEffect>,
    /// Triggers per day.
    pub trend: Vec<Named>,
}

impl Store {
    /// Scanner effectiveness (leads see their team's, admins their tenant's).
    pub async fn rules(&self, scope: &Scope, range: &Range) -> Result<RulesPage> {
        let team_filter = scope.filter(Cols::TEAM)?;
        let mut sql = Sql::new(
            "SELECT rule_id, category, triggers, marked, fps FROM \
             (SELECT rule_id, any(category) AS category, toUInt64(sum(triggers)) AS triggers FROM rule_daily WHERE ",
        );
        sql.append(&team_filter)
            .push(&format!(" AND {IN_RANGE} GROUP BY rule_id) AS r ANY LEFT JOIN (SELECT rule_id, toUInt64(count()) AS marked, toUInt64(sum(fp)) AS fps FROM (SELECT rule_id, argMax(false_positive, ts_ms) AS fp FROM finding_feedback WHERE "), day_binds(range))
            .append(&team_filter)
            .push(" AND event_date BETWEEN toDate(?) AND toDate(?) GROUP BY verdict_id, position, rule_id) AS latest GROUP BY rule_id) AS f USING (rule_id) ORDER BY triggers DESC, rule_id", day_binds(range));
        let rules: Vec<RuleEffect> = self.rows(&sql).await?;
        let mut trend: Vec<Named> = self
            .rows(&select(
                "SELECT toString(day) AS d, toUInt64(sum(triggers)) FROM rule_daily",
                scope,
                Cols::TEAM,
                &format!("{IN_RANGE} GROUP BY d ORDER BY d"),
                day_binds(range),
            )?)
            .await?;
        every_day(
            &mut trend,
            range,
            |n| &n.name,
            |name| Named { name, count: 0 },
        );
        Ok(RulesPage {
            range: *range,
            rules,
            trend,
        })
    }

    /// The finding a feedback mark is about, if it is within `scope`.
    pub async fn finding(
        &self,
        scope: &Scope,
        verdict_id: &str,
        position: u32,
    ) -> Result<(String, String, String, String)> {
        let sql = select(
            "SELECT tenant_id, rule_id, team_id, user_id FROM findings",
            scope,
            Cols::ALL,
            "verdict_id = ? AND position = ? LIMIT 1",
            vec![verdict_id.into(), i64::from(position).into()],
        )?;
        self.rows::<(String, String, String, String)>(&sql)
            .await?
            .into_iter()
            .next()
            .ok_or(Error::NotFound("finding"))
    }
}

/// An entry of the access audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Row)]
pub struct AuditRow {
    /// Id.
    pub audit_id: String,
    /// When, ms.
    pub ts_ms: u64,
    /// Tenant of the caller (`*` for a super admin, empty when unknown).
    pub tenant_id: String,
    /// Caller.
    pub user_id: String,
    /// Role.
    pub role: String,
    /// view, api, export, incident, feedback, sign-in.
    pub action: String,
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Status.
    pub status: u16,
    /// ok, denied, unauthenticated, rate_limited, error.
    pub result: String,
    /// Peer address.
    pub peer: String,
    /// User agent.
    pub user_agent: String,
}

impl Store {
    /// The access audit log (admins: their tenant's; super admins: all), newest first.
    pub async fn audit(
        &self,
        scope: &Scope,
        range: &Range,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<AuditRow>> {
        if matches!(scope, Scope::User(..) | Scope::Team(..)) {
            return Err(Denied::Forbidden("the access audit log needs the admin role").into());
        }
        let mut sql = select(
            "SELECT audit_id, ts_ms, tenant_id, user_id, role, action, method, path, status, result, peer, user_agent \
             FROM access_audit",
            scope,
            Cols::TENANT,
            &format!("{EVENTS_IN_RANGE} AND ts_ms >= ? AND ts_ms < ?"),
            {
                let mut b = day_binds(range);
                b.extend([range.from_ms().into(), range.until_ms().into()]);
                b
            },
        )?;
        if let Some(c) = after {
            sql.push(" AND ", [])
                .append(&c.before("toInt64(ts_ms)", "audit_id"));
        }
        sql.push(
            " ORDER BY ts_ms DESC, audit_id DESC LIMIT ?",
            [i64::from(limit + 1).into()],
        );
        let rows: Vec<AuditRow> = self.rows(&sql).await?;
        Ok(Page::from_rows(rows, limit, |r| Cursor {
            ms: r.ts_ms as i64,
            id: r.audit_id.clone(),
        }))
    }
}
