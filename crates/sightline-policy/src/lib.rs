//! The policy: which findings matter how much, and what happens then.
//!
//! A `policy.toml` (commented example: `docs/config/policy.toml`) maps findings — by category,
//! rule-id glob and confidence — to tiers INFO / WARNING / CRITICAL. Each tier lists actions:
//! `block`, `redact`, `alert:<destination>`, `incident:<severity>/<category>` and `judge`;
//! `[severities.<SEVERITY>]` lists the destinations alerted for incidents of each severity.
//! Destinations are configured (URLs, grouping, templates) in the alert processor. Tenants can
//! override rules, tier actions, severities, allowlists and production markers.
//!
//! Loading validates everything and reports each problem with its line and key.
//! [`Policy::evaluate`] is a pure function `(findings, context) -> Verdict`.

mod error;
mod eval;
mod model;
mod record;
mod section;

pub use error::{Error, Result};
pub use eval::{Context, Verdict};
pub use model::{Action, JudgeConfig, Policy, Severity, Tier, SEVERITIES};
pub use record::{finding_of_record, finding_record};
pub use section::PolicySection;
