//! Decodes each input topic's records into the step's [`Input`].

use async_trait::async_trait;
use sightline_events::Codec;
use sightline_stage::{decode, Fault, Prepare};

use crate::step::{Input, Prepared, COMMANDS, GROUPED, INCIDENTS, SIGNALS, VERDICTS};

/// The decoder of the incidents processor's inputs.
#[derive(Debug, Clone)]
pub struct IncidentsPrepare {
    /// Wire codec.
    pub codec: Codec,
}

#[async_trait]
impl Prepare for IncidentsPrepare {
    type Out = Prepared;

    async fn prepare(
        &self,
        topic: usize,
        bytes: &[u8],
        rebuilding: bool,
    ) -> Result<Prepared, Fault> {
        let c = &self.codec;
        let input = match topic {
            INCIDENTS => Input::Incident(Box::new(decode(c, bytes).await?)),
            VERDICTS => Input::Verdict(Box::new(decode(c, bytes).await?)),
            GROUPED => Input::Grouped(Box::new(decode(c, bytes).await?)),
            SIGNALS => Input::Signal(decode(c, bytes).await?),
            COMMANDS => Input::Command(decode(c, bytes).await?),
            other => {
                return Err(Fault::Fatal(format!(
                    "input topic index {other} is not configured"
                )))
            }
        };
        Ok(Prepared { input, rebuilding })
    }
}
