use serde::Deserialize;
use sightline_runtime::Problem;

/// `[schema_registry]`: leave `url` unset to use the ids pinned in `schemas/`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Confluent-compatible registry URL.
    pub url: Option<String>,
}

impl RegistryConfig {
    /// Problems with this section.
    pub fn validate(&self, prefix: &str) -> Vec<Problem> {
        match &self.url {
            Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                vec![Problem::new(
                    format!("{prefix}.url"),
                    "must be an http(s) URL, or unset to use the pinned schema ids",
                )]
            }
            _ => vec![],
        }
    }

    /// The codec this section selects.
    pub fn codec(&self) -> crate::Result<crate::Codec> {
        match &self.url {
            Some(url) => crate::Codec::new(std::sync::Arc::new(crate::RegistryResolver::new(url))),
            None => crate::Codec::pinned(),
        }
    }
}
