//! Property: no value the engine detects survives redaction — with several secrets per text,
//! adjacent and overlapping matches, and multi-byte UTF-8 right next to them.

use proptest::prelude::*;
use sightline_detect::corpus::{expand, Rng};
use sightline_detect::{builtin_rules, redact, Allowlist, Engine, FingerprintKey};

fn engine() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| Engine::builtin().expect("engine"))
}

fn templates() -> Vec<String> {
    let mut t: Vec<String> = builtin_rules()
        .expect("rules")
        .into_iter()
        .filter_map(|r| r.r#gen)
        .collect();
    // Overlapping matches: a connection string holding an account key, a URL with a password
    // that is also an assignment, a key id right before its secret.
    t.push(
        "AZ=DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={A-Za-z0-9+/:86}==".into(),
    );
    t.push("password=postgres://u:{A-Za-z0-9:18}@db/x".into());
    t.push("AKIA{A-Z2-7:16}:aws_secret_access_key={A-Za-z0-9/+:40}".into());
    t
}

const GLUE: &[&str] = &[
    "",
    " ",
    "\n",
    "é",
    "日本語",
    "🔑",
    "\u{200b}",
    ",",
    "ü\"",
    "=",
    "—",
];

fn build(seed: u64, picks: &[(usize, usize)], templates: &[String]) -> String {
    let mut rng = Rng::new(seed);
    let mut text = String::new();
    for (t, g) in picks {
        text.push_str(GLUE[*g % GLUE.len()]);
        text.push_str(&expand(&templates[*t % templates.len()], &mut rng));
    }
    text.push_str(GLUE[picks.len() % GLUE.len()]);
    text
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn no_detected_value_survives_redaction(
        seed in 1u64..u64::MAX,
        picks in prop::collection::vec((0usize..1000, 0usize..100), 1..6),
    ) {
        let engine = engine();
        let templates = templates();
        let text = build(seed, &picks, &templates);
        let key = FingerprintKey::new(*b"prop");
        let allow = Allowlist::default();
        let findings = engine.scan(&text, &key, &allow);
        let redacted = redact(&text, &findings);

        for f in &findings {
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            let value = &text[f.start..f.end];
            // The same characters may also stand where they are no finding (an address glued
            // to a key is not an address); only what was found must be gone.
            let elsewhere = text.match_indices(value).any(|(i, _)| {
                !findings.iter().any(|g| g.start <= i && i + value.len() <= g.end)
            });
            if value.len() >= 8 && !elsewhere {
                // The message never prints the text: it would print the value it guards.
                prop_assert!(!redacted.contains(value), "{} survived at {}..{}", f.rule_id, f.start, f.end);
            }
        }
        let original: std::collections::HashSet<&str> = findings.iter().map(|f| f.fingerprint.as_str()).collect();
        for again in engine.scan(&redacted, &key, &allow) {
            prop_assert!(!original.contains(again.fingerprint.as_str()),
                "{} found again after redaction at {}..{}", again.rule_id, again.start, again.end);
        }
    }
}

#[test]
fn placeholders_name_the_rule_and_fingerprint_prefix() {
    let engine = Engine::builtin().expect("engine");
    let key = FingerprintKey::new(*b"k");
    let text = "key: AKIAQYLPMN5HHHFPZAM2 — done";
    let findings = engine.scan(text, &key, &Allowlist::default());
    assert_eq!(findings.len(), 1);
    let expected = format!(
        "key: [REDACTED:aws-access-key-id:{}] — done",
        &findings[0].fingerprint[..8]
    );
    assert_eq!(redact(text, &findings), expected);
}
