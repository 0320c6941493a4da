//! Which record ids a partition has already written: a window in event time. Pure.
//!
//! A fact published twice (a shim spool re-send, a processor replaying its outputs) comes
//! back with the same id on the same partition, close in event time to the first. Ids are
//! held as 128-bit hashes for `window` of event time behind the latest seen, so memory is
//! bounded by the partition's rate, not its history.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

/// 128 bits of an id: two SipHash runs with different prefixes.
fn digest(id: &str) -> u128 {
    let half = |salt: u8| {
        let mut h = std::hash::DefaultHasher::new();
        salt.hash(&mut h);
        id.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// The ids of one partition seen within the window.
#[derive(Debug, Default)]
pub struct Seen {
    ids: HashMap<u128, i64>,
    order: VecDeque<(i64, u128)>,
    latest_ms: i64,
}

impl Seen {
    /// Records `id` at event time `ts_ms`; false when it was already seen within `window_ms`.
    pub fn first_time(&mut self, id: &str, ts_ms: i64, window_ms: i64) -> bool {
        let key = digest(id);
        if self.ids.contains_key(&key) {
            return false;
        }
        self.ids.insert(key, ts_ms);
        self.order.push_back((ts_ms, key));
        self.latest_ms = self.latest_ms.max(ts_ms);
        let horizon = self.latest_ms.saturating_sub(window_ms);
        while let Some(&(ts, k)) = self.order.front() {
            if ts >= horizon {
                break;
            }
            self.order.pop_front();
            self.ids.remove(&k);
        }
        true
    }

    /// Ids held.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_second_copy_within_the_window_is_refused() {
        let mut s = Seen::default();
        assert!(s.first_time("a", 1_000, 60_000));
        assert!(s.first_time("b", 2_000, 60_000));
        assert!(!s.first_time("a", 1_000, 60_000));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn ids_older_than_the_window_are_forgotten() {
        let mut s = Seen::default();
        assert!(s.first_time("a", 0, 1_000));
        assert!(s.first_time("b", 5_000, 1_000));
        assert_eq!(s.len(), 1, "a is more than a window behind b");
        assert!(s.first_time("a", 0, 1_000), "so a copy of it counts again");
    }

    proptest! {
        /// Within the window, the ids let through are exactly the distinct ids.
        #[test]
        fn lets_each_distinct_id_through_once(ids in proptest::collection::vec(0u8..40, 0..300)) {
            let mut s = Seen::default();
            let mut through = std::collections::HashSet::new();
            for (i, id) in ids.iter().enumerate() {
                let id = format!("id-{id}");
                if s.first_time(&id, i as i64, 1_000_000) {
                    prop_assert!(through.insert(id), "let through twice");
                }
            }
            let distinct: std::collections::HashSet<_> = ids.iter().map(|i| format!("id-{i}")).collect();
            prop_assert_eq!(through, distinct);
        }
    }
}
