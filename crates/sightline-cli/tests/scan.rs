//! `sightline scan` as a user runs it.

use std::io::Write;
use std::process::{Command, Stdio};

fn sightline(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(args)
        .env("SIGHTLINE_FINGERPRINT_KEY", "test-master-key")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sightline");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const BODY: &str = r#"{"model":"claude-sonnet-4","messages":[{"role":"user","content":"deploy with AKIAQYLPMN5HHHFPZAM2 and mail ops@acme.io"}]}"#;

#[test]
fn prints_one_json_line_per_finding_with_its_tier() {
    let (code, out, _) = sightline(&["scan", "-"], BODY);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    let aws = &lines[0];
    assert_eq!(aws["rule"], "aws-access-key-id");
    assert_eq!(aws["category"], "secret");
    assert_eq!(aws["tier"], "CRITICAL");
    let (s, e) = (
        aws["start"].as_u64().expect("start") as usize,
        aws["end"].as_u64().expect("end") as usize,
    );
    assert_eq!(&BODY[s..e], "AKIAQYLPMN5HHHFPZAM2");
    assert_eq!(aws["fingerprint"].as_str().expect("fp").len(), 64);
    assert_eq!(lines[1]["rule"], "email-address");
    assert_eq!(lines[1]["tier"], "INFO");
    assert!(
        !out.contains("AKIAQYLPMN5HHHFPZAM2"),
        "the value itself is never printed"
    );
}

#[test]
fn redact_prints_the_text_with_placeholders() {
    let (code, out, _) = sightline(&["scan", "--redact", "-"], BODY);
    assert_eq!(code, 0);
    assert!(
        out.contains("deploy with [REDACTED:aws-access-key-id:"),
        "{out}"
    );
    assert!(!out.contains("AKIAQYLPMN5HHHFPZAM2"));
    serde_json::from_str::<serde_json::Value>(&out).expect("redacted JSON stays JSON");
}

#[test]
fn no_findings_is_success_and_bad_input_is_a_clear_error() {
    let (code, out, _) = sightline(&["scan", "-"], "nothing to see here");
    assert_eq!((code, out.as_str()), (0, ""));

    let (code, _, err) = sightline(&["scan", "/nonexistent/prompt.txt"], "");
    assert_ne!(code, 0);
    assert!(err.contains("cannot read /nonexistent/prompt.txt"), "{err}");

    let (code, _, err) = sightline(&["scan", "--policy", "/nonexistent/policy.toml", "-"], "x");
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/policy.toml"), "{err}");
}

#[test]
fn a_policy_file_changes_the_tiers() {
    let dir = std::env::temp_dir().join(format!("sightline-scan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, "version = 1\n[[rules]]\nname = \"mail\"\nmatch = { rule = \"email-*\" }\ntier = \"CRITICAL\"\n").expect("write");
    let (code, out, _) = sightline(
        &["scan", "--policy", policy.to_str().expect("utf8"), "-"],
        "mail ops@acme.io",
    );
    assert_eq!(code, 0);
    assert!(out.contains("\"tier\":\"CRITICAL\""), "{out}");
}
