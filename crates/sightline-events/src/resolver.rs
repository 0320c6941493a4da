use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use apache_avro::Schema;
use async_trait::async_trait;
use schema_registry_converter::async_impl::schema_registry::{
    get_schema_by_id, post_schema, SrSettings,
};
use schema_registry_converter::schema_registry_common::{SchemaType, SuppliedSchema};
use serde::Deserialize;

use crate::{Error, Result, SchemaSource, ALL_SCHEMAS, PINNED_IDS_JSON, SCHEMA_FILES};

/// Maps schemas to wire ids and back.
#[async_trait]
pub trait SchemaResolver: Send + Sync + std::fmt::Debug {
    /// The id to write in front of records of `schema` published under `subject`.
    async fn id_for(&self, subject: &str, schema: &SchemaSource) -> Result<u32>;

    /// The writer schema of a record carrying `id`. An unknown id is [`Error::Decode`].
    async fn schema_by_id(&self, id: u32) -> Result<Arc<Schema>>;
}

pub(crate) fn parse_schema(text: &str) -> Result<Schema> {
    Schema::parse_str(text).map_err(|e| Error::Schema(e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinnedFile {
    #[allow(dead_code)]
    doc: Option<String>,
    schemas: Vec<PinnedEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinnedEntry {
    id: u32,
    name: String,
    file: String,
    /// Hex sha256 of the file's text as pinned.
    sha256: String,
}

/// Ids pinned in `schemas/pinned.json`: no network, the default.
#[derive(Debug)]
pub struct PinnedResolver {
    ids_by_name: HashMap<String, u32>,
    schemas_by_id: HashMap<u32, Arc<Schema>>,
}

impl PinnedResolver {
    /// The pins compiled into this crate.
    pub fn builtin() -> Result<Self> {
        Self::from_json(PINNED_IDS_JSON, ALL_SCHEMAS)
    }

    fn from_json(json: &str, sources: &[SchemaSource]) -> Result<Self> {
        let file: PinnedFile = serde_json::from_str(json)
            .map_err(|e| Error::Schema(format!("schemas/pinned.json: {e}")))?;
        let mut ids_by_name = HashMap::new();
        let mut schemas_by_id = HashMap::new();
        for entry in file.schemas {
            let Some((_, text)) = SCHEMA_FILES.iter().find(|(f, _)| *f == entry.file) else {
                return Err(Error::Schema(format!(
                    "schemas/pinned.json: id {} names the file '{}', which is not compiled in",
                    entry.id, entry.file
                )));
            };
            let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
            if digest != entry.sha256 {
                return Err(Error::Schema(format!(
                    "schemas/pinned.json: {} changed since it was pinned to id {}; a schema that \
                     changes needs a new id (keep the old file under schemas/history/)",
                    entry.file, entry.id
                )));
            }
            let schema = parse_schema(text)?;
            if schema.name().map(|n| n.fullname(None)) != Some(entry.name.clone()) {
                return Err(Error::Schema(format!(
                    "schemas/pinned.json: id {} names '{}', but {} defines another record",
                    entry.id, entry.name, entry.file
                )));
            }
            if schemas_by_id.insert(entry.id, Arc::new(schema)).is_some() {
                return Err(Error::Schema(format!(
                    "schemas/pinned.json: id {} is used twice",
                    entry.id
                )));
            }
            // The id records are written with: this build's version of the schema.
            let current = sources
                .iter()
                .any(|s| s.full_name == entry.name && s.text == *text);
            if current && ids_by_name.insert(entry.name.clone(), entry.id).is_some() {
                return Err(Error::Schema(format!(
                    "schemas/pinned.json: '{}' is pinned twice to the same file",
                    entry.name
                )));
            }
        }
        if let Some(missing) = sources
            .iter()
            .find(|s| !ids_by_name.contains_key(s.full_name))
        {
            return Err(Error::Schema(format!(
                "schemas/pinned.json: no id for this build's {}",
                missing.full_name
            )));
        }
        Ok(Self {
            ids_by_name,
            schemas_by_id,
        })
    }
}

#[async_trait]
impl SchemaResolver for PinnedResolver {
    async fn id_for(&self, _subject: &str, schema: &SchemaSource) -> Result<u32> {
        self.ids_by_name
            .get(schema.full_name)
            .copied()
            .ok_or_else(|| {
                Error::Schema(format!(
                    "no pinned id for {} in schemas/pinned.json",
                    schema.full_name
                ))
            })
    }

    async fn schema_by_id(&self, id: u32) -> Result<Arc<Schema>> {
        self.schemas_by_id
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::Decode(format!("unknown schema id {id} (pinned resolver)")))
    }
}

/// A Confluent-compatible schema registry (Confluent, Karapace, Redpanda, Apicurio ccompat).
///
/// Schemas are registered under the subject on first use; ids are cached for the life of the
/// process, since a registered id never changes.
pub struct RegistryResolver {
    settings: SrSettings,
    ids: RwLock<HashMap<(String, String), u32>>,
    schemas: RwLock<HashMap<u32, Arc<Schema>>>,
}

impl std::fmt::Debug for RegistryResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryResolver").finish_non_exhaustive()
    }
}

impl RegistryResolver {
    /// A resolver for the registry at `url`.
    pub fn new(url: &str) -> Self {
        Self {
            settings: SrSettings::new(url.to_string()),
            ids: RwLock::default(),
            schemas: RwLock::default(),
        }
    }
}

fn registry_error(e: schema_registry_converter::error::SRCError) -> Error {
    Error::Registry {
        message: e.to_string(),
        retryable: e.retriable,
    }
}

#[async_trait]
impl SchemaResolver for RegistryResolver {
    async fn id_for(&self, subject: &str, schema: &SchemaSource) -> Result<u32> {
        let key = (subject.to_string(), schema.full_name.to_string());
        if let Some(id) = self.ids.read().ok().and_then(|m| m.get(&key).copied()) {
            return Ok(id);
        }
        let supplied = SuppliedSchema::new(
            Some(schema.full_name.to_string()),
            SchemaType::Avro,
            schema.text.to_string(),
        );
        let registered = post_schema(&self.settings, subject.to_string(), supplied)
            .await
            .map_err(registry_error)?;
        if let Ok(mut ids) = self.ids.write() {
            ids.insert(key, registered.id);
        }
        Ok(registered.id)
    }

    async fn schema_by_id(&self, id: u32) -> Result<Arc<Schema>> {
        if let Some(s) = self.schemas.read().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(s);
        }
        let registered = get_schema_by_id(id, &self.settings).await.map_err(|e| {
            if e.retriable {
                registry_error(e)
            } else {
                Error::Decode(format!(
                    "schema id {id} is unknown to the registry: {}",
                    e.error
                ))
            }
        })?;
        let schema = Arc::new(parse_schema(&registered.schema)?);
        if let Ok(mut schemas) = self.schemas.write() {
            schemas.insert(id, schema.clone());
        }
        Ok(schema)
    }
}

#[cfg(test)]
mod pin_tests {
    use super::*;

    #[test]
    fn a_schema_edited_without_a_new_id_or_pinned_to_another_name_fails_at_load() {
        assert!(PinnedResolver::builtin().is_ok());
        let pinned: serde_json::Value = serde_json::from_str(PINNED_IDS_JSON).expect("json");
        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut p = pinned.clone();
            f(&mut p["schemas"][1]);
            PinnedResolver::from_json(&p.to_string(), ALL_SCHEMAS)
                .expect_err("refused")
                .to_string()
        };
        assert!(edit(&|e| e["sha256"] = "00".repeat(32).into()).contains("needs a new id"));
        assert!(
            edit(&|e| e["name"] = "io.sightline.dlq.v1.DlqRecord".into())
                .contains("another record")
        );
        assert!(edit(&|e| e["file"] = "nowhere.avsc".into()).contains("not compiled in"));
    }
}
