//! `[policy]`: the section every component that applies the policy shares.

use std::path::PathBuf;

use serde::Deserialize;
use sightline_runtime::Problem;

use crate::{Policy, Result};

/// `[policy]`: which policy file, and where the fingerprint key comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// Policy file (see `docs/config/policy.toml`); the built-in default when unset.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Env var holding the fingerprint master key. Every component must use the same key, or
    /// fingerprints and content hashes will not match.
    #[serde(default = "default_key_env")]
    pub fingerprint_key_env: String,
}

fn default_key_env() -> String {
    "SIGHTLINE_FINGERPRINT_KEY".into()
}

impl Default for PolicySection {
    fn default() -> Self {
        Self {
            file: None,
            fingerprint_key_env: default_key_env(),
        }
    }
}

impl PolicySection {
    /// Problems, keys prefixed by `prefix` (usually `policy`). With `key_required`, the
    /// fingerprint key must be set (processors: a random key would make their output differ
    /// from run to run).
    pub fn validate(&self, prefix: &str, key_required: bool) -> Vec<Problem> {
        let mut p = vec![];
        if let Some(file) = &self.file {
            if !file.is_file() {
                p.push(Problem::new(
                    format!("{prefix}.file"),
                    format!("{} does not exist; point it at a policy.toml or unset it for the built-in policy", file.display()),
                ));
            }
        }
        if key_required && std::env::var(&self.fingerprint_key_env).map_or(true, |k| k.is_empty()) {
            p.push(Problem::new(
                format!("{prefix}.fingerprint_key_env"),
                format!(
                    "the env var {} is not set; set it to the shim's fingerprint key so fingerprints and content hashes match",
                    self.fingerprint_key_env
                ),
            ));
        }
        p
    }

    /// Loads the policy file, or the built-in default.
    pub fn load(&self) -> Result<Policy> {
        match &self.file {
            Some(file) => Policy::load(file),
            None => Ok(Policy::builtin_default()),
        }
    }

    /// The fingerprint master key, or `None` when its env var is unset or empty.
    pub fn master_key(&self) -> Option<Vec<u8>> {
        std::env::var(&self.fingerprint_key_env)
            .ok()
            .filter(|k| !k.is_empty())
            .map(String::into_bytes)
    }
}
