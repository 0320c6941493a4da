//! Where the step's outputs go: incident events and signals, each to its topic, durable once
//! the broker acknowledged both.

use async_trait::async_trait;
use sightline_events::{IncidentEvent, IncidentSignal};
use sightline_runtime::Shutdown;
use sightline_stage::{Durable, Effect, Fault, KafkaOutput};

use crate::step::Out;

/// Writes incident events and signals.
pub struct Outputs {
    /// `sightline.incidents.v1`
    pub incidents: KafkaOutput<IncidentEvent>,
    /// `sightline.incident-signals.v1`
    pub signals: KafkaOutput<IncidentSignal>,
}

#[async_trait]
impl Effect for Outputs {
    type Item = Out;

    async fn write(&mut self, items: Vec<Out>, shutdown: &Shutdown) -> Result<Durable, Fault> {
        let (mut incidents, mut signals) = (Vec::new(), Vec::new());
        for item in items {
            match item {
                Out::Incident(e) => incidents.push(*e),
                Out::Signal(s) => signals.push(s),
            }
        }
        if !signals.is_empty() {
            self.signals.write(signals, shutdown).await?;
        }
        if !incidents.is_empty() {
            self.incidents.write(incidents, shutdown).await?;
        }
        Ok(Durable::Now)
    }
}
