//! Policy loading (with line-numbered errors) and evaluation tables.

use std::sync::Arc;

use sightline_detect::{Category, Finding};
use sightline_policy::{Action, Context, Policy, Severity, Tier};

fn example() -> Policy {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/config/policy.toml");
    Policy::load(std::path::Path::new(path)).expect("the documented example policy loads")
}

fn finding(rule: &str, category: Category, confidence: f32, example: bool) -> Finding {
    Finding {
        rule_id: Arc::from(rule),
        category,
        start: 0,
        end: 1,
        confidence,
        fingerprint: "00".repeat(32),
        example,
    }
}

#[test]
fn evaluation_table() {
    let policy = example();
    let acme = Context {
        tenant: "acme",
        user: "ada",
        team: Some("platform"),
    };
    let research = Context {
        tenant: "research",
        user: "grace",
        team: None,
    };
    type Case<'a> = (
        &'a str,
        Vec<Finding>,
        &'a Context<'a>,
        Option<Tier>,
        &'a [&'a str],
    );
    let cases: Vec<Case<'_>> = vec![
        ("nothing found", vec![], &acme, None, &[]),
        (
            "aws key",
            vec![finding("aws-access-key-id", Category::Secret, 0.9, false)],
            &acme,
            Some(Tier::Critical),
            &["cloud-credentials"],
        ),
        (
            "documented example",
            vec![finding("aws-access-key-id", Category::Secret, 0.1, true)],
            &acme,
            Some(Tier::Info),
            &[],
        ),
        (
            "low-confidence secret",
            vec![finding(
                "generic-secret-assignment",
                Category::Secret,
                0.4,
                false,
            )],
            &acme,
            Some(Tier::Warning),
            &["weak-secret-signals"],
        ),
        (
            "pem key",
            vec![finding(
                "openssh-private-key",
                Category::Secret,
                0.99,
                false,
            )],
            &acme,
            Some(Tier::Critical),
            &["private-keys"],
        ),
        (
            "email",
            vec![finding("email-address", Category::Pii, 0.9, false)],
            &acme,
            Some(Tier::Info),
            &["personal-data"],
        ),
        (
            "card",
            vec![finding("credit-card-number", Category::Pii, 0.9, false)],
            &acme,
            Some(Tier::Warning),
            &["payment-data"],
        ),
        (
            "card in research",
            vec![finding("credit-card-number", Category::Pii, 0.9, false)],
            &research,
            Some(Tier::Info),
            &["research-allows-pii"],
        ),
        (
            "prod host",
            vec![finding("production-host", Category::Production, 0.8, false)],
            &acme,
            Some(Tier::Warning),
            &["production-access"],
        ),
        (
            "highest tier wins",
            vec![
                finding("email-address", Category::Pii, 0.9, false),
                finding("slack-bot-token", Category::Secret, 0.9, false),
            ],
            &acme,
            Some(Tier::Critical),
            &["personal-data", "other-secrets"],
        ),
    ];
    for (name, findings, ctx, tier, rules) in cases {
        let v = policy.evaluate(&findings, ctx);
        assert_eq!(v.tier, tier, "{name}");
        assert_eq!(v.matched_rules, rules, "{name}");
        assert_eq!(v.finding_tiers.len(), findings.len(), "{name}");
    }
}

#[test]
fn tier_actions_and_tenant_overrides() {
    let policy = example();
    let critical = policy.evaluate(
        &[finding("aws-access-key-id", Category::Secret, 0.9, false)],
        &Context {
            tenant: "acme",
            user: "ada",
            team: None,
        },
    );
    assert!(critical.blocks() && critical.redacts());
    assert!(critical.actions.contains(&Action::Alert {
        destination: "oncall_slack".into()
    }));
    assert!(critical.actions.contains(&Action::Incident {
        severity: Severity::High,
        category: "credentials".into()
    }));

    let warn = |tenant| {
        policy.evaluate(
            &[finding("production-host", Category::Production, 0.8, false)],
            &Context {
                tenant,
                user: "u",
                team: None,
            },
        )
    };
    assert_eq!(
        warn("acme").actions,
        [
            Action::Redact,
            Action::Alert {
                destination: "oncall_slack".into()
            }
        ]
    );
    assert_eq!(
        warn("research").actions,
        [Action::Redact],
        "tenant replaces the tier's actions"
    );
}

#[test]
fn incident_severities_and_tiers_name_the_destinations_they_alert() {
    let policy = example();
    assert_eq!(policy.severity_alerts("CRITICAL", "acme"), ["pager"]);
    assert_eq!(policy.severity_alerts("MEDIUM", "acme"), ["oncall_slack"]);
    assert_eq!(policy.severity_alerts("HIGH", "acme"), ["pager"]);
    assert!(policy.severity_alerts("LOW", "acme").is_empty());
    // A tenant's table replaces a severity's destinations.
    assert_eq!(policy.severity_alerts("HIGH", "research"), ["oncall_slack"]);
    let named = policy.alert_destinations();
    assert_eq!(
        named.keys().map(String::as_str).collect::<Vec<_>>(),
        ["oncall_slack", "pager", "siem"]
    );
    assert_eq!(named["siem"], "tiers.CRITICAL.actions");
}

#[test]
fn scanning_uses_tenant_production_markers_and_allowlists() {
    let policy = example();
    let text = "ssh ops@gpu1.lab.example.com then 10.1.2.3";
    let acme: Vec<String> = policy
        .scan(text, "acme", b"k")
        .iter()
        .map(|f| f.rule_id.to_string())
        .collect();
    let research: Vec<String> = policy
        .scan(text, "research", b"k")
        .iter()
        .map(|f| f.rule_id.to_string())
        .collect();
    assert!(
        acme.contains(&"ipv4-address".to_string())
            && !acme.contains(&"production-host".to_string()),
        "{acme:?}"
    );
    assert!(
        research.contains(&"production-host".to_string())
            && !research.contains(&"ipv4-address".to_string()),
        "{research:?}"
    );
}

fn errors(text: &str) -> Vec<String> {
    match Policy::parse(text, "test.toml") {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(sightline_policy::Error::Invalid { problems, .. }) => problems,
        Err(e) => panic!("unexpected {e}"),
    }
}

#[test]
fn validation_names_the_line_and_key() {
    let p = errors("version = 1\n\n[[rules]]\nname = \"x\"\nmatch = { category = \"secrets\" }\ntier = \"SEVERE\"\n");
    assert_eq!(
        p,
        ["line 6: rules[0] (x).tier: 'SEVERE' is not a tier; use INFO, WARNING or CRITICAL"]
    );

    let p = errors("version = 1\n[[rules]]\nname = \"x\"\nmatch = { category = \"secrets\" }\ntier = \"INFO\"\n");
    assert_eq!(p, ["line 4: rules[0] (x).match.category: 'secrets' is not a category; use secret, pii or production"]);

    let p = errors("version = 1\n[tiers.CRITICAL]\nactions = [\"block\", \"alert:no where\", \"incident:huge/x\", \"explode\"]\n");
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(
        p.iter()
            .all(|e| e.starts_with("line 3: tiers.CRITICAL.actions: ")),
        "{p:?}"
    );
    assert!(p[0].contains("a destination name is non-empty"), "{p:?}");
    assert!(p[1].contains("severity 'huge'"));
    assert!(p[2].contains("unknown action 'explode'"));

    let p = errors("version = 1\n[severities.SEVERE]\nactions = []\n[severities.HIGH]\nactions = [\"block\"]\n");
    assert!(
        p.iter()
            .any(|e| e.contains("severities.SEVERE: 'SEVERE' is not an incident severity")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|e| e.contains("severities.HIGH.actions: 'block': an incident severity only takes alert:<destination> actions")),
        "{p:?}"
    );

    let p = errors("version = 1\n[tiers.SEVERE]\nactions = []\n");
    assert!(p[0].starts_with("line 2"), "{p:?}");
    assert!(p[0].contains("SEVERE"), "{p:?}");

    let p = errors("version = 1\nrules = 3\n");
    assert!(p[0].starts_with("line 2"), "{p:?}");

    let p = errors("version = 2\n");
    assert_eq!(p, ["line 1: version: only version = 1 is supported"]);
}

#[test]
fn the_builtin_default_blocks_credentials() {
    let policy = Policy::builtin_default();
    let findings = policy.scan("my key AKIAQYLPMN5HHHFPZAM2 and a@b.io", "any", b"k");
    let v = policy.evaluate(
        &findings,
        &Context {
            tenant: "any",
            user: "u",
            team: None,
        },
    );
    assert_eq!(v.tier, Some(Tier::Critical));
    assert!(v.blocks());
}
