//! The one retry loop: back off and try again while a failure is retryable and shutdown has
//! not started.

use std::future::Future;
use std::time::Duration;

use crate::{Backoff, Shutdown};

/// Runs `attempt` until it succeeds, fails with an error `retryable` rejects, or shutdown
/// starts; waits grow from 100 ms to `most`. Each retry is logged with `what`.
pub async fn retry<T, E, F, Fut>(
    what: &str,
    shutdown: &Shutdown,
    most: Duration,
    retryable: impl Fn(&E) -> bool,
    mut attempt: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::new(Duration::from_millis(100), most);
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) if retryable(&e) && !shutdown.is_triggered() => {
                let wait = backoff.next_wait();
                tracing::warn!(error = %e, what, retry_in = ?wait, "failed; retrying");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.wait() => {}
                }
            }
            Err(e) => return Err(e),
        }
    }
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
