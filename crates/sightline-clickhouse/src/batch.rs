use std::time::{Duration, Instant};

use serde::Deserialize;
use sightline_runtime::Problem;

/// `[batch]`: a batch is flushed when it reaches any of these limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Rows per insert.
    #[serde(default = "default_max_rows")]
    pub max_rows: usize,
    /// Approximate encoded bytes per insert.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// Longest a row waits before its batch is flushed.
    #[serde(default = "default_max_age", with = "humantime_serde")]
    pub max_age: Duration,
}

fn default_max_rows() -> usize {
    50_000
}

fn default_max_bytes() -> usize {
    16 * 1024 * 1024
}

fn default_max_age() -> Duration {
    // Two inserts a second per table keep a row's lag from the shim under 2 s at p99
    // (tests/benches/freshness.rs) and the parts few.
    Duration::from_millis(500)
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_rows: default_max_rows(),
            max_bytes: default_max_bytes(),
            max_age: default_max_age(),
        }
    }
}

impl BatchConfig {
    /// Problems with this section.
    pub fn validate(&self, prefix: &str) -> Vec<Problem> {
        let mut p = vec![];
        if self.max_rows == 0 {
            p.push(Problem::new(
                format!("{prefix}.max_rows"),
                "must be at least 1",
            ));
        }
        if self.max_bytes == 0 {
            p.push(Problem::new(
                format!("{prefix}.max_bytes"),
                "must be at least 1",
            ));
        }
        if self.max_age.is_zero() {
            p.push(Problem::new(
                format!("{prefix}.max_age"),
                "must be more than 0, e.g. \"1s\"",
            ));
        }
        p
    }
}

/// Rows waiting for one insert. Pure: the caller owns the clock and the I/O.
#[derive(Debug)]
pub struct Batch<T> {
    config: BatchConfig,
    rows: Vec<T>,
    bytes: usize,
    started: Option<Instant>,
}

impl<T> Batch<T> {
    /// An empty batch.
    pub fn new(config: BatchConfig) -> Self {
        Self {
            config,
            rows: Vec::new(),
            bytes: 0,
            started: None,
        }
    }

    /// Adds a row of roughly `size` bytes, first seen at `now`.
    pub fn push(&mut self, row: T, size: usize, now: Instant) {
        self.started.get_or_insert(now);
        self.rows.push(row);
        self.bytes += size;
    }

    /// Whether the batch should be flushed at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        self.rows.len() >= self.config.max_rows
            || self.bytes >= self.config.max_bytes
            || self
                .started
                .is_some_and(|s| now.duration_since(s) >= self.config.max_age)
    }

    /// When the age limit will make the batch due, if it holds rows.
    pub fn deadline(&self) -> Option<Instant> {
        self.started.map(|s| s + self.config.max_age)
    }

    /// Rows waiting.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no rows wait.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Approximate bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The rows, without clearing them (a failed insert is retried with the same rows).
    pub fn rows(&self) -> &[T] {
        &self.rows
    }

    /// Empties the batch after a successful insert.
    pub fn clear(&mut self) {
        self.rows.clear();
        self.bytes = 0;
        self.started = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BatchConfig {
        BatchConfig {
            max_rows: 3,
            max_bytes: 100,
            max_age: Duration::from_millis(50),
        }
    }

    #[test]
    fn flushes_on_rows() {
        let now = Instant::now();
        let mut b = Batch::new(cfg());
        b.push(1, 1, now);
        b.push(2, 1, now);
        assert!(!b.is_due(now));
        b.push(3, 1, now);
        assert!(b.is_due(now));
    }

    #[test]
    fn flushes_on_bytes() {
        let now = Instant::now();
        let mut b = Batch::new(cfg());
        b.push(1, 99, now);
        assert!(!b.is_due(now));
        b.push(2, 1, now);
        assert!(b.is_due(now));
    }

    #[test]
    fn flushes_on_age_of_the_oldest_row() {
        let t0 = Instant::now();
        let mut b = Batch::new(cfg());
        assert!(
            !b.is_due(t0 + Duration::from_secs(10)),
            "an empty batch is never due"
        );
        b.push(1, 1, t0);
        b.push(2, 1, t0 + Duration::from_millis(40));
        assert!(!b.is_due(t0 + Duration::from_millis(49)));
        assert!(b.is_due(t0 + Duration::from_millis(50)));
        assert_eq!(b.deadline(), Some(t0 + Duration::from_millis(50)));
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.deadline(), None);
    }
}
