//! Every built-in rule against its own true-positive and false-positive examples.

use sightline_detect::{builtin_rules, Allowlist, Engine, FingerprintKey};

fn engine() -> Engine {
    Engine::builtin().expect("built-in rules compile")
}

#[test]
fn there_are_at_least_120_secret_rules_each_with_examples() {
    let rules = builtin_rules().expect("rules");
    let secrets = rules
        .iter()
        .filter(|r| r.category == sightline_detect::Category::Secret)
        .count();
    assert!(secrets >= 120, "only {secrets} secret rules");
    for r in &rules {
        assert!(!r.description.is_empty(), "{}: description", r.id);
        assert!(!r.tp.is_empty(), "{}: needs true-positive examples", r.id);
        assert!(!r.fp.is_empty(), "{}: needs false-positive examples", r.id);
        assert!(
            r.r#gen.is_some(),
            "{}: needs a gen template for the corpus",
            r.id
        );
    }
}

#[test]
fn every_rule_finds_its_true_positives() {
    let engine = engine();
    let key = FingerprintKey::new(*b"test");
    let allow = Allowlist::default();
    let mut failures = vec![];
    for rule in engine.rules() {
        for tp in &rule.tp {
            let found = engine.scan(tp, &key, &allow);
            if !found.iter().any(|f| *f.rule_id == rule.id && !f.example) {
                let got: Vec<&str> = found.iter().map(|f| &*f.rule_id).collect();
                failures.push(format!("{}: missed {tp:?} (found {got:?})", rule.id));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} misses:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn no_rule_fires_on_any_false_positive_example() {
    let engine = engine();
    let key = FingerprintKey::new(*b"test");
    let allow = Allowlist::default();
    let mut failures = vec![];
    for rule in engine.rules() {
        for fp in &rule.fp {
            let found: Vec<String> = engine
                .scan(fp, &key, &allow)
                .iter()
                .filter(|f| !f.example)
                .map(|f| format!("{} {:?}", f.rule_id, &fp[f.start..f.end]))
                .collect();
            if !found.is_empty() {
                failures.push(format!("{}: {fp:?} triggered {found:?}", rule.id));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} false positives:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn documented_examples_are_reported_as_examples_with_low_confidence() {
    let engine = engine();
    let key = FingerprintKey::new(*b"test");
    let text = "aws_access_key_id=AKIAIOSFODNN7EXAMPLE and card 4242 4242 4242 4242";
    let found = engine.scan(text, &key, &Allowlist::default());
    let examples: Vec<_> = found
        .iter()
        .filter(|f| f.example)
        .map(|f| &*f.rule_id)
        .collect();
    assert!(examples.contains(&"aws-access-key-id"), "{found:?}");
    assert!(found
        .iter()
        .filter(|f| f.example)
        .all(|f| f.confidence <= 0.1));
}
