//! Events from producers that did not pass the shim: a content hash from their text. Pure.

use sightline_detect::FingerprintKey;
use sightline_events::LlmEvent;

/// The keyed hash of the event's model and turns, or `None` when it has no text to compare.
/// (The shim hashes the request body it saw; this is the fallback for other producers.)
pub fn content_hash(event: &LlmEvent, key: &FingerprintKey) -> Option<String> {
    if event.messages.iter().all(|m| m.text.is_empty()) {
        return None;
    }
    let mut canonical = String::from("direct\0");
    canonical.push_str(event.model.as_deref().unwrap_or(""));
    for m in &event.messages {
        canonical.push('\0');
        canonical.push_str(&m.role);
        canonical.push('\0');
        canonical.push_str(&m.text);
    }
    Some(key.fingerprint(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_events::{Message, Provider};

    #[test]
    fn a_pasted_key_is_redacted_and_recorded_and_the_hash_is_keyed() {
        let key = FingerprintKey::new(b"k");
        let mut e = LlmEvent::request("t", "u", Provider::Other, "POST /x");
        let secret = ["AKIA", "Z7Q3", "MVW2", "XN4R", "P6TL"].concat();
        e.messages.push(Message {
            role: "user".into(),
            text: format!("deploy with {secret} please"),
        });
        let hash = content_hash(&e, &key);
        assert!(hash.is_some());
        assert_ne!(hash, content_hash(&e, &FingerprintKey::new(b"other")));
        sightline_policy::Policy::builtin_default().scrub(&mut e, &key);
        assert!(!e.messages[0].text.contains(&secret), "redacted");
        assert_eq!(e.findings.len(), 1);
        assert_eq!(e.findings[0].location.as_deref(), Some("/messages/0"));
        assert_eq!(e.findings[0].tier.as_deref(), Some("CRITICAL"));
        let empty = LlmEvent::request("t", "u", Provider::Other, "GET /v1/models");
        assert_eq!(content_hash(&empty, &key), None);
    }
}
