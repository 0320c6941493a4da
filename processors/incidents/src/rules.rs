//! The built-in rules over one partition's inputs: pure, no I/O, event time only.
//!
//! Each input updates the windows it feeds. When `live` (not rebuilding state after a
//! restart), a rule that fires raises an incident: OPENED when its dedupe key has no open
//! incident, OCCURRED (one more occurrence) when it has. An input its dedupe key has already
//! taken in (handled again after a restart) changes windows but raises nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use sightline_events::{
    derived_id, EventKind, IncidentCategory, IncidentEvent, IncidentEventType, IncidentLink,
    IncidentSeverity, IncidentSignal, IncidentStatus, LinkReason, Verdict, VerdictTier,
};

use crate::config::{ms, Horizons, RuleBook, SLOW_RUN_BREAK};
use crate::registry::{follow, take_in, Registry, Source, RULE_ACTOR};
use crate::window::{day_start, failure_percent, sum, Hits, Offsets};

const DAY_MS: i64 = 86_400_000;

/// A dedupe key from its parts, `/`-separated with `%` and `/` escaped inside parts, so ids
/// that hold a `/` cannot make two keys equal.
pub fn dedupe_key(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| sightline_events::key_part(p, &['/']))
        .collect::<Vec<_>>()
        .join("/")
}

/// What a firing rule asks for.
#[derive(Debug, Clone)]
pub(crate) struct Raise {
    /// Rule name.
    pub rule: &'static str,
    /// Occurrences with this key join its open incident.
    pub dedupe_key: String,
    /// `tenant/user` or `tenant`.
    pub partition_key: String,
    /// Tenant.
    pub tenant: String,
    /// User, for per-user rules.
    pub user: Option<String>,
    /// Severity (an OCCURRED may raise the incident's).
    pub severity: IncidentSeverity,
    /// Category.
    pub category: IncidentCategory,
    /// One line.
    pub title: String,
    /// A few lines.
    pub description: String,
    /// Event time.
    pub at_ms: i64,
    /// The id of the input that fired (a verdict or signal id): names a new incident.
    pub trigger_id: String,
    /// Calls to link (the trigger first).
    pub links: Vec<IncidentLink>,
    /// Occurrences a new incident starts with (more than 1 when a threshold was crossed).
    pub occurrences: i64,
}

/// A rule's per-(tenant, model) run of slow calls.
#[derive(Debug, Clone, Default)]
struct SlowRun {
    count: u32,
    first_offset: Option<i64>,
    last_at_ms: i64,
    links: Vec<IncidentLink>,
}

impl SlowRun {
    /// Ends the run, releasing the offset it held.
    fn reset(&mut self, held: &mut Offsets) {
        if let Some(o) = self.first_offset.take() {
            held.release(o);
        }
        *self = SlowRun::default();
    }
}

#[derive(Debug, Clone, Default)]
struct TenantState {
    calls: Hits<bool>,
    failing: bool,
    /// The latest event time the failure rate was evaluated at; a late call does not
    /// re-evaluate it (it would flip `failing` back and forth).
    rate_evaluated_at: i64,
    /// When the window last held enough calls to decide; `failing` lapses a window after.
    rate_decided_at: i64,
    costs: Hits<i64>,
    /// Level reached per UTC day (by its start): 0 none, 1 high, 2 critical.
    budget: BTreeMap<i64, u8>,
    slow: HashMap<String, SlowRun>,
}

#[derive(Debug, Clone, Default)]
struct UserCostState {
    costs: Hits<i64>,
    above: bool,
    evaluated_at: i64,
}

/// Everything one partition's rules hold.
#[derive(Debug, Default)]
pub struct Part {
    /// Its incidents.
    pub registry: Registry,
    warnings: HashMap<(String, String), Hits<IncidentLink>>,
    tenants: HashMap<String, TenantState>,
    user_costs: HashMap<(String, String), UserCostState>,
    seen_signals: HashSet<String>,
    seen_order: Hits<String>,
    /// Offsets held by verdict windows.
    pub verdict_offsets: Offsets,
    /// Offsets held by signal windows.
    pub signal_offsets: Offsets,
    /// The newest event time seen.
    pub(crate) watermark: i64,
}

fn link(call_id: &str, event_id: &str, reason: LinkReason, at_ms: i64) -> IncidentLink {
    IncidentLink {
        call_id: call_id.to_string(),
        event_id: Some(event_id.to_string()),
        reason,
        occurred_at_ms: at_ms,
    }
}

fn usd(micros: i64) -> String {
    format!("${:.2}", micros as f64 / 1_000_000.0)
}

fn span(d_ms: i64) -> String {
    humantime::format_duration(std::time::Duration::from_millis(
        u64::try_from(d_ms).unwrap_or(0),
    ))
    .to_string()
}

fn date(at_ms: i64) -> String {
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(at_ms).unwrap_or(0));
    let s = humantime::format_rfc3339(t).to_string();
    s.get(..10).unwrap_or(&s).to_string()
}

impl Part {
    /// Entries held in windows and incidents.
    pub fn size(&self) -> usize {
        self.registry.len() + self.verdict_offsets.len() + self.signal_offsets.len()
    }

    /// Raises `r` from input `source`, unless its key took that input in already.
    pub(crate) fn raise(&mut self, r: Raise, source: Source<'_>, out: &mut Vec<IncidentEvent>) {
        if self.registry.has_taken(&r.dedupe_key, source) {
            return;
        }
        let event = match self.registry.open(&r.dedupe_key) {
            Some(prev) => {
                let mut e = follow(
                    prev,
                    IncidentEventType::Occurred,
                    r.at_ms,
                    RULE_ACTOR,
                    source,
                );
                e.occurrences += 1;
                e.first_seen_ms = e.first_seen_ms.min(r.at_ms);
                e.last_seen_ms = e.last_seen_ms.max(r.at_ms);
                e.links = r.links.into_iter().take(1).collect();
                if r.severity > e.severity {
                    e.severity = r.severity;
                    e.title = r.title;
                    e.description = r.description;
                }
                e
            }
            None => {
                let incident_id = derived_id(&["incident", &r.dedupe_key, &r.trigger_id]);
                let first_seen = r.links.iter().map(|l| l.occurred_at_ms).min();
                let mut e = IncidentEvent {
                    event_id: IncidentEvent::id_for(&incident_id, 1),
                    incident_id,
                    seq: 1,
                    event_type: IncidentEventType::Opened,
                    partition_key: r.partition_key,
                    tenant_id: r.tenant,
                    user_id: r.user,
                    rule: r.rule.to_string(),
                    sources: self.registry.sources(&r.dedupe_key),
                    dedupe_key: r.dedupe_key,
                    severity: r.severity,
                    category: r.category,
                    status: IncidentStatus::Open,
                    previous_status: None,
                    title: r.title,
                    description: r.description,
                    first_seen_ms: first_seen.unwrap_or(r.at_ms).min(r.at_ms),
                    last_seen_ms: r.at_ms,
                    occurrences: r.occurrences.max(1),
                    links: r.links,
                    assignee: None,
                    actor: RULE_ACTOR.to_string(),
                    note: None,
                    command_id: None,
                    at_ms: r.at_ms,
                    closed_at_ms: None,
                    source_topic: String::new(),
                    source_partition: source.partition,
                    source_offset: source.offset,
                };
                take_in(&mut e, source);
                e
            }
        };
        self.registry.apply(&event, None);
        out.push(event);
    }

    /// A verdict: critical findings, PII in responses, repeated warnings.
    pub fn verdict(
        &mut self,
        v: &Verdict,
        source: Source<'_>,
        book: &RuleBook,
        live: bool,
        out: &mut Vec<IncidentEvent>,
    ) {
        // A RESAMPLE's verdict is its primary's: the same logical request, counted once.
        if v.decision == sightline_events::Decision::Inherited {
            return;
        }
        self.watermark = self.watermark.max(v.occurred_at_ms);
        let rules = book.user(&v.tenant_id, &v.user_id);
        let response = v.kind == EventKind::Response.as_str();
        let whom = format!("User: {}", v.user_id);
        let partition_key = v.kafka_key();
        let mut raises = Vec::new();
        let mut seen = HashSet::new();
        // Personal data a model sent back.
        if response && rules.pii_in_response.enabled {
            for f in v
                .findings
                .iter()
                .filter(|f| f.category == "pii" && !f.example)
            {
                if seen.insert(("pii", f.fingerprint.clone())) {
                    raises.push(Raise {
                        rule: "pii_in_response",
                        dedupe_key: dedupe_key(&[
                            "pii_in_response",
                            &v.tenant_id,
                            &v.user_id,
                            &f.fingerprint,
                        ]),
                        partition_key: partition_key.clone(),
                        tenant: v.tenant_id.clone(),
                        user: Some(v.user_id.clone()),
                        severity: rules.pii_in_response.severity,
                        category: IncidentCategory::Privacy,
                        title: format!("Personal data in AI response - {whom}"),
                        description: format!(
                            "Rule {} found personal data at {} of a response to call {}. Occurrences of the same value (fingerprint {}) for this user join this incident.",
                            f.rule_id,
                            f.location.as_deref().unwrap_or("an unknown location"),
                            v.call_id,
                            short(&f.fingerprint)
                        ),
                        at_ms: v.occurred_at_ms,
                        trigger_id: v.verdict_id.clone(),
                        links: vec![link(&v.call_id, &v.event_id, LinkReason::Trigger, v.occurred_at_ms)],
                        occurrences: 1,
                    });
                }
            }
        }
        if v.tier == VerdictTier::Critical && rules.critical_verdict.enabled {
            let critical: Vec<_> = v
                .findings
                .iter()
                .filter(|f| f.tier.eq_ignore_ascii_case("CRITICAL"))
                .filter(|f| !(response && f.category == "pii" && rules.pii_in_response.enabled))
                .collect();
            let what = if response { "response" } else { "prompt" };
            // One incident per paste: the verdict's critical findings together (a credential is
            // often a pair, a key id and its secret), deduplicated by their distinct
            // fingerprints, so the same paste again joins it. A verdict made critical by the
            // judge or a policy rule without a critical finding groups by its rules.
            let mut fingerprints: Vec<String> = Vec::new();
            let mut rule_ids: Vec<String> = Vec::new();
            for f in &critical {
                if seen.insert(("critical", f.fingerprint.clone())) {
                    fingerprints.push(f.fingerprint.clone());
                }
                if !rule_ids.contains(&f.rule_id) {
                    rule_ids.push(f.rule_id.clone());
                }
            }
            fingerprints.sort();
            let rank = |c: &str| match c {
                "secret" => 0,
                "production" => 1,
                "pii" => 2,
                _ => 3,
            };
            let first = critical.iter().min_by_key(|f| rank(&f.category));
            let mut groups: Vec<(String, String, String, Option<String>)> = Vec::new();
            if let (Some(f), false) = (first, fingerprints.is_empty()) {
                groups.push((
                    fingerprints.join("+"),
                    f.category.clone(),
                    rule_ids.join(", "),
                    f.location.clone(),
                ));
            }
            if groups.is_empty() && !raises.iter().any(|r| r.rule == "pii_in_response") {
                groups.push((
                    format!("rules:{}", v.rules.join(",")),
                    "policy".into(),
                    v.rules.join(", "),
                    None,
                ));
            }
            for (fingerprint, category, rule_id, location) in groups {
                let (title, incident_category, severity) = match category.as_str() {
                    "secret" => (
                        format!("Credentials detected in AI {what} - {whom}"),
                        IncidentCategory::Safety,
                        rules.critical_verdict.secret_severity,
                    ),
                    "pii" => (
                        format!("Personal data detected in AI {what} - {whom}"),
                        IncidentCategory::Privacy,
                        rules.critical_verdict.severity,
                    ),
                    "production" => (
                        format!("Production access detected in AI {what} - {whom}"),
                        IncidentCategory::Safety,
                        rules.critical_verdict.severity,
                    ),
                    _ => (
                        format!("Critical policy verdict on AI {what} - {whom}"),
                        IncidentCategory::Compliance,
                        rules.critical_verdict.severity,
                    ),
                };
                raises.push(Raise {
                    rule: "critical_verdict",
                    dedupe_key: dedupe_key(&[
                        "critical_verdict",
                        &v.tenant_id,
                        &v.user_id,
                        &fingerprint,
                    ]),
                    partition_key: partition_key.clone(),
                    tenant: v.tenant_id.clone(),
                    user: Some(v.user_id.clone()),
                    severity,
                    category: incident_category,
                    title,
                    description: format!(
                        "A CRITICAL verdict ({rule_id}, {category}) at {} of call {}. The same values (fingerprints {}) from this user join this incident; the values themselves are never stored.",
                        location.as_deref().unwrap_or("the request"),
                        v.call_id,
                        fingerprint.split('+').map(short).collect::<Vec<_>>().join(", ")
                    ),
                    at_ms: v.occurred_at_ms,
                    trigger_id: v.verdict_id.clone(),
                    links: vec![link(&v.call_id, &v.event_id, LinkReason::Trigger, v.occurred_at_ms)],
                    occurrences: 1,
                });
            }
        }
        if v.tier == VerdictTier::Warning && rules.repeated_warnings.enabled {
            let rw = &rules.repeated_warnings;
            let key = (v.tenant_id.clone(), v.user_id.clone());
            let hits = self.warnings.entry(key).or_default();
            hits.push(
                v.occurred_at_ms,
                source.offset,
                link(
                    &v.call_id,
                    &v.event_id,
                    LinkReason::Related,
                    v.occurred_at_ms,
                ),
                &mut self.verdict_offsets,
            );
            let key = dedupe_key(&["repeated_warnings", &v.tenant_id, &v.user_id]);
            let from = v
                .occurred_at_ms
                .saturating_sub(ms(rw.window))
                .max(self.registry.closed_at(&key).unwrap_or(i64::MIN));
            let counted: Vec<IncidentLink> = hits
                .between(from, v.occurred_at_ms)
                .map(|h| h.item.clone())
                .collect();
            if counted.len() >= rw.count as usize {
                let mut links = vec![link(
                    &v.call_id,
                    &v.event_id,
                    LinkReason::Trigger,
                    v.occurred_at_ms,
                )];
                links.extend(
                    counted
                        .iter()
                        .filter(|l| l.event_id.as_deref() != Some(&v.event_id))
                        .cloned(),
                );
                raises.push(Raise {
                    rule: "repeated_warnings",
                    dedupe_key: key,
                    partition_key: partition_key.clone(),
                    tenant: v.tenant_id.clone(),
                    user: Some(v.user_id.clone()),
                    severity: rw.severity,
                    category: IncidentCategory::Safety,
                    title: format!(
                        "{} policy warnings within {} - {whom}",
                        counted.len(),
                        span(ms(rw.window))
                    ),
                    description: format!(
                        "At least {} WARNING verdicts within {}; each further warning while this incident is open adds an occurrence.",
                        rw.count,
                        span(ms(rw.window))
                    ),
                    at_ms: v.occurred_at_ms,
                    trigger_id: v.verdict_id.clone(),
                    links,
                    occurrences: i64::try_from(counted.len()).unwrap_or(i64::MAX),
                });
            }
        }
        if live {
            for r in raises {
                self.raise(r, source, out);
            }
        }
    }

    /// A call re-keyed by tenant: failure rate, slow calls, the budget and users' cost.
    pub fn signal(
        &mut self,
        s: &IncidentSignal,
        source: Source<'_>,
        book: &RuleBook,
        live: bool,
        out: &mut Vec<IncidentEvent>,
    ) {
        // A copy written again by a replay upstream is counted once.
        if !self.seen_signals.insert(s.signal_id.clone()) {
            return;
        }
        self.seen_order.push(
            s.occurred_at_ms,
            source.offset,
            s.signal_id.clone(),
            &mut self.signal_offsets,
        );
        self.watermark = self.watermark.max(s.occurred_at_ms);
        let t = s.occurred_at_ms;
        let rules = book.tenant(&s.tenant_id);
        let tenant = self.tenants.entry(s.tenant_id.clone()).or_default();
        let trigger = link(&s.call_id, &s.event_id, LinkReason::Trigger, t);
        let whom = format!("Tenant: {}", s.tenant_id);
        let mut raises = Vec::new();
        let base = |rule: &'static str, dedupe_key: String| Raise {
            rule,
            dedupe_key,
            partition_key: s.tenant_id.clone(),
            tenant: s.tenant_id.clone(),
            user: None,
            severity: IncidentSeverity::Info,
            category: IncidentCategory::Performance,
            title: String::new(),
            description: String::new(),
            at_ms: t,
            trigger_id: s.signal_id.clone(),
            links: vec![trigger.clone()],
            occurrences: 1,
        };

        // Failure rate over a sliding window.
        let fr = &rules.failure_rate;
        if fr.enabled {
            tenant
                .calls
                .push(t, source.offset, s.failed, &mut self.signal_offsets);
        }
        // Evaluated at the newest time only; with too few calls in the window the last
        // decision stands for one window (then it lapses, as the calls it was drawn from
        // have), so it fires again only after the rate fell back or the tenant went quiet.
        let window = ms(fr.window);
        let percent = failure_percent(&tenant.calls, window, t, fr.min_calls);
        let previous = tenant.failing && t.saturating_sub(tenant.rate_decided_at) <= window;
        let failing = if !fr.enabled {
            false
        } else if t < tenant.rate_evaluated_at {
            previous
        } else {
            tenant.rate_evaluated_at = t;
            match percent {
                Some(p) => {
                    tenant.rate_decided_at = t;
                    p > fr.above_percent
                }
                None => previous,
            }
        };
        if failing && !previous {
            let p = percent.unwrap_or_default();
            raises.push(Raise {
                severity: fr.severity,
                title: format!("Failure rate {p:.1}% over {} - {whom}", span(ms(fr.window))),
                description: format!(
                    "More than {}% of the tenant's calls failed within {} (at least {} calls); upstream errors and calls the shim could not finish count, blocked calls do not.",
                    fr.above_percent,
                    span(ms(fr.window)),
                    fr.min_calls
                ),
                ..base("failure_rate", dedupe_key(&["failure_rate", &s.tenant_id]))
            });
        }
        tenant.failing = failing;

        // Consecutive slow calls, per model.
        let sc = &rules.slow_calls;
        let model = s.model.clone().unwrap_or_else(|| "unknown".into());
        let run = tenant.slow.entry(model.clone()).or_default();
        if run.count > 0 && t.saturating_sub(run.last_at_ms) > ms(SLOW_RUN_BREAK) {
            // A long quiet spell breaks a run.
            run.reset(&mut self.signal_offsets);
        }
        if sc.enabled && s.latency_ms.is_some_and(|l| l > ms(sc.slower_than)) {
            run.count = run.count.saturating_add(1);
            run.last_at_ms = run.last_at_ms.max(t);
            if run.first_offset.is_none() {
                run.first_offset = Some(source.offset);
                self.signal_offsets.hold(source.offset);
            }
            run.links
                .push(link(&s.call_id, &s.event_id, LinkReason::Related, t));
            if run.links.len() > sc.more_than as usize + 1 {
                run.links.remove(0);
            }
            if run.count == sc.more_than.saturating_add(1) {
                let mut links = vec![trigger.clone()];
                links.extend(run.links.iter().rev().skip(1).cloned());
                raises.push(Raise {
                    severity: sc.severity,
                    title: format!(
                        "More than {} consecutive calls slower than {} - {whom} (model {model})",
                        sc.more_than,
                        span(ms(sc.slower_than))
                    ),
                    description: format!(
                        "{} calls in a row to {model} took longer than {}.",
                        run.count,
                        span(ms(sc.slower_than))
                    ),
                    links,
                    occurrences: i64::from(run.count),
                    ..base(
                        "slow_calls",
                        dedupe_key(&["slow_calls", &s.tenant_id, &model]),
                    )
                });
            }
        } else if s.latency_ms.is_some() || !sc.enabled {
            run.reset(&mut self.signal_offsets);
        }

        // The tenant's daily budget (costs are kept only where one is set).
        let tb = &rules.tenant_budget;
        if s.cost_usd_micros > 0 && tb.daily_usd > 0.0 {
            tenant.costs.push(
                t,
                source.offset,
                s.cost_usd_micros,
                &mut self.signal_offsets,
            );
        }
        if tb.daily_usd > 0.0 {
            let day = day_start(t);
            let spent = sum(
                &tenant.costs,
                day.saturating_sub(1),
                day.saturating_add(DAY_MS - 1),
            );
            let percent = spent as f64 / (tb.daily_usd * 1_000_000.0) * 100.0;
            let level = if percent > tb.critical_percent {
                2
            } else if percent > tb.high_percent {
                1
            } else {
                0
            };
            let before = tenant.budget.get(&day).copied().unwrap_or(0);
            if level > before {
                let (severity, limit) = if level == 2 {
                    (IncidentSeverity::Critical, tb.critical_percent)
                } else {
                    (IncidentSeverity::High, tb.high_percent)
                };
                raises.push(Raise {
                    severity,
                    category: IncidentCategory::Cost,
                    title: format!("Daily cost above {limit}% of budget ({percent:.0}%) - {whom}"),
                    description: format!(
                        "{} spent on {} (UTC) against a daily budget of {}.",
                        usd(spent),
                        date(t),
                        usd((tb.daily_usd * 1_000_000.0) as i64)
                    ),
                    ..base(
                        "tenant_budget",
                        dedupe_key(&["tenant_budget", &s.tenant_id, &date(t)]),
                    )
                });
            }
            tenant.budget.insert(day, level.max(before));
        }

        // A user's cost over a rolling window.
        let ur = book.user(&s.tenant_id, &s.user_id);
        let uc = &ur.user_cost;
        if uc.limit_usd > 0.0 {
            let state = self
                .user_costs
                .entry((s.tenant_id.clone(), s.user_id.clone()))
                .or_default();
            if s.cost_usd_micros > 0 {
                state.costs.push(
                    t,
                    source.offset,
                    s.cost_usd_micros,
                    &mut self.signal_offsets,
                );
            }
            let window = ms(uc.window);
            let spent = sum(&state.costs, t.saturating_sub(window), t);
            // Above the limit lapses a window after it was last evaluated.
            let previous = state.above && t.saturating_sub(state.evaluated_at) <= window;
            let above = if t < state.evaluated_at {
                previous
            } else {
                state.evaluated_at = t;
                spent as f64 > uc.limit_usd * 1_000_000.0
            };
            if above && !previous {
                raises.push(Raise {
                    severity: uc.severity,
                    category: IncidentCategory::Cost,
                    user: Some(s.user_id.clone()),
                    title: format!(
                        "Cost {} over {} above the limit of {} - User: {}",
                        usd(spent),
                        span(ms(uc.window)),
                        usd((uc.limit_usd * 1_000_000.0) as i64),
                        s.user_id
                    ),
                    description: format!(
                        "The user's calls cost more than their limit within a rolling {}.",
                        span(ms(uc.window))
                    ),
                    ..base(
                        "user_cost",
                        dedupe_key(&["user_cost", &s.tenant_id, &s.user_id]),
                    )
                });
            }
            state.above = above;
        }
        if live {
            for r in raises {
                self.raise(r, source, out);
            }
        }
    }

    /// Forgets what each window has left behind (its horizon behind the partition's newest
    /// event time), signal ids and closed incidents after the longest.
    pub fn evict(&mut self, h: Horizons) {
        let before = |horizon: i64| self.watermark.saturating_sub(horizon);
        let (warnings, calls, tenant_costs, user_costs, runs, longest) = (
            before(h.warnings),
            before(h.calls),
            before(h.tenant_costs),
            before(h.user_costs),
            before(h.slow_runs),
            before(h.longest()),
        );
        for hits in self.warnings.values_mut() {
            hits.evict(warnings, &mut self.verdict_offsets);
        }
        self.warnings.retain(|_, h| !h.is_empty());
        for t in self.tenants.values_mut() {
            t.calls.evict(calls, &mut self.signal_offsets);
            t.costs.evict(tenant_costs, &mut self.signal_offsets);
            t.budget
                .retain(|day, _| day.saturating_add(DAY_MS) > tenant_costs);
            for run in t.slow.values_mut() {
                if run.count > 0 && run.last_at_ms < runs {
                    run.reset(&mut self.signal_offsets);
                }
            }
            t.slow.retain(|_, run| run.count > 0);
        }
        for u in self.user_costs.values_mut() {
            u.costs.evict(user_costs, &mut self.signal_offsets);
        }
        self.user_costs.retain(|_, u| !u.costs.is_empty());
        for h in self.seen_order.between(i64::MIN, longest) {
            self.seen_signals.remove(&h.item);
        }
        self.seen_order.evict(longest, &mut self.signal_offsets);
        self.registry.evict(longest);
    }
}

fn short(fingerprint: &str) -> &str {
    fingerprint.get(..12).unwrap_or(fingerprint)
}
