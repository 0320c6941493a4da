//! The current policy, replaced without a restart when its file changes or on SIGHUP.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use sightline_policy::{Policy, PolicySection};
use sightline_runtime::reload::{Live, Reload};
use sightline_runtime::Shutdown;

/// The policy in force; cheap to read from any task.
pub type PolicyCell = Live<Policy>;

/// Reloads the policy file into `cell` when it changes (checked every `poll`) or on SIGHUP,
/// until shutdown. A policy that does not load is reported and the one in force stays; one
/// with the same version is not counted.
pub fn watch(
    cell: PolicyCell,
    section: PolicySection,
    poll: Duration,
    reloads: Counter,
    shutdown: Shutdown,
) {
    let file = section.file.clone();
    let reload = Reload {
        what: "policy",
        file,
        poll,
        load: Box::new(move || section.load()),
        same: |a: &Policy, b: &Policy| a.version() == b.version(),
        on_reload: Box::new(move |_: &Policy| {
            reloads.inc();
        }),
    };
    sightline_runtime::reload::watch(cell, reload, shutdown);
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
