//! Settings replaced without a restart: a [`Live`] value that tasks read, and [`watch`], which
//! reloads it when its file changes or on SIGHUP. A value that does not load is reported and
//! the one in force stays.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use crate::Shutdown;

/// The value in force; cheap to read from any task or thread.
#[derive(Debug)]
pub struct Live<T>(Arc<RwLock<Arc<T>>>);

impl<T> Clone for Live<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Live<T> {
    /// A cell holding `value`.
    pub fn new(value: T) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(value))))
    }

    /// The value in force now.
    pub fn current(&self) -> Arc<T> {
        match self.0.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `value` in force.
    pub fn replace(&self, value: T) {
        match self.0.write() {
            Ok(mut v) => *v = Arc::new(value),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(value),
        }
    }
}

/// What [`watch`] reloads.
pub struct Reload<T, E> {
    /// What it is, for logs (`policy`, `incident rules`).
    pub what: &'static str,
    /// The file whose modification time is watched; `None` reloads on SIGHUP only.
    pub file: Option<PathBuf>,
    /// How often the file is checked.
    pub poll: Duration,
    /// Loads a new value.
    pub load: Box<dyn Fn() -> Result<T, E> + Send + Sync>,
    /// Whether two values are the same (then nothing is replaced).
    pub same: fn(&T, &T) -> bool,
    /// Called after a new value is put in force.
    pub on_reload: Box<dyn Fn(&T) + Send + Sync>,
}

fn modified(file: Option<&PathBuf>) -> Option<SystemTime> {
    std::fs::metadata(file?).and_then(|m| m.modified()).ok()
}

/// Reloads `live` when its file changes (checked every `poll`) or on SIGHUP, until shutdown.
pub fn watch<T, E>(live: Live<T>, reload: Reload<T, E>, shutdown: Shutdown)
where
    T: Send + Sync + 'static,
    E: std::fmt::Display + 'static,
{
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut seen = modified(reload.file.as_ref());
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
                () = tokio::time::sleep(reload.poll) => false,
            };
            let now = modified(reload.file.as_ref());
            if !forced && now == seen {
                continue;
            }
            seen = now;
            match (reload.load)() {
                Ok(value) => {
                    if !(reload.same)(&live.current(), &value) {
                        tracing::info!(what = reload.what, "reloaded; the new one is in force");
                        (reload.on_reload)(&value);
                        live.replace(value);
                    }
                }
                Err(e) => {
                    tracing::error!(what = reload.what, error = %e, "not reloaded; the one in force stays")
                }
            }
        }
    });
}
