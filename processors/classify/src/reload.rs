//! The current policy, replaced without a restart when its file changes or on SIGHUP.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::counter::Counter;
use sightline_policy::{Policy, PolicySection};
use sightline_runtime::Shutdown;

/// The policy in force; cheap to read from any task.
#[derive(Debug, Clone)]
pub struct PolicyCell(Arc<RwLock<Arc<Policy>>>);

impl PolicyCell {
    /// A cell holding `policy`.
    pub fn new(policy: Policy) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(policy))))
    }

    /// The policy in force now.
    pub fn current(&self) -> Arc<Policy> {
        match self.0.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, policy: Policy) {
        match self.0.write() {
            Ok(mut p) => *p = Arc::new(policy),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(policy),
        }
    }
}

fn modified(section: &PolicySection) -> Option<SystemTime> {
    let file = section.file.as_ref()?;
    std::fs::metadata(file).and_then(|m| m.modified()).ok()
}

/// Reloads the policy file into `cell` when it changes (checked every `poll`) or on SIGHUP,
/// until shutdown. A policy that does not load is reported and the one in force stays.
pub fn watch(
    cell: PolicyCell,
    section: PolicySection,
    poll: Duration,
    reloads: Counter,
    shutdown: Shutdown,
) {
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut seen = modified(&section);
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<()>();
            let forced = tokio::select! {
                () = shutdown.wait() => return,
                () = hangup => true,
                () = tokio::time::sleep(poll) => false,
            };
            let now = modified(&section);
            if !forced && now == seen {
                continue;
            }
            seen = now;
            match section.load() {
                Ok(policy) => {
                    let before = cell.current().version().to_string();
                    if policy.version() != before {
                        tracing::info!(from = %before, to = %policy.version(), "policy reloaded");
                        cell.replace(policy);
                        reloads.inc();
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "policy not reloaded; the one in force stays")
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "version = 1\n[tiers.INFO]\nactions = []\n";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_changed_file_is_reloaded_and_a_broken_one_is_not() {
        let path = std::env::temp_dir().join(format!("policy-{}.toml", std::process::id()));
        std::fs::write(&path, POLICY).expect("write");
        let section = PolicySection {
            file: Some(path.clone()),
            ..PolicySection::default()
        };
        let cell = PolicyCell::new(section.load().expect("load"));
        let first = cell.current().version().to_string();
        let shutdown = Shutdown::new();
        let reloads = Counter::default();
        watch(
            cell.clone(),
            section,
            Duration::from_millis(20),
            reloads.clone(),
            shutdown.clone(),
        );
        let wait_for = |pred: &dyn Fn() -> bool| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while !pred() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            pred()
        };
        // A different mtime second is not guaranteed; the size changes, so does the text.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        std::fs::write(&path, format!("{POLICY}# v2\n")).expect("write");
        assert!(wait_for(&|| cell.current().version() != first), "reloaded");
        let second = cell.current().version().to_string();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        std::fs::write(&path, "version = 7\n").expect("write");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            cell.current().version(),
            second,
            "a broken policy is not taken"
        );
        assert_eq!(reloads.get(), 1);
        shutdown.trigger();
        let _ = std::fs::remove_file(&path);
    }
}
