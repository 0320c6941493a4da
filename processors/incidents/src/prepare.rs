//! Decodes each input topic's records into the step's [`Input`]. A command's note is scanned
//! and redacted with the policy first: people paste what they are writing about, and an
//! incident event must not carry a secret. (Actor and assignee are staff identities, kept as
//! they are for attribution.)

use async_trait::async_trait;
use sightline_detect::KeyRing;
use sightline_events::{Codec, IncidentCommand};
use sightline_policy::Policy;
use sightline_stage::{decode, Fault, Prepare};

use crate::step::{Input, Prepared, COMMANDS, GROUPED, INCIDENTS, SIGNALS, VERDICTS};

/// The decoder of the incidents processor's inputs.
pub struct IncidentsPrepare {
    /// Wire codec.
    pub codec: Codec,
    /// Scans commands' text.
    pub policy: Policy,
    /// Fingerprint keys (findings in notes are only redacted, never published).
    pub keys: KeyRing,
}

impl IncidentsPrepare {
    /// Redacts what the policy finds in the command's note.
    pub fn scrub(&self, command: &mut IncidentCommand) {
        let tenant = command
            .partition_key
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let key = self.keys.tenant(&tenant);
        command.note = command
            .note
            .take()
            .map(|text| self.policy.scan_and_redact(text, &tenant, &key).0);
    }
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
            COMMANDS => {
                let mut command: IncidentCommand = decode(c, bytes).await?;
                self.scrub(&mut command);
                Input::Command(command)
            }
            other => {
                return Err(Fault::Fatal(format!(
                    "input topic index {other} is not configured"
                )))
            }
        };
        Ok(Prepared { input, rebuilding })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_events::CommandAction;

    #[test]
    fn a_pasted_key_in_a_note_is_redacted() {
        let prepare = IncidentsPrepare {
            codec: Codec::pinned().expect("codec"),
            policy: Policy::builtin_default(),
            keys: KeyRing::new(b"test-key".to_vec()),
        };
        let key = "AKIAQYLPMN5HHHFPZAM2";
        let mut command = IncidentCommand {
            command_id: "c".into(),
            incident_id: "i".into(),
            partition_key: "acme/dana".into(),
            action: CommandAction::Note,
            actor: "sam@acme.test".into(),
            assignee: None,
            note: Some(format!("rotated aws_access_key_id = {key} today")),
            issued_at_ms: 0,
        };
        prepare.scrub(&mut command);
        let note = command.note.expect("note");
        assert!(!note.contains(key), "{note}");
        assert!(
            note.starts_with("rotated") && note.ends_with("today"),
            "{note}"
        );
        assert_eq!(command.actor, "sam@acme.test", "identities are kept");
    }
}
