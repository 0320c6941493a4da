//! The one retry loop: back off and try again while a failure is retryable and shutdown has
//! not started. [`retry`] retries without limit (a broker that comes back); [`retry_with`]
//! takes a [`RetryPolicy`] with a number of attempts, jitter, and a wait the failure itself
//! asks for (an HTTP `Retry-After`).

use std::future::Future;
use std::time::Duration;

use crate::{Backoff, Shutdown};

/// What a failed attempt means for the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Retrying cannot help: give up now.
    Stop,
    /// Try again after the policy's next wait.
    Backoff,
    /// Try again after this wait (the failure asked for it), never sooner.
    After(Duration),
}

/// How [`retry_with`] spaces and bounds its attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most attempts in all, the first included; `None` retries until shutdown.
    pub attempts: Option<u32>,
    /// The first wait; each next one doubles.
    pub first: Duration,
    /// The longest wait.
    pub most: Duration,
    /// Whether each wait is drawn at random from its upper half, so many retrying callers do
    /// not come back at the same moment.
    pub jitter: bool,
}

/// Runs `attempt` until it succeeds, fails with an error `retryable` rejects, or shutdown
/// starts; waits grow from 100 ms to `most`. Each retry is logged with `what`.
pub async fn retry<T, E, F, Fut>(
    what: &str,
    shutdown: &Shutdown,
    most: Duration,
    retryable: impl Fn(&E) -> bool,
    attempt: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let policy = RetryPolicy {
        attempts: None,
        first: Duration::from_millis(100),
        most,
        jitter: false,
    };
    let classify = |e: &E| {
        if retryable(e) {
            Retry::Backoff
        } else {
            Retry::Stop
        }
    };
    retry_with(what, shutdown, policy, classify, attempt).await
}

/// Runs `attempt` under `policy` until it succeeds, `classify` says [`Retry::Stop`], the
/// attempts run out, or shutdown starts; returns the last error then.
pub async fn retry_with<T, E, F, Fut>(
    what: &str,
    shutdown: &Shutdown,
    policy: RetryPolicy,
    classify: impl Fn(&E) -> Retry,
    mut attempt: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::new(policy.first, policy.most);
    let mut made = 0u32;
    loop {
        made += 1;
        let e = match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let out_of_attempts = policy.attempts.is_some_and(|most| made >= most);
        let wait = match classify(&e) {
            Retry::Stop => return Err(e),
            _ if out_of_attempts || shutdown.is_triggered() => return Err(e),
            Retry::Backoff if policy.jitter => jittered(backoff.next_wait()),
            Retry::Backoff => backoff.next_wait(),
            Retry::After(wait) => wait,
        };
        tracing::warn!(error = %e, what, attempt = made, retry_in = ?wait, "failed; retrying");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.wait() => {}
        }
    }
}

/// A wait drawn at random from the upper half of `wait`.
fn jittered(wait: Duration) -> Duration {
    let half = wait / 2;
    half + half.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_errors_until_success_and_stops_on_others() {
        let calls = AtomicU32::new(0);
        let ok: Result<u32, String> = retry(
            "t",
            &Shutdown::new(),
            Duration::from_secs(1),
            |_| true,
            || async {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                if n < 3 {
                    Err(format!("try {n}"))
                } else {
                    Ok(n)
                }
            },
        )
        .await;
        assert_eq!(ok, Ok(3));
        let calls = AtomicU32::new(0);
        let fatal: Result<(), String> = retry(
            "t",
            &Shutdown::new(),
            Duration::from_secs(1),
            |e: &String| e != "fatal",
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err("fatal".to_string())
            },
        )
        .await;
        assert_eq!(fatal, Err("fatal".into()));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_bounded_and_a_wait_asked_for_is_honoured() {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let policy = RetryPolicy {
            attempts: Some(3),
            first: Duration::from_millis(10),
            most: Duration::from_millis(40),
            jitter: true,
        };
        let r: Result<(), String> = retry_with(
            "t",
            &Shutdown::new(),
            policy,
            |e: &String| {
                if e == "slow down" {
                    Retry::After(Duration::from_secs(7))
                } else {
                    Retry::Backoff
                }
            },
            || async {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                Err(if n == 0 { "slow down" } else { "again" }.to_string())
            },
        )
        .await;
        assert_eq!(r, Err("again".into()));
        assert_eq!(calls.load(Ordering::SeqCst), 3, "three attempts in all");
        let waited = started.elapsed();
        // 7 s asked for, then one jittered wait of 5..=10 ms.
        assert!(
            waited >= Duration::from_millis(7_005) && waited <= Duration::from_millis(7_010),
            "{waited:?}"
        );
        let calls = AtomicU32::new(0);
        let r: Result<(), String> = retry_with(
            "t",
            &Shutdown::new(),
            policy,
            |_| Retry::Stop,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err("refused".to_string())
            },
        )
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a refusal is not retried");
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_the_retries() {
        let shutdown = Shutdown::new();
        shutdown.trigger();
        let calls = AtomicU32::new(0);
        let r: Result<(), String> = retry(
            "t",
            &shutdown,
            Duration::from_secs(1),
            |_| true,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err("down".to_string())
            },
        )
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
