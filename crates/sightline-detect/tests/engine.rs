//! Engine behaviour: spans, fingerprints, allowlists, production markers, odd input.

use sightline_detect::production::CustomPattern;
use sightline_detect::{Allowlist, Category, Engine, FingerprintKey, ProductionConfig};

const KEY_ID: &str = "AKIAQYLPMN5HHHFPZAM2";

fn engine() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| Engine::builtin().expect("engine"))
}

#[test]
fn spans_point_at_the_value_even_after_multibyte_text() {
    let text = format!("日本語のテキスト 🔑 {KEY_ID} ünd more");
    let key = FingerprintKey::new(*b"k");
    let f = engine().scan(&text, &key, &Allowlist::default());
    assert_eq!(f.len(), 1);
    assert_eq!(&text[f[0].start..f[0].end], KEY_ID);
    assert_eq!(f[0].category, Category::Secret);
    assert_eq!(f[0].fingerprint, key.fingerprint(KEY_ID.as_bytes()));
}

#[test]
fn the_same_secret_has_the_same_fingerprint_per_tenant_only() {
    let acme = FingerprintKey::for_tenant(b"master", "acme");
    let globex = FingerprintKey::for_tenant(b"master", "globex");
    let allow = Allowlist::default();
    let a1 = engine().scan(&format!("first {KEY_ID}"), &acme, &allow);
    let a2 = engine().scan(&format!("later: key={KEY_ID}."), &acme, &allow);
    let g = engine().scan(&format!("first {KEY_ID}"), &globex, &allow);
    assert_eq!(a1[0].fingerprint, a2[0].fingerprint);
    assert_ne!(a1[0].fingerprint, g[0].fingerprint);
}

#[test]
fn allowlists_by_rule_fingerprint_and_value() {
    let key = FingerprintKey::new(*b"k");
    let text = format!("{KEY_ID} and ghp_Zk3wK0tVv0Xh8tM4dYbP2qR7sL9nC1aE5jF6 and a@b.io");
    let all = engine().scan(&text, &key, &Allowlist::default());
    assert!(all.iter().any(|f| &*f.rule_id == "email-address"));

    let by_rule = Allowlist::new(&["email-*".into()], &[], &[]).expect("allow");
    assert!(engine()
        .scan(&text, &key, &by_rule)
        .iter()
        .all(|f| &*f.rule_id != "email-address"));

    let fp = key.fingerprint(KEY_ID.as_bytes());
    let by_fp = Allowlist::new(&[], &[fp], &[]).expect("allow");
    assert!(engine()
        .scan(&text, &key, &by_fp)
        .iter()
        .all(|f| &*f.rule_id != "aws-access-key-id"));

    let by_value = Allowlist::new(&[], &[], &["AKIAQYLP.*".into()]).expect("allow");
    assert!(engine()
        .scan(&text, &key, &by_value)
        .iter()
        .all(|f| &*f.rule_id != "aws-access-key-id"));
}

#[test]
fn production_markers_come_from_config() {
    let config = ProductionConfig {
        hosts: vec!["*.prod.internal".into(), "db-prod-*.acme.com".into()],
        kube_contexts: vec!["prod-*".into()],
        aws_account_ids: vec!["123456789012".into()],
        patterns: vec![CustomPattern {
            id: "terraform-prod-workspace".into(),
            description: "Terraform prod workspace".into(),
            pattern: r"terraform workspace select prod\b".into(),
            keywords: vec!["terraform workspace".into()],
        }],
    };
    let engine = Engine::with_production(&config).expect("engine");
    let key = FingerprintKey::new(*b"k");
    let allow = Allowlist::default();
    let cases = [
        (
            "kubectl --context prod-eu-1 get pods",
            "production-kube-context",
        ),
        ("ssh admin@api.prod.internal", "production-host"),
        (
            "psql postgres://ro@db-prod-3.acme.com:5432/main",
            "production-dsn",
        ),
        (
            "arn:aws:iam::123456789012:role/admin",
            "production-aws-account",
        ),
        (
            "then run terraform workspace select prod",
            "production-terraform-prod-workspace",
        ),
    ];
    for (text, rule) in cases {
        let found = engine.scan(text, &key, &allow);
        assert!(
            found
                .iter()
                .any(|f| &*f.rule_id == rule && f.category == Category::Production),
            "{text}: {found:?}"
        );
    }
    for clean in [
        "kubectl --context staging-1 get pods",
        "ssh api.staging.internal",
        "account 210987654321",
    ] {
        let found = engine.scan(clean, &key, &allow);
        assert!(
            found.iter().all(|f| f.category != Category::Production),
            "{clean}: {found:?}"
        );
    }
}

#[test]
fn pii_rules() {
    let key = FingerprintKey::new(*b"k");
    let allow = Allowlist::default();
    let cases = [
        ("mail ada.lovelace@example.org now", "email-address"),
        ("call +14155550123", "phone-number-e164"),
        ("call (415) 555-0123", "phone-number-national"),
        ("ssn 536-22-1234", "us-ssn"),
        ("visa 4539 1488 0343 6467", "credit-card-number"),
        ("iban GB82 WEST 1234 5698 7654 32", "iban"),
        ("host 192.168.10.20 down", "ipv4-address"),
        ("host 2001:db8::8a2e:370:7334 down", "ipv6-address"),
    ];
    for (text, rule) in cases {
        let found = engine().scan(text, &key, &allow);
        assert!(
            found
                .iter()
                .any(|f| &*f.rule_id == rule && f.category == Category::Pii),
            "{text}: {found:?}"
        );
    }
    for clean in [
        "ssn 666-22-1234",
        "visa 4539 1488 0343 6468",
        "version 1.2.3.4.5",
        "iban DE89370400440532013001",
    ] {
        let found = engine().scan(clean, &key, &allow);
        assert!(found.is_empty(), "{clean}: {found:?}");
    }
}

#[test]
fn odd_input_is_survived() {
    let key = FingerprintKey::new(*b"k");
    let allow = Allowlist::default();
    assert!(engine().scan("", &key, &allow).is_empty());
    let long = "password=".repeat(20_000) + &"x".repeat(100_000);
    let _ = engine().scan(&long, &key, &allow);
    let begin = "-----BEGIN RSA PRIVATE KEY-----\n".repeat(2000);
    let _ = engine().scan(&begin, &key, &allow);
    let digits: String = (0..200_000)
        .map(|i| char::from(b'0' + (i % 10) as u8))
        .collect();
    let _ = engine().scan(&digits, &key, &allow);
}

#[test]
fn bad_rules_are_rejected_with_the_rule_id() {
    let mut spec = sightline_detect::builtin_rules().expect("rules").remove(0);
    spec.pattern = "(unclosed".into();
    let err = Engine::new(vec![spec]).expect_err("invalid");
    assert!(err.to_string().contains("aws-access-key-id"), "{err}");
}
