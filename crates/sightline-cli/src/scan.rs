//! `sightline scan`: the detection engine and policy from the command line.
//!
//! Offsets are byte offsets into the input as given. A JSON request body is scanned as text,
//! so offsets point into the JSON; the rules tolerate JSON escaping (`\n` inside PEM blocks,
//! quoted values).

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use serde::Serialize;
use sightline_policy::Policy;

/// Env var holding the deployment's fingerprint master key.
pub const KEY_ENV: &str = "SIGHTLINE_FINGERPRINT_KEY";
const DEV_KEY: &[u8] = b"sightline-development-key";

/// `sightline scan` arguments.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// File to scan, or `-` for stdin.
    #[arg(default_value = "-")]
    pub input: String,
    /// Policy file; the built-in default policy when absent.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Tenant whose overrides, allowlists and fingerprint key apply.
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// Print the redacted text instead of findings.
    #[arg(long)]
    pub redact: bool,
    /// List the rules instead of scanning.
    #[arg(long)]
    pub list_rules: bool,
}

#[derive(Serialize)]
struct Line<'a> {
    rule: &'a str,
    category: &'a str,
    start: usize,
    end: usize,
    confidence: f32,
    fingerprint: &'a str,
    tier: &'a str,
    example: bool,
}

/// Runs the command, writing results to `out`. Errors name what could not be read.
pub fn run(args: &ScanArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let policy = match &args.policy {
        Some(path) => Policy::load(path)?,
        None => Policy::builtin_default(),
    };
    if args.list_rules {
        for rule in policy.engine(&args.tenant).rules() {
            writeln!(
                out,
                "{:<40} {:<10} {}",
                rule.id,
                rule.category.as_str(),
                rule.description
            )?;
        }
        return Ok(());
    }
    let bytes = read_input(&args.input)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            display(&args.input),
            e.valid_up_to()
        )
    })?;
    let key = match std::env::var(KEY_ENV) {
        Ok(k) if !k.is_empty() => k.into_bytes(),
        _ => {
            eprintln!("note: {KEY_ENV} is not set; fingerprints use a development key and will not match production");
            DEV_KEY.to_vec()
        }
    };
    let findings = policy.scan(text, &args.tenant, &key);
    if args.redact {
        out.write_all(sightline_detect::redact(text, &findings).as_bytes())?;
        return Ok(());
    }
    for f in &findings {
        let (tier, _) = policy.tier_of(f, &args.tenant);
        let line = Line {
            rule: &f.rule_id,
            category: f.category.as_str(),
            start: f.start,
            end: f.end,
            confidence: f.confidence,
            fingerprint: &f.fingerprint,
            tier: tier.as_str(),
            example: f.example,
        };
        writeln!(out, "{}", serde_json::to_string(&line)?)?;
    }
    Ok(())
}

fn display(input: &str) -> String {
    if input == "-" {
        "stdin".into()
    } else {
        input.into()
    }
}

fn read_input(input: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = vec![];
    if input == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read stdin")?;
    } else {
        bytes = std::fs::read(input).with_context(|| format!("cannot read {input}"))?;
    }
    Ok(bytes)
}
