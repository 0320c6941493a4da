//! Event-time windows for the rules: pure data structures, no I/O, no clock.
//!
//! Every entry remembers the input offset it came from, so the step can tell the runtime
//! the lowest offset its state still depends on ([`Offsets`]): re-reading from there after
//! a restart rebuilds the same windows.

use std::collections::{BTreeMap, VecDeque};

/// A multiset of input offsets: the lowest one is where a rebuild starts.
#[derive(Debug, Default, Clone)]
pub struct Offsets {
    counts: BTreeMap<i64, u32>,
    /// Entries held (read for the `state_size` gauge after every batch).
    len: usize,
}

impl Offsets {
    /// Holds one more entry from `offset`.
    pub fn hold(&mut self, offset: i64) {
        *self.counts.entry(offset).or_insert(0) += 1;
        self.len += 1;
    }

    /// Releases one entry from `offset`.
    pub fn release(&mut self, offset: i64) {
        if let Some(n) = self.counts.get_mut(&offset) {
            *n -= 1;
            self.len -= 1;
            if *n == 0 {
                self.counts.remove(&offset);
            }
        }
    }

    /// The lowest offset held.
    pub fn lowest(&self) -> Option<i64> {
        self.counts.keys().next().copied()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One entry of a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<T> {
    /// Event time.
    pub at_ms: i64,
    /// Input offset.
    pub offset: i64,
    /// What the rule needs of it.
    pub item: T,
}

/// Entries ordered by event time; late ones are inserted in place.
#[derive(Debug, Clone)]
pub struct Hits<T> {
    items: VecDeque<Hit<T>>,
}

impl<T> Default for Hits<T> {
    fn default() -> Self {
        Self {
            items: VecDeque::new(),
        }
    }
}

impl<T> Hits<T> {
    /// Adds an entry, holding its offset in `held`.
    pub fn push(&mut self, at_ms: i64, offset: i64, item: T, held: &mut Offsets) {
        held.hold(offset);
        let hit = Hit {
            at_ms,
            offset,
            item,
        };
        let pos = self.items.partition_point(|h| h.at_ms <= at_ms);
        self.items.insert(pos, hit);
    }

    /// Entries with `from_ms < at_ms <= to_ms`.
    pub fn between(&self, from_ms: i64, to_ms: i64) -> impl Iterator<Item = &Hit<T>> {
        let start = self.items.partition_point(|h| h.at_ms <= from_ms);
        self.items
            .range(start..)
            .take_while(move |h| h.at_ms <= to_ms)
    }

    /// Drops entries at or before `before_ms`, releasing their offsets.
    pub fn evict(&mut self, before_ms: i64, held: &mut Offsets) {
        while self.items.front().is_some_and(|h| h.at_ms <= before_ms) {
            if let Some(h) = self.items.pop_front() {
                held.release(h.offset);
            }
        }
    }

    /// Drops everything, releasing the offsets.
    pub fn clear(&mut self, held: &mut Offsets) {
        for h in self.items.drain(..) {
            held.release(h.offset);
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The share of failed calls in the window ending at `to_ms`, when it holds at least
/// `min_calls` calls.
pub fn failure_percent(
    calls: &Hits<bool>,
    window_ms: i64,
    to_ms: i64,
    min_calls: u32,
) -> Option<f64> {
    let (mut total, mut failed) = (0u64, 0u64);
    for h in calls.between(to_ms.saturating_sub(window_ms), to_ms) {
        total += 1;
        failed += u64::from(h.item);
    }
    (total >= u64::from(min_calls) && total > 0).then(|| failed as f64 * 100.0 / total as f64)
}

/// The sum of the amounts in the window ending at `to_ms`.
pub fn sum(costs: &Hits<i64>, from_ms: i64, to_ms: i64) -> i64 {
    costs
        .between(from_ms, to_ms)
        .fold(0i64, |acc, h| acc.saturating_add(h.item))
}

/// Start of the UTC day holding `at_ms`.
pub fn day_start(at_ms: i64) -> i64 {
    at_ms - at_ms.rem_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_report_the_lowest_held() {
        let mut o = Offsets::default();
        o.hold(7);
        o.hold(3);
        o.hold(3);
        assert_eq!(o.lowest(), Some(3));
        o.release(3);
        assert_eq!(o.lowest(), Some(3));
        o.release(3);
        assert_eq!(o.lowest(), Some(7));
        assert_eq!(o.len(), 1);
        o.release(7);
        o.release(7);
        assert!(o.is_empty());
        assert_eq!(o.len(), 0, "releasing what is not held changes nothing");
    }

    #[test]
    fn windows_count_by_event_time_and_take_late_entries_in_place() {
        let (mut held, mut hits) = (Offsets::default(), Hits::default());
        hits.push(1_000, 1, true, &mut held);
        hits.push(3_000, 2, false, &mut held);
        hits.push(2_000, 3, false, &mut held); // late
        let times: Vec<i64> = hits.between(0, 10_000).map(|h| h.at_ms).collect();
        assert_eq!(times, vec![1_000, 2_000, 3_000]);
        assert_eq!(hits.between(1_000, 3_000).count(), 2, "from is exclusive");
        assert_eq!(failure_percent(&hits, 5_000, 3_000, 3), Some(100.0 / 3.0));
        assert_eq!(
            failure_percent(&hits, 5_000, 3_000, 4),
            None,
            "too few calls"
        );
        hits.evict(1_500, &mut held);
        assert_eq!(hits.len(), 2);
        assert_eq!(held.lowest(), Some(2));
        hits.clear(&mut held);
        assert!(held.is_empty());
    }

    #[test]
    fn days_are_utc() {
        assert_eq!(day_start(86_400_000 + 5), 86_400_000);
        assert_eq!(day_start(86_399_999), 0);
    }
}
