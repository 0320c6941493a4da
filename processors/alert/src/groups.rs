//! Grouping and rate limits, with Alertmanager's semantics. Pure: time comes in as an
//! argument, and the rate limiters run on a clock the caller moves.
//!
//! Per destination and input partition, alerts with the same labels form a group. A new group
//! waits `group_wait` (`critical_group_wait` once it holds a CRITICAL alert) collecting
//! alerts, then is sent as one message; what arrives after a message waits until
//! `group_interval` after it. A group whose incident is still open and unacknowledged is
//! notified again every `repeat_interval`. A destination whose rate limit is spent defers its
//! due groups (one DEFERRED record each) and merges them into its next message; nothing is
//! dropped. Every alert joins a group with a GROUPED record that carries it, and every
//! message covers a range of each group's alerts, so the groups are rebuilt exactly from the
//! notifications topic ([`Engine::restore`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::FakeRelativeClock;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use serde_json::Value;
use sightline_events::{
    derived_id, AlertRecord, IncidentAction, Notification, NotificationOutcome,
};

use crate::alert::{Alert, Label, Level};
use crate::config::{AlertConfig, Kind};
use crate::render::{GroupText, Renderer, WebhookGroup};

/// How far ahead of the wall clock (as of the last tick) a record's time may move the engine:
/// one producer with a clock ahead must not freeze the timers until the world catches up.
const MAX_AHEAD_MS: i64 = 60_000;

type Limiter = RateLimiter<
    NotKeyed,
    InMemoryState,
    FakeRelativeClock,
    governor::middleware::NoOpMiddleware<governor::nanos::Nanos>,
>;

/// A destination as the engine sees it.
struct Dest {
    name: String,
    kind: Kind,
    group_by: Vec<Label>,
    group_wait: i64,
    critical_group_wait: i64,
    group_interval: i64,
    repeat_interval: i64,
    limiter: Limiter,
}

/// An alert in a group.
#[derive(Debug, Clone)]
struct Member {
    seq: i64,
    alert: AlertRecord,
    /// Where its GROUPED record landed, once read back.
    offset: Option<i64>,
}

/// One group of one destination on one partition.
#[derive(Debug)]
struct Group {
    id: String,
    key: String,
    tenant: String,
    /// Alerts not yet in a message, in order.
    pending: Vec<Member>,
    /// The last sequence number given.
    last_seq: i64,
    /// The last sequence number a message covered.
    covered: i64,
    /// When its first alert arrived.
    opened_ms: i64,
    /// When its last message went.
    last_sent_ms: Option<i64>,
    /// Whether a DEFERRED record was written since its last message.
    deferred: bool,
    /// Open, unacknowledged incidents, by id: notified again every `repeat_interval`.
    firing: BTreeMap<String, Member>,
    /// Where the record of its last message landed, once read back.
    sent_offset: Option<i64>,
}

impl Group {
    /// The group a record of the notifications topic names, as of the record.
    fn of_record(n: &Notification) -> Self {
        Self::new(
            n.group_id.clone(),
            n.group_key.clone(),
            n.tenant_id.clone(),
            n.at_ms,
        )
    }

    fn new(id: String, key: String, tenant: String, opened_ms: i64) -> Self {
        Self {
            id,
            key,
            tenant,
            pending: vec![],
            last_seq: 0,
            covered: 0,
            opened_ms,
            last_sent_ms: None,
            deferred: false,
            firing: BTreeMap::new(),
            sent_offset: None,
        }
    }
}

/// A range of one group's alerts in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cover {
    /// The group.
    pub group_id: String,
    /// Its labels.
    pub group_key: String,
    /// Tenant.
    pub tenant: String,
    /// Partition number of the group.
    pub partition: i32,
    /// First alert covered.
    pub seq_from: i64,
    /// Last alert covered.
    pub seq: i64,
    /// Alerts covered (0 for a reminder).
    pub alerts: i64,
}

/// A message to send: one or more requests (PagerDuty: one event each) to one destination.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Derived from the groups and ranges it covers.
    pub id: String,
    /// Destination index.
    pub dest: usize,
    /// Destination name.
    pub destination: String,
    /// Its kind.
    pub kind: Kind,
    /// What it covers.
    pub covers: Vec<Cover>,
    /// Request bodies, sent in order (PagerDuty's without the routing key).
    pub requests: Vec<Value>,
    /// When it was decided.
    pub at_ms: i64,
}

impl Cover {
    /// A record of `outcome` for this range, of destination `destination`.
    fn notification(
        &self,
        destination: &str,
        kind: Kind,
        outcome: NotificationOutcome,
        at_ms: i64,
    ) -> Notification {
        Notification {
            notification_id: Notification::id_for(
                &self.group_id,
                None,
                outcome,
                self.seq_from,
                self.seq,
                0,
            ),
            outcome,
            destination: destination.to_string(),
            destination_kind: kind.avro(),
            group_id: self.group_id.clone(),
            group_key: self.group_key.clone(),
            tenant_id: self.tenant.clone(),
            partition: self.partition,
            seq_from: self.seq_from,
            seq: self.seq,
            alerts: self.alerts,
            delivery_id: None,
            merged_groups: 0,
            attempts: 0,
            http_status: None,
            error: None,
            at_ms,
            alert: None,
        }
    }
}

impl Delivery {
    /// The record of how this delivery ended for one group it covers.
    pub fn outcome(
        &self,
        c: &Cover,
        outcome: NotificationOutcome,
        attempts: i32,
        status: Option<u16>,
        error: Option<String>,
        at_ms: i64,
    ) -> Notification {
        Notification {
            notification_id: Notification::id_for(
                &c.group_id,
                Some(&self.id),
                outcome,
                c.seq_from,
                c.seq,
                attempts,
            ),
            delivery_id: Some(self.id.clone()),
            merged_groups: i32::try_from(self.covers.len()).unwrap_or(i32::MAX),
            attempts,
            http_status: status.map(i32::from),
            error,
            ..c.notification(&self.destination, self.kind, outcome, at_ms)
        }
    }
}

/// What the engine emits.
#[derive(Debug, Clone)]
pub enum Out {
    /// To the notifications topic.
    Record(Box<Notification>),
    /// To a destination; its outcome is recorded once known.
    Deliver(Box<Delivery>),
}

/// The grouping engine.
pub struct Engine {
    dests: Vec<Dest>,
    renderer: Arc<Renderer>,
    /// By (partition, destination, labels).
    groups: BTreeMap<(i32, usize, String), Group>,
    /// The highest input offset per (input topic, partition, destination) that joined a
    /// group: an input handled again after a crash is not grouped twice.
    taken: HashMap<(String, i32, usize), i64>,
    clock: FakeRelativeClock,
    /// The latest time seen, and the time the limiters' clock started at.
    now_ms: i64,
    clock_start_ms: Option<i64>,
    /// The wall clock at the last tick.
    wall_ms: i64,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Engine {
    /// An engine for a validated `config`; destinations are indexed in name order, as in
    /// `renderer`.
    pub fn new(config: &AlertConfig, renderer: Arc<Renderer>) -> Self {
        let clock = FakeRelativeClock::default();
        let dests = config
            .destinations
            .iter()
            .map(|(name, d)| {
                let quota = Quota::with_period(Duration::from_secs(60) / d.per_minute().max(1))
                    .unwrap_or_else(|| Quota::per_second(nonzero(1)))
                    .allow_burst(nonzero(d.burst()));
                Dest {
                    name: name.clone(),
                    kind: d.kind,
                    group_by: d.group_by.clone(),
                    group_wait: ms(d.group_wait),
                    critical_group_wait: ms(d.critical_group_wait),
                    group_interval: ms(d.group_interval),
                    repeat_interval: ms(d.repeat_interval),
                    limiter: RateLimiter::direct_with_clock(quota, clock.clone()),
                }
            })
            .collect();
        Self {
            dests,
            renderer,
            groups: BTreeMap::new(),
            taken: HashMap::new(),
            clock,
            now_ms: 0,
            clock_start_ms: None,
            wall_ms: 0,
        }
    }

    /// Moves time forward to `now_ms` (never back) and returns the engine's time.
    fn advance(&mut self, now_ms: i64) -> i64 {
        let start = *self.clock_start_ms.get_or_insert(now_ms);
        if now_ms > self.now_ms {
            let before = (self.now_ms - start).max(0);
            let after = (now_ms - start).max(0);
            self.clock.advance(Duration::from_millis(
                u64::try_from(after - before).unwrap_or(0),
            ));
            self.now_ms = now_ms;
        }
        self.now_ms
    }

    /// The index of destination `name`.
    pub fn destination(&self, name: &str) -> Option<usize> {
        self.dests.iter().position(|d| d.name == name)
    }

    /// Groups `alert` for each of destinations `to` it has not joined yet, with a GROUPED
    /// record each, then sends what is due.
    pub fn add(
        &mut self,
        alert: &Alert,
        to: &[usize],
        partition: i32,
        now_ms: i64,
        out: &mut Vec<Out>,
    ) {
        let now_ms = if self.wall_ms > 0 {
            now_ms.min(self.wall_ms.saturating_add(MAX_AHEAD_MS))
        } else {
            now_ms
        };
        let now = self.advance(now_ms);
        let mut dests: Vec<usize> = to
            .iter()
            .copied()
            .filter(|d| *d < self.dests.len())
            .collect();
        dests.sort_unstable();
        dests.dedup();
        // A pager is told of an incident's lifecycle, not of each occurrence.
        dests.retain(|d| {
            !(self.dests[*d].kind == Kind::Pagerduty
                && alert.record.incident_action == Some(IncidentAction::Update))
        });
        let r = &alert.record;
        dests.retain(|d| {
            self.taken
                .get(&(r.source_topic.clone(), r.source_partition, *d))
                .is_none_or(|t| *t < r.source_offset)
        });
        for &d in &dests {
            self.taken.insert(
                (r.source_topic.clone(), r.source_partition, d),
                r.source_offset,
            );
            let mut key = alert.group_key(&self.dests[d].group_by);
            // Each incident is its own PagerDuty alert: its dedup_key is the incident's id.
            if let (Kind::Pagerduty, Some(id)) = (self.dests[d].kind, &alert.record.incident_id) {
                key.push_str(",incident=");
                key.push_str(id);
            }
            let dest_name = self.dests[d].name.clone();
            let group = self
                .groups
                .entry((partition, d, key.clone()))
                .or_insert_with(|| {
                    let id = derived_id(&[
                        "alert-group",
                        &dest_name,
                        &partition.to_string(),
                        &key,
                        &alert.record.source_id,
                    ]);
                    Group::new(id, key, alert.tenant.clone(), now)
                });
            if group.pending.is_empty() && group.last_sent_ms.is_none() {
                group.opened_ms = now;
            }
            group.last_seq += 1;
            let member = Member {
                seq: group.last_seq,
                alert: alert.record.clone(),
                offset: None,
            };
            if self.dests[d].kind != Kind::Pagerduty {
                fire(group, &member);
            }
            group.pending.push(member);
            let cover = Cover {
                seq_from: group.last_seq,
                seq: group.last_seq,
                alerts: 1,
                ..cover_of(group, partition, true)
            };
            let mut grouped = cover.notification(
                &self.dests[d].name,
                self.dests[d].kind,
                NotificationOutcome::Grouped,
                now,
            );
            grouped.alert = Some(alert.record.clone());
            out.push(Out::Record(Box::new(grouped)));
        }
        for d in &dests {
            self.flush(*d, now, out);
        }
    }

    /// Sends what is due at `now_ms`, defers what the limits hold back, and forgets groups
    /// with nothing pending, nothing firing and nothing to wait for.
    pub fn tick(&mut self, now_ms: i64, out: &mut Vec<Out>) {
        self.wall_ms = self.wall_ms.max(now_ms);
        let now = self.advance(now_ms);
        for d in 0..self.dests.len() {
            self.flush(d, now, out);
        }
        let dests = &self.dests;
        self.groups.retain(|(_, d, _), g| {
            !g.pending.is_empty()
                || !g.firing.is_empty()
                || g.last_sent_ms
                    .is_none_or(|t| now < t.saturating_add(dests[*d].group_interval))
        });
    }

    /// When `g` of `d` is next due, if it has anything to send.
    fn due(d: &Dest, g: &Group) -> Option<(i64, bool)> {
        // A person acknowledged or resolved an incident: the pager hears at once.
        let by_hand = |m: &Member| {
            matches!(
                m.alert.incident_action,
                Some(IncidentAction::Acknowledge | IncidentAction::Resolve)
            )
        };
        if g.pending.iter().any(by_hand) {
            return Some((i64::MIN, false));
        }
        if !g.pending.is_empty() {
            let at = match g.last_sent_ms {
                Some(t) => t + d.group_interval,
                None => {
                    let critical = g
                        .pending
                        .iter()
                        .any(|m| Level::of(&m.alert) == Level::Critical);
                    g.opened_ms
                        + if critical {
                            d.critical_group_wait
                        } else {
                            d.group_wait
                        }
                }
            };
            return Some((at, false));
        }
        // PagerDuty keeps its own alert open and escalates it: no reminders there.
        match (g.firing.is_empty(), g.last_sent_ms, d.kind) {
            (false, Some(t), Kind::Slack | Kind::Webhook) => {
                Some((t.saturating_add(d.repeat_interval), true))
            }
            _ => None,
        }
    }

    fn flush(&mut self, d: usize, now: i64, out: &mut Vec<Out>) {
        let dest = &self.dests[d];
        let mut ready: Vec<(i64, (i32, usize, String), bool)> = self
            .groups
            .iter()
            .filter(|((_, gd, _), _)| *gd == d)
            .filter_map(|(k, g)| {
                Self::due(dest, g)
                    .filter(|(at, _)| *at <= now)
                    .map(|(at, repeat)| (at, k.clone(), repeat))
            })
            .collect();
        if ready.is_empty() {
            return;
        }
        ready.sort();
        match dest.kind {
            Kind::Slack | Kind::Webhook => {
                if dest.limiter.check().is_ok() {
                    let keys: Vec<_> = ready.into_iter().map(|(_, k, r)| (k, r)).collect();
                    self.deliver(d, &keys, now, out);
                } else {
                    self.defer(d, ready.into_iter().map(|(_, k, _)| k), now, out);
                }
            }
            Kind::Pagerduty => {
                let mut ready = ready.into_iter();
                while let Some((_, key, repeat)) = ready.next() {
                    let events = self.pagerduty_events(&key, repeat);
                    let n = nonzero(u32::try_from(events.len()).unwrap_or(u32::MAX));
                    if matches!(self.dests[d].limiter.check_n(n), Ok(Ok(()))) {
                        let keys = [(key, repeat)];
                        let covers = self.covers(&keys);
                        let id = delivery_id(&self.dests[d].name, &covers, now);
                        let delivery = self.delivery(d, covers, id, events, now);
                        self.send(&keys, delivery, out);
                    } else {
                        let rest = std::iter::once(key).chain(ready.map(|(_, k, _)| k));
                        self.defer(d, rest, now, out);
                        break;
                    }
                }
            }
        }
    }

    fn defer(
        &mut self,
        d: usize,
        keys: impl Iterator<Item = (i32, usize, String)>,
        now: i64,
        out: &mut Vec<Out>,
    ) {
        for key in keys {
            let Some(g) = self.groups.get_mut(&key) else {
                continue;
            };
            if g.deferred {
                continue;
            }
            g.deferred = true;
            let cover = cover_of(g, key.0, false);
            let dest = &self.dests[d];
            out.push(Out::Record(Box::new(cover.notification(
                &dest.name,
                dest.kind,
                NotificationOutcome::Deferred,
                now,
            ))));
        }
    }

    /// The alerts a message about `g` carries, with their numbers: its pending ones, or for a
    /// reminder the incidents still firing.
    fn numbered(g: &Group, repeat: bool) -> Vec<(i64, &AlertRecord)> {
        let members: Box<dyn Iterator<Item = &Member>> = if repeat {
            Box::new(g.firing.values())
        } else {
            Box::new(g.pending.iter())
        };
        members.map(|m| (m.seq, &m.alert)).collect()
    }

    fn members(g: &Group, repeat: bool) -> Vec<&AlertRecord> {
        Self::numbered(g, repeat)
            .into_iter()
            .map(|(_, a)| a)
            .collect()
    }

    fn text(&self, key: &(i32, usize, String), repeat: bool) -> Option<GroupText> {
        let g = self.groups.get(key)?;
        Some(
            self.renderer
                .group(key.1, &g.tenant, &g.key, &Self::members(g, repeat), repeat),
        )
    }

    fn pagerduty_events(&self, key: &(i32, usize, String), repeat: bool) -> Vec<Value> {
        let (Some(g), Some(text)) = (self.groups.get(key), self.text(key, repeat)) else {
            return vec![];
        };
        self.renderer
            .pagerduty(&g.id, &text, &Self::members(g, repeat))
    }

    /// One Slack or webhook message for every group in `keys`.
    fn deliver(
        &mut self,
        d: usize,
        keys: &[((i32, usize, String), bool)],
        now: i64,
        out: &mut Vec<Out>,
    ) {
        let texts: Vec<GroupText> = keys
            .iter()
            .filter_map(|(k, repeat)| self.text(k, *repeat))
            .collect();
        let covers = self.covers(keys);
        let id = delivery_id(&self.dests[d].name, &covers, now);
        let request = match self.dests[d].kind {
            Kind::Slack => self.renderer.slack(&texts),
            _ => {
                let groups: Vec<WebhookGroup<'_>> = keys
                    .iter()
                    .zip(&texts)
                    .zip(&covers)
                    .filter_map(|(((k, repeat), text), cover)| {
                        self.groups.get(k).map(|g| WebhookGroup {
                            cover,
                            text,
                            alerts: Self::numbered(g, *repeat),
                        })
                    })
                    .collect();
                self.renderer.webhook(&id, &self.dests[d].name, &groups)
            }
        };
        let delivery = self.delivery(d, covers, id, vec![request], now);
        self.send(keys, delivery, out);
    }

    fn covers(&self, keys: &[((i32, usize, String), bool)]) -> Vec<Cover> {
        keys.iter()
            .filter_map(|(k, repeat)| Some(cover_of(self.groups.get(k)?, k.0, *repeat)))
            .collect()
    }

    fn delivery(
        &self,
        d: usize,
        covers: Vec<Cover>,
        id: String,
        requests: Vec<Value>,
        now: i64,
    ) -> Delivery {
        let dest = &self.dests[d];
        Delivery {
            id,
            dest: d,
            destination: dest.name.clone(),
            kind: dest.kind,
            covers,
            requests,
            at_ms: now,
        }
    }

    /// Emits `delivery` and marks the groups of `keys` sent: its outcome record makes that
    /// durable.
    fn send(
        &mut self,
        keys: &[((i32, usize, String), bool)],
        delivery: Delivery,
        out: &mut Vec<Out>,
    ) {
        for (k, repeat) in keys {
            if let Some(g) = self.groups.get_mut(k) {
                if !repeat {
                    g.covered = g.pending.last().map_or(g.covered, |m| m.seq);
                    g.pending.clear();
                }
                g.last_sent_ms = Some(delivery.at_ms);
                g.deferred = false;
            }
        }
        if !delivery.requests.is_empty() {
            out.push(Out::Deliver(Box::new(delivery)));
        }
    }

    /// Rebuilds state from a record of the notifications topic at `offset`. While
    /// `rebuilding`, groups are restored from it; live, the engine already holds what it wrote
    /// and only learns where the record landed.
    pub fn restore(&mut self, n: &Notification, offset: i64, rebuilding: bool) {
        let Some(d) = self.destination(&n.destination) else {
            return;
        };
        let key = (n.partition, d, n.group_key.clone());
        // Live, the engine took the input itself when it grouped it.
        if let (Some(a), true) = (&n.alert, rebuilding) {
            let taken = self
                .taken
                .entry((a.source_topic.clone(), a.source_partition, d))
                .or_insert(-1);
            *taken = (*taken).max(a.source_offset);
        }
        if rebuilding {
            self.advance(n.at_ms);
        }
        match (n.outcome, &n.alert) {
            (NotificationOutcome::Grouped, Some(alert)) => {
                if self.groups.get(&key).is_none_or(|g| g.id != n.group_id) {
                    if !rebuilding {
                        return;
                    }
                    // A group's first record, or a later one of a group forgotten since.
                    let mut g = Group::of_record(n);
                    g.last_seq = n.seq - 1;
                    g.covered = n.seq - 1;
                    self.groups.insert(key.clone(), g);
                }
                let Some(g) = self.groups.get_mut(&key) else {
                    return;
                };
                if n.seq <= g.last_seq {
                    // Read back: where it landed.
                    for m in g.pending.iter_mut().chain(g.firing.values_mut()) {
                        if m.seq == n.seq {
                            m.offset = Some(offset);
                        }
                    }
                } else if rebuilding {
                    let member = Member {
                        seq: n.seq,
                        alert: alert.clone(),
                        offset: Some(offset),
                    };
                    if g.pending.is_empty() && g.last_sent_ms.is_none() {
                        g.opened_ms = n.at_ms;
                    }
                    g.last_seq = n.seq;
                    if n.destination_kind != sightline_events::DestinationKind::Pagerduty {
                        fire(g, &member);
                    }
                    g.pending.push(member);
                }
            }
            (NotificationOutcome::Sent | NotificationOutcome::DeadLettered, _) => {
                if rebuilding && self.groups.get(&key).is_none_or(|g| g.id != n.group_id) {
                    // The rebuild starts at this group's last message: what came before is
                    // covered.
                    let mut g = Group::of_record(n);
                    g.last_seq = n.seq;
                    self.groups.insert(key.clone(), g);
                }
                let Some(g) = self.groups.get_mut(&key).filter(|g| g.id == n.group_id) else {
                    return;
                };
                g.sent_offset = Some(offset);
                if rebuilding {
                    if n.seq > g.covered {
                        g.covered = n.seq;
                        g.last_seq = g.last_seq.max(n.seq);
                        g.pending.retain(|m| m.seq > n.seq);
                    }
                    g.last_sent_ms = g.last_sent_ms.max(Some(n.at_ms));
                    g.deferred = false;
                }
            }
            (NotificationOutcome::Deferred, _) if rebuilding => {
                if let Some(g) = self.groups.get_mut(&key).filter(|g| g.id == n.group_id) {
                    g.deferred = true;
                }
            }
            _ => {}
        }
    }

    /// Drops the groups of `partitions`.
    pub fn revoke(&mut self, partitions: &HashSet<i32>) {
        self.groups.retain(|(p, _, _), _| !partitions.contains(p));
        self.taken.retain(|(_, p, _), _| !partitions.contains(p));
    }

    /// The lowest offset of `partition` of the notifications topic the groups still need.
    pub fn retained_from(&self, partition: i32) -> Option<i64> {
        self.groups
            .range((partition, 0, String::new())..)
            .take_while(|((p, _, _), _)| *p == partition)
            .flat_map(|(_, g)| {
                g.pending
                    .iter()
                    .chain(g.firing.values())
                    .filter_map(|m| m.offset)
                    .chain(g.sent_offset)
            })
            .min()
    }

    /// Groups held.
    pub fn size(&self) -> usize {
        self.groups.len()
    }

    /// Alerts waiting in groups, per destination name (for tests and the state gauge).
    pub fn pending(&self) -> BTreeMap<String, usize> {
        let mut by = BTreeMap::new();
        for ((_, d, _), g) in &self.groups {
            *by.entry(self.dests[*d].name.clone()).or_insert(0) += g.pending.len();
        }
        by
    }
}

/// Keeps the open, unacknowledged incidents of a group (for reminders, which PagerDuty does
/// not get: it keeps its own alert open).
fn fire(g: &mut Group, m: &Member) {
    let (Some(id), Some(action)) = (&m.alert.incident_id, m.alert.incident_action) else {
        return;
    };
    match action {
        IncidentAction::Trigger | IncidentAction::Update => {
            g.firing.insert(id.clone(), m.clone());
        }
        IncidentAction::Acknowledge | IncidentAction::Resolve => {
            g.firing.remove(id);
        }
    }
}

fn delivery_id(dest: &str, covers: &[Cover], now: i64) -> String {
    let mut parts: Vec<String> = vec!["delivery".into(), dest.into()];
    for c in covers {
        parts.extend([
            c.group_id.clone(),
            c.seq_from.to_string(),
            c.seq.to_string(),
        ]);
    }
    // A reminder covers no new alert: its time tells it from the message before.
    if covers.iter().all(|c| c.alerts == 0) {
        parts.push(now.to_string());
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    derived_id(&refs)
}

/// What a message about `g` covers: its pending alerts, or none for a reminder.
fn cover_of(g: &Group, partition: i32, repeat: bool) -> Cover {
    let (seq_from, seq, alerts) = match (repeat, g.pending.first(), g.pending.last()) {
        (false, Some(first), Some(last)) => (first.seq, last.seq, g.pending.len() as i64),
        _ => (g.covered, g.covered, 0),
    };
    Cover {
        group_id: g.id.clone(),
        group_key: g.key.clone(),
        tenant: g.tenant.clone(),
        partition,
        seq_from,
        seq,
        alerts,
    }
}
