//! Sightline's topics (DESIGN.md §2) and their idempotent creation.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::{Error, KafkaConfig, Result, TopicsConfig};

/// One of Sightline's topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// `LlmEvent`s from the shim, keyed by tenant/user.
    Events,
    /// Events with a logical id after resampling dedupe.
    Grouped,
    /// Policy verdicts.
    Verdicts,
    /// Incident events (processors/incidents), keyed by the incident's partition key.
    Incidents,
    /// People's incident commands (ack, resolve, assign…), keyed like the incident.
    IncidentCommands,
    /// Internal to processors/incidents: finished calls re-keyed by tenant.
    IncidentSignals,
    /// Alert delivery outcomes.
    Notifications,
    /// Records no processor could handle.
    Dlq,
}

impl Topic {
    /// Every topic, in pipeline order.
    pub const ALL: [Topic; 8] = [
        Topic::Events,
        Topic::Grouped,
        Topic::Verdicts,
        Topic::Incidents,
        Topic::IncidentCommands,
        Topic::IncidentSignals,
        Topic::Notifications,
        Topic::Dlq,
    ];

    /// `events`, `grouped`…
    pub fn short(self) -> &'static str {
        match self {
            Topic::Events => "events",
            Topic::Grouped => "grouped",
            Topic::Verdicts => "verdicts",
            Topic::Incidents => "incidents",
            Topic::IncidentCommands => "incident-commands",
            Topic::IncidentSignals => "incident-signals",
            Topic::Notifications => "notifications",
            Topic::Dlq => "dlq",
        }
    }

    /// Parses a short name.
    pub fn from_short(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.short() == s)
    }

    /// All short names.
    pub fn short_names() -> Vec<&'static str> {
        Self::ALL.iter().map(|t| t.short()).collect()
    }
}

/// Resolves topic names from `[topics]`.
#[derive(Debug, Clone)]
pub struct TopicNames {
    prefix: String,
}

impl TopicNames {
    /// Names under `prefix`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// `<prefix>.<short>.v1`.
    pub fn name(&self, topic: Topic) -> String {
        format!("{}.{}.v1", self.prefix, topic.short())
    }
}

impl From<&TopicsConfig> for TopicNames {
    fn from(c: &TopicsConfig) -> Self {
        Self::new(&c.prefix)
    }
}

/// What `apply` did for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The topic was created.
    Created,
    /// The topic already existed; left as is.
    AlreadyExists,
}

/// Creates every topic that does not exist yet. Safe to run any number of times.
pub async fn apply(kafka: &KafkaConfig, topics: &TopicsConfig) -> Result<Vec<(String, Applied)>> {
    let admin: AdminClient<DefaultClientContext> = kafka.client_config(&[]).create()?;
    let names = TopicNames::from(topics);
    let specs: Vec<(String, i32)> = Topic::ALL
        .iter()
        .map(|t| {
            let partitions = topics
                .partitions_by_topic
                .get(t.short())
                .copied()
                .unwrap_or(topics.partitions);
            (names.name(*t), partitions)
        })
        .collect();
    let new_topics: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|(name, partitions)| {
            NewTopic::new(
                name,
                *partitions,
                TopicReplication::Fixed(topics.replication_factor),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin.create_topics(&new_topics, &options).await?;
    let mut out = Vec::with_capacity(results.len());
    for result in results {
        match result {
            Ok(name) => out.push((name, Applied::Created)),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                out.push((name, Applied::AlreadyExists))
            }
            Err((name, code)) => {
                return Err(Error::Topic {
                    topic: name,
                    message: code.to_string(),
                });
            }
        }
    }
    Ok(out)
}
