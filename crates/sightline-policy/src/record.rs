//! Findings as events carry them, and back.

use std::sync::Arc;

use sightline_detect::{redact, Category, Finding, FingerprintKey};
use sightline_events::{InlineFinding, LlmEvent};

use crate::{Policy, Tier};

/// The event form of a finding, found at `location`, at `tier`.
pub fn finding_record(f: &Finding, location: Option<String>, tier: Option<Tier>) -> InlineFinding {
    InlineFinding {
        rule_id: f.rule_id.to_string(),
        category: f.category.as_str().into(),
        start: i64::try_from(f.start).unwrap_or(i64::MAX),
        end: i64::try_from(f.end).unwrap_or(i64::MAX),
        confidence: f.confidence,
        fingerprint: f.fingerprint.clone(),
        location,
        example: f.example,
        tier: tier.map(|t| t.as_str().to_string()),
    }
}

/// A finding read back from an event, for evaluation under a (possibly newer) policy.
/// `None` when its category is not one this build knows.
pub fn finding_of_record(r: &InlineFinding) -> Option<Finding> {
    let category = match r.category.as_str() {
        "secret" => Category::Secret,
        "pii" => Category::Pii,
        "production" => Category::Production,
        _ => return None,
    };
    Some(Finding {
        rule_id: Arc::from(r.rule_id.as_str()),
        category,
        start: usize::try_from(r.start).unwrap_or(0),
        end: usize::try_from(r.end).unwrap_or(0),
        confidence: r.confidence,
        fingerprint: r.fingerprint.clone(),
        example: r.example,
    })
}

impl Policy {
    /// `text` as it may be published: scanned for `tenant` and redacted where something was
    /// found, with the findings (spans are offsets into `text`).
    pub fn scan_and_redact(
        &self,
        text: String,
        tenant: &str,
        key: &FingerprintKey,
    ) -> (String, Vec<Finding>) {
        let found = self.scan_keyed(&text, tenant, key);
        let published = if found.is_empty() {
            text
        } else {
            redact(&text, &found)
        };
        (published, found)
    }
}

impl Policy {
    /// Scans each turn of `event`, its `error`, `user_agent` and `endpoint` with its tenant's
    /// rules, redacts what was found and records the findings (location `/messages/<i>`,
    /// `/error`, `/user_agent`, `/endpoint`) on the event. For events from producers that
    /// may not have passed the shim; the shim's text is already redacted, so nothing is found
    /// again there.
    pub fn scrub(&self, event: &mut LlmEvent, key: &FingerprintKey) {
        let tenant = event.tenant_id.clone();
        let mut found_at = vec![];
        for (i, m) in event.messages.iter_mut().enumerate() {
            let text = std::mem::take(&mut m.text);
            let (published, found) = self.scan_and_redact(text, &tenant, key);
            m.text = published;
            found_at.extend(found.into_iter().map(|f| (f, format!("/messages/{i}"))));
        }
        // Free text a producer fills in besides the turns.
        for (field, value) in [
            ("error", &mut event.error),
            ("user_agent", &mut event.user_agent),
        ] {
            if let Some(text) = value.take() {
                let (published, found) = self.scan_and_redact(text, &tenant, key);
                *value = Some(published);
                found_at.extend(found.into_iter().map(|f| (f, format!("/{field}"))));
            }
        }
        // The endpoint a producer reports may carry a query string (`?key=…`).
        let endpoint = std::mem::take(&mut event.endpoint);
        let (published, found) = self.scan_and_redact(endpoint, &tenant, key);
        event.endpoint = published;
        found_at.extend(found.into_iter().map(|f| (f, "/endpoint".to_string())));
        for (f, location) in found_at {
            let (tier, _) = self.tier_of(&f, &tenant);
            event
                .findings
                .push(finding_record(&f, Some(location), Some(tier)));
        }
    }
}
