//! Resampling windows: which requests are one logical request. Pure: no I/O, no clock.
//!
//! Per input partition, requests with the same tenant, user and content hash whose event
//! times lie less than the tenant's window apart from the first one's are one group. The
//! first to arrive is PRIMARY (index 0) and names the group: its call id is the
//! `logical_id`; the rest are RESAMPLE with indices 1, 2… in arrival order. A RESPONSE
//! inherits the logical id, role and index of its call.
//!
//! Windows are in event time. A group is dropped once the partition's watermark (the latest
//! event time seen) has passed its start by two windows, so any request less than one window
//! late still finds it. Calls are remembered for `response_horizon`, for their responses.
//!
//! Every entry in state has an *anchor*: the lowest input offset its existence depends on
//! (its own, its group's primary and the record that set the watermark when it was made).
//! Replaying a partition from the lowest anchor rebuilds exactly the state a run that never
//! stopped would hold, which [`Windows::retained_from`] reports to the stage runtime.

use std::collections::{BTreeMap, HashMap};

use sightline_events::{EventKind, LlmEvent, ResampleRole};

/// Settings of the grouping.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Window for tenants without their own.
    pub window_ms: i64,
    /// Per-tenant windows.
    pub tenant_windows: HashMap<String, i64>,
    /// How long a call is remembered for its response.
    pub response_horizon_ms: i64,
    /// Most entries (groups plus calls) held per partition; the oldest go first.
    pub max_entries_per_partition: usize,
}

impl Settings {
    fn window(&self, tenant: &str) -> i64 {
        self.tenant_windows
            .get(tenant)
            .copied()
            .unwrap_or(self.window_ms)
    }
}

/// What grouping decided for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// The group's logical id.
    pub logical_id: String,
    /// PRIMARY or RESAMPLE; `None` for a response whose call is no longer remembered.
    pub role: Option<ResampleRole>,
    /// 0 for the primary, then 1, 2…
    pub index: Option<i32>,
}

type Key = (String, String, String);

#[derive(Debug, Clone)]
struct Group {
    logical_id: String,
    start: i64,
    window: i64,
    members: i32,
    anchor: i64,
    /// Offset of the primary: identifies this group among those a key has had.
    primary: i64,
}

#[derive(Debug, Clone)]
struct Call {
    grouping: Grouping,
    anchor: i64,
    at: i64,
    offset: i64,
}

#[derive(Debug, Default)]
struct Partition {
    /// The latest event time seen and the offset of the record that carried it.
    watermark: Option<(i64, i64)>,
    groups: HashMap<Key, Group>,
    /// Groups by (expiry: start plus two windows, primary offset).
    group_order: BTreeMap<(i64, i64), Key>,
    calls: HashMap<String, Call>,
    /// Calls by (event time, offset), for expiry.
    call_order: BTreeMap<(i64, i64), String>,
    /// Multiset of the anchors of everything held.
    anchors: BTreeMap<i64, u32>,
}

impl Partition {
    fn hold(&mut self, anchor: i64) {
        *self.anchors.entry(anchor).or_default() += 1;
    }

    fn release(&mut self, anchor: i64) {
        if let Some(n) = self.anchors.get_mut(&anchor) {
            *n -= 1;
            if *n == 0 {
                self.anchors.remove(&anchor);
            }
        }
    }

    fn entries(&self) -> usize {
        self.groups.len() + self.calls.len()
    }

    fn drop_group(&mut self, expiry: i64, primary: i64) {
        if let Some(key) = self.group_order.remove(&(expiry, primary)) {
            if self.groups.get(&key).is_some_and(|g| g.primary == primary) {
                if let Some(g) = self.groups.remove(&key) {
                    self.release(g.anchor);
                }
            }
        }
    }

    fn drop_call(&mut self, at: i64, offset: i64) {
        if let Some(id) = self.call_order.remove(&(at, offset)) {
            if self.calls.get(&id).is_some_and(|c| c.offset == offset) {
                if let Some(c) = self.calls.remove(&id) {
                    self.release(c.anchor);
                }
            }
        }
    }

    /// Drops groups no request within a window of the watermark can join, and calls past
    /// the horizon.
    fn expire(&mut self, horizon: i64) {
        let watermark = self.watermark.map_or(i64::MIN, |w| w.0);
        while let Some((&(expiry, primary), _)) = self.group_order.first_key_value() {
            if expiry > watermark {
                break;
            }
            self.drop_group(expiry, primary);
        }
        while let Some((&(at, offset), _)) = self.call_order.first_key_value() {
            if at.saturating_add(horizon) > self.watermark.map_or(i64::MIN, |w| w.0) {
                break;
            }
            self.drop_call(at, offset);
        }
    }

    /// Drops the oldest entries until at most `cap` remain; returns how many went.
    fn enforce_cap(&mut self, cap: usize) -> u64 {
        let mut evicted = 0;
        while self.entries() > cap {
            let oldest_group = self.group_order.first_key_value().map(|(k, _)| *k);
            let oldest_call = self.call_order.first_key_value().map(|(k, _)| *k);
            match (oldest_group, oldest_call) {
                (Some(g), Some(c)) if g <= c => self.drop_group(g.0, g.1),
                (Some(g), None) => self.drop_group(g.0, g.1),
                (_, Some(c)) => self.drop_call(c.0, c.1),
                (None, None) => break,
            }
            evicted += 1;
        }
        evicted
    }
}

/// The grouping state of every partition a stage holds.
#[derive(Debug)]
pub struct Windows {
    settings: Settings,
    partitions: HashMap<(usize, i32), Partition>,
    /// Entries dropped because a partition reached its cap.
    pub evicted: u64,
    /// Responses whose call was no longer remembered.
    pub unmatched_responses: u64,
}

impl Windows {
    /// Empty state.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            partitions: HashMap::new(),
            evicted: 0,
            unmatched_responses: 0,
        }
    }

    /// Groups `event`, read at `offset` of input partition `partition`. `content_hash` is the
    /// event's (or one computed from its text); `None` means it has nothing to compare, and a
    /// request without it stands alone.
    pub fn group(
        &mut self,
        partition: (usize, i32),
        offset: i64,
        event: &LlmEvent,
        content_hash: Option<&str>,
    ) -> Grouping {
        let horizon = self.settings.response_horizon_ms;
        let window = self.settings.window(&event.tenant_id);
        let part = self.partitions.entry(partition).or_default();
        let t = event.occurred_at_ms;
        if part.watermark.is_none_or(|(w, _)| t > w) {
            part.watermark = Some((t, offset));
        }
        part.expire(horizon);
        let grouping = match event.kind {
            EventKind::Response => {
                let known = part
                    .calls
                    .get(&event.call_id)
                    .map(|c| (c.grouping.clone(), c.at, c.offset));
                match known {
                    Some((grouping, at, call_offset)) => {
                        // A call has one response: forget it.
                        part.drop_call(at, call_offset);
                        grouping
                    }
                    None => {
                        self.unmatched_responses += 1;
                        Grouping {
                            logical_id: event.call_id.clone(),
                            role: None,
                            index: None,
                        }
                    }
                }
            }
            EventKind::Request => {
                let holder = part.watermark.map_or(offset, |w| w.1);
                let key = content_hash.map(|h| {
                    (
                        event.tenant_id.clone(),
                        event.user_id.clone(),
                        h.to_string(),
                    )
                });
                let primary = Grouping {
                    logical_id: event.call_id.clone(),
                    role: Some(ResampleRole::Primary),
                    index: Some(0),
                };
                let (grouping, group_anchor) = match key {
                    None => (primary, offset),
                    Some(key) => match part.groups.get_mut(&key) {
                        Some(g) if t.abs_diff(g.start) < g.window.unsigned_abs() => {
                            g.members += 1;
                            let grouping = Grouping {
                                logical_id: g.logical_id.clone(),
                                role: Some(ResampleRole::Resample),
                                index: Some(g.members - 1),
                            };
                            (grouping, g.anchor)
                        }
                        _ => {
                            let anchor = offset.min(holder);
                            if let Some(old) = part
                                .groups
                                .get(&key)
                                .map(|g| (g.start.saturating_add(2 * g.window), g.primary))
                            {
                                part.drop_group(old.0, old.1);
                            }
                            part.group_order
                                .insert((t.saturating_add(2 * window), offset), key.clone());
                            part.groups.insert(
                                key,
                                Group {
                                    logical_id: event.call_id.clone(),
                                    start: t,
                                    window,
                                    members: 1,
                                    anchor,
                                    primary: offset,
                                },
                            );
                            part.hold(anchor);
                            (primary, anchor)
                        }
                    },
                };
                // Remember the call for its response.
                let anchor = offset.min(group_anchor).min(holder);
                if let Some(old) = part.calls.get(&event.call_id).map(|c| (c.at, c.offset)) {
                    part.drop_call(old.0, old.1);
                }
                part.call_order.insert((t, offset), event.call_id.clone());
                part.calls.insert(
                    event.call_id.clone(),
                    Call {
                        grouping: grouping.clone(),
                        anchor,
                        at: t,
                        offset,
                    },
                );
                part.hold(anchor);
                grouping
            }
        };
        let cap = self.settings.max_entries_per_partition;
        self.evicted += part.enforce_cap(cap);
        grouping
    }

    /// The partitions moved away: forget them.
    pub fn revoke(&mut self, lost: &[(usize, i32)]) {
        for p in lost {
            self.partitions.remove(p);
        }
    }

    /// The lowest input offset the state of `partition` depends on: its lowest anchor, and
    /// the record that set its watermark (which expiry depends on).
    pub fn retained_from(&self, partition: (usize, i32)) -> Option<i64> {
        let p = self.partitions.get(&partition)?;
        let anchor = p.anchors.first_key_value().map(|(o, _)| *o);
        let holder = p.watermark.map(|w| w.1);
        match (anchor, holder) {
            (Some(a), Some(h)) => Some(a.min(h)),
            (a, h) => a.or(h),
        }
    }

    /// Groups and calls held, over all partitions.
    pub fn size(&self) -> usize {
        self.partitions.values().map(Partition::entries).sum()
    }
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;
