//! Decodes each input topic's records into the step's [`Input`].

use async_trait::async_trait;
use sightline_events::Codec;
use sightline_stage::{decode, Fault, Prepare};

use crate::step::{Input, INCIDENTS, NOTIFICATIONS, VERDICTS};

/// The decoder of the alert processor's inputs.
pub struct AlertPrepare {
    /// Wire codec.
    pub codec: Codec,
}

#[async_trait]
impl Prepare for AlertPrepare {
    type Out = Input;

    async fn prepare(&self, topic: usize, bytes: &[u8], rebuilding: bool) -> Result<Input, Fault> {
        let c = &self.codec;
        Ok(match topic {
            NOTIFICATIONS => Input::Notification(Box::new(decode(c, bytes).await?), rebuilding),
            VERDICTS => Input::Verdict(Box::new(decode(c, bytes).await?)),
            INCIDENTS => Input::Incident(Box::new(decode(c, bytes).await?)),
            other => return Err(Fault::Fatal(format!("no input topic {other}"))),
        })
    }
}
