//! Layered config: defaults → TOML file → `SIGHTLINE__SECTION__KEY` env.

use std::fmt;
use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::de::DeserializeOwned;

/// The env var prefix; `SIGHTLINE__KAFKA__BROKERS` sets `kafka.brokers`.
pub const ENV_PREFIX: &str = "SIGHTLINE__";

/// One config problem: which key, what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key, e.g. `kafka.brokers`.
    pub key: String,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl Problem {
    /// A problem with `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Pure validation of a loaded config: no network, no files.
pub trait Validate {
    /// Every problem found; empty when the config is usable.
    fn validate(&self) -> Vec<Problem>;
}

/// The config could not be loaded. Lists every problem, each naming its key.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// All problems found.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problem(s)):",
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        write!(
            f,
            "Set keys in the config file or as {ENV_PREFIX}SECTION__KEY env vars."
        )
    }
}

/// Loads `T` from its serde defaults, then `file` (if any), then the environment, and validates.
pub fn load<T: DeserializeOwned + Validate>(file: Option<&Path>) -> Result<T, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError {
                problems: vec![Problem::new(
                    "--config",
                    format!(
                        "file {} does not exist; pass an existing TOML file",
                        path.display()
                    ),
                )],
            });
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
    let config: T = figment.extract().map_err(|errors| ConfigError {
        problems: errors
            .into_iter()
            .map(|e| {
                let key = if e.path.is_empty() {
                    "<root>".to_string()
                } else {
                    e.path.join(".")
                };
                let source = e
                    .metadata
                    .as_ref()
                    .map(|m| format!(" (from {})", m.name))
                    .unwrap_or_default();
                Problem::new(key, format!("{}{source}", e.kind))
            })
            .collect(),
    })?;
    let problems = config.validate();
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError { problems })
    }
}

/// Loads a config in a binary's `main`: prints every problem and exits 2 on failure.
pub fn load_or_exit<T: DeserializeOwned + Validate>(file: Option<&Path>) -> T {
    match load(file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::time::Duration;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Demo {
        #[serde(default = "default_name")]
        name: String,
        #[serde(default)]
        inner: Inner,
    }

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(default)]
        port: u16,
        #[serde(default, with = "humantime_serde")]
        wait: Option<Duration>,
    }

    fn default_name() -> String {
        "dflt".into()
    }

    impl Validate for Demo {
        fn validate(&self) -> Vec<Problem> {
            let mut p = vec![];
            if self.name.is_empty() {
                p.push(Problem::new("name", "must not be empty"));
            }
            if self.inner.port == 1 {
                p.push(Problem::new(
                    "inner.port",
                    "port 1 is reserved; pick another",
                ));
            }
            p
        }
    }

    fn write(text: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!(
            "sightline-config-{}-{}.toml",
            std::process::id(),
            text.len()
        ));
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn defaults_then_file() {
        let path = write("[inner]\nport = 80\nwait = \"1s 500ms\"\n");
        let c: Demo = load(Some(&path)).expect("load");
        assert_eq!(c.name, "dflt");
        assert_eq!(c.inner.port, 80);
        assert_eq!(c.inner.wait, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn unknown_keys_and_bad_types_are_all_reported_with_their_keys() {
        let path = write("nmae = \"typo\"\n[inner]\nport = \"eighty\"\n");
        let err = load::<Demo>(Some(&path)).expect_err("invalid");
        let text = err.to_string();
        assert!(
            text.contains("nmae") || text.contains("inner.port"),
            "{text}"
        );
        assert!(text.contains("SIGHTLINE__"), "{text}");
    }

    #[test]
    fn validation_problems_name_the_key() {
        let path = write("name = \"\"\n[inner]\nport = 1\n");
        let err = load::<Demo>(Some(&path)).expect_err("invalid");
        let keys: Vec<_> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["name", "inner.port"]);
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = load::<Demo>(Some(Path::new("/nonexistent/x.toml"))).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/x.toml"));
    }
}
