//! The detection engine: finds secrets, PII and production-access markers in text.
//!
//! One pass over the text:
//! 1. an Aho-Corasick DFA over every rule's keywords (`AKIA`, `ghp_`, `password`…), walked by
//!    four interleaved cursors; each hit runs only that keyword's rules, on a bounded window
//!    around the hit;
//! 2. one multi-pattern DFA for the rules that have no keyword (card numbers, phone numbers,
//!    IP addresses, IBANs…).
//!
//! Candidates are then checked by validators (Luhn, IBAN mod-97, GitHub CRC32, JWT structure,
//! SSN ranges, entropy), allowlists (by rule, by fingerprint, by value regex) and the list of
//! documented example values, which are reported as examples with low confidence.
//!
//! A [`Finding`] never holds the matched value: it carries the rule, the byte span, a
//! confidence and a keyed fingerprint (HMAC-SHA256 under the tenant's key), so the same secret
//! can be recognised across events without being stored. [`redact`] replaces every finding
//! with `[REDACTED:<rule>:<fingerprint prefix>]`.
//!
//! Everything here is pure and synchronous. Scanning large texts is CPU work: async callers
//! run it on a blocking thread.

pub mod allow;
pub mod corpus;
mod engine;
mod error;
mod fingerprint;
mod keywords;
pub mod production;
mod redact;
mod rule;
pub mod validate;

pub use allow::Allowlist;
pub use engine::{ceil_boundary, floor_boundary, Engine, Finding};
pub use error::{Error, Result};
pub use fingerprint::{FingerprintKey, KeyRing};
pub use production::ProductionConfig;
pub use redact::redact;
pub use rule::{builtin_rules, Category, RuleSpec, Validator};
