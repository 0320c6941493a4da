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
    /// The commands topic (a refused command is dead-lettered re-encoded, its note redacted).
    pub commands_topic: String,
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

    /// A refused command goes to the DLQ with its note redacted (re-encoded); other records
    /// as they came.
    async fn dead_letter_payload(&self, topic: usize, bytes: &[u8]) -> Vec<u8> {
        if topic != COMMANDS {
            return bytes.to_vec();
        }
        let Ok(mut command) = self.codec.decode::<IncidentCommand>(bytes).await else {
            return bytes.to_vec();
        };
        self.scrub(&mut command);
        // Without a re-encoded copy, nothing rather than the note.
        self.codec
            .encode(&self.commands_topic, &command)
            .await
            .unwrap_or_default()
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
            commands_topic: "t.incident-commands.v1".into(),
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
        assert!(!note.contains(key), "the note holds the key");
        assert!(
            note.starts_with("rotated") && note.ends_with("today"),
            "{note}"
        );
        assert_eq!(command.actor, "sam@acme.test", "identities are kept");
    }

    #[tokio::test]
    async fn a_refused_command_is_dead_lettered_with_its_note_redacted() {
        let prepare = IncidentsPrepare {
            codec: Codec::pinned().expect("codec"),
            commands_topic: "t.incident-commands.v1".into(),
            policy: Policy::builtin_default(),
            keys: KeyRing::new(b"test-key".to_vec()),
        };
        let key = "AKIAQYLPMN5HHHFPZAM2";
        let command = IncidentCommand {
            command_id: "c".into(),
            incident_id: "i".into(),
            partition_key: "acme/dana".into(),
            action: CommandAction::Ack,
            actor: "sam".into(),
            assignee: None,
            note: Some(format!("aws_access_key_id = {key}")),
            issued_at_ms: 0,
        };
        let bytes = prepare
            .codec
            .encode(&prepare.commands_topic, &command)
            .await
            .expect("encode");
        let kept = prepare.dead_letter_payload(COMMANDS, &bytes).await;
        assert!(!kept.windows(key.len()).any(|w| w == key.as_bytes()));
        let back: IncidentCommand = prepare.codec.decode(&kept).await.expect("decodes");
        assert_eq!(back.command_id, "c");
        assert_eq!(
            prepare.dead_letter_payload(VERDICTS, b"as is").await,
            b"as is"
        );
    }
}
