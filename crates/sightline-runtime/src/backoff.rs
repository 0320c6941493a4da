//! Doubling waits: how every retry loop and every poll of a quiet queue spaces its looks.

use std::time::Duration;

/// A wait that starts at `first`, doubles with each [`next_wait`](Self::next_wait) up to `most`, and
/// starts over with [`reset`](Self::reset).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    first: Duration,
    most: Duration,
    current: Duration,
}

impl Backoff {
    /// Waits of `first`, then twice as long each time, never more than `most`.
    pub fn new(first: Duration, most: Duration) -> Self {
        Self {
            first,
            most,
            current: first.min(most),
        }
    }

    /// The wait to use now; the next one is twice as long, up to the most.
    pub fn next_wait(&mut self) -> Duration {
        let now = self.current;
        self.current = (self.current * 2).min(self.most);
        now
    }

    /// Starts over from the first wait (after a success, or when work arrives).
    pub fn reset(&mut self) {
        self.current = self.first.min(self.most);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_most_and_start_over_on_reset() {
        let mut b = Backoff::new(Duration::from_millis(5), Duration::from_millis(100));
        let waits: Vec<u128> = (0..7).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 100, 100]);
        b.reset();
        assert_eq!(b.next_wait(), Duration::from_millis(5));
        assert_eq!(b.next_wait(), Duration::from_millis(10));
    }

    #[test]
    fn a_first_wait_above_the_most_is_capped() {
        let mut b = Backoff::new(Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(b.next_wait(), Duration::from_secs(1));
        b.reset();
        assert_eq!(b.next_wait(), Duration::from_secs(1));
    }
}
