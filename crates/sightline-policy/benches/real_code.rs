//! False blocks on real code: how many CRITICAL findings the built-in policy raises on source
//! code that is on every machine, beside what Kingfisher (a maintained secret scanner)
//! reports on the same files in the same run.
//!
//! The corpus: text files from the crates under the cargo registry (by crate name, until
//! `REAL_CODE_MB` MB, default 40) and from the Python packages the tests install (fastavro,
//! chdb, anthropic, openai), copied into one temporary directory so that both scanners read
//! exactly the same bytes. Each file is scanned as one text, with the policy's default tier
//! rules, as a prompt holding that file would be.
//!
//! Prints, for Sightline: findings by tier, CRITICAL per 100 MB, and every CRITICAL finding as
//! `rule file:line` (never the value); for Kingfisher 2.14 (`pip install kingfisher-bin`,
//! installed when missing; run with `--no-validate --no-dedup`): its findings by rule.
//! Target: Sightline's CRITICAL count no higher than Kingfisher's count at any severity.
//!
//! Run: `cargo bench -p sightline-policy --bench real_code`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sightline_detect::FingerprintKey;
use sightline_policy::{Context, Policy, Tier};

const KINGFISHER: &str = "kingfisher-bin==2.14.0";
const PYTHON_PACKAGES: &[&str] = &["fastavro", "chdb", "anthropic", "openai"];
/// Largest file taken (bigger ones are generated data, not code people paste).
const MAX_FILE: u64 = 2 << 20;

fn main() {
    let budget = std::env::var("REAL_CODE_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(40)
        << 20;
    let corpus = std::env::temp_dir().join(format!("sightline-real-code-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&corpus);
    let started = Instant::now();
    let mut files = vec![];
    let mut bytes = 0u64;
    for root in cargo_registry_crates() {
        if bytes >= budget {
            break;
        }
        let name = root.file_name().map(|n| n.to_string_lossy().into_owned());
        copy_text_files(
            &root,
            &corpus.join("crates").join(name.unwrap_or_default()),
            &mut files,
            &mut bytes,
        );
    }
    let crates_bytes = bytes;
    for (package, dir) in python_packages() {
        copy_text_files(
            &dir,
            &corpus.join("python").join(package),
            &mut files,
            &mut bytes,
        );
    }
    println!(
        "corpus: {} files, {:.1} MB ({:.1} MB of crate sources, {:.1} MB of Python packages), copied in {:.1} s to {}",
        files.len(),
        mb(bytes),
        mb(crates_bytes),
        mb(bytes - crates_bytes),
        started.elapsed().as_secs_f64(),
        corpus.display()
    );

    // Sightline: the built-in default policy, as the shim runs it without a policy file.
    let policy = Policy::builtin_default();
    let key = FingerprintKey::new(b"real-code bench");
    let ctx = Context {
        tenant: "default",
        user: "bench",
        team: None,
    };
    let started = Instant::now();
    let mut by_tier: BTreeMap<&str, u64> = BTreeMap::new();
    let mut critical: Vec<(String, String)> = vec![];
    let mut by_rule: BTreeMap<String, u64> = BTreeMap::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let findings = policy.scan_keyed(&text, ctx.tenant, &key);
        for f in &findings {
            let (tier, _) = policy.tier_of(f, ctx.tenant);
            *by_tier.entry(tier_name(tier)).or_default() += 1;
            if tier == Tier::Critical {
                let line = text[..f.start].bytes().filter(|b| *b == b'\n').count() + 1;
                let at = file
                    .strip_prefix(&corpus)
                    .unwrap_or(file)
                    .display()
                    .to_string();
                critical.push((f.rule_id.to_string(), format!("{at}:{line}")));
                *by_rule.entry(f.rule_id.to_string()).or_default() += 1;
            }
        }
    }
    let scan_secs = started.elapsed().as_secs_f64();
    let n_critical = critical.len() as u64;
    println!(
        "sightline: {:.2} s ({:.0} MB/s); findings by tier {by_tier:?}; CRITICAL {n_critical} = {:.1} per 100 MB",
        scan_secs,
        mb(bytes) / scan_secs,
        n_critical as f64 * 100.0 / mb(bytes)
    );
    for (rule, n) in &by_rule {
        println!("  CRITICAL {rule}: {n}");
    }
    for (rule, at) in &critical {
        println!("    {rule} {at}");
    }

    match kingfisher(&corpus) {
        Ok((n, rules, secs)) => {
            println!(
                "kingfisher 2.14: {:.2} s; findings (any confidence) {n} = {:.1} per 100 MB",
                secs,
                n as f64 * 100.0 / mb(bytes)
            );
            for (rule, k) in &rules {
                println!("  {rule}: {k}");
            }
            println!(
                "target (sightline CRITICAL <= kingfisher findings): {} <= {n}: {}",
                n_critical,
                if n_critical <= n { "met" } else { "NOT met" }
            );
        }
        Err(e) => println!("kingfisher: not run ({e})"),
    }
    let _ = std::fs::remove_dir_all(&corpus);
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

fn tier_name(tier: Tier) -> &'static str {
    match tier {
        Tier::Info => "INFO",
        Tier::Warning => "WARNING",
        Tier::Critical => "CRITICAL",
    }
}

/// Crate source directories under `$CARGO_HOME/registry/src/*/`, sorted by name.
fn cargo_registry_crates() -> Vec<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default();
    let mut crates: Vec<PathBuf> = std::fs::read_dir(home.join("registry/src"))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|index| {
            std::fs::read_dir(index.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    crates.sort_by_key(|p| p.file_name().map(|n| n.to_os_string()));
    crates.dedup_by_key(|p| p.file_name().map(|n| n.to_os_string()));
    crates
}

/// `(package, directory)` of each Python package the tests use that is installed.
fn python_packages() -> Vec<(&'static str, PathBuf)> {
    PYTHON_PACKAGES
        .iter()
        .filter_map(|p| {
            let out = Command::new("python3")
                .args([
                    "-c",
                    &format!("import os, {p}; print(os.path.dirname({p}.__file__))"),
                ])
                .output()
                .ok()?;
            let dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
            (out.status.success() && !dir.is_empty()).then(|| (*p, PathBuf::from(dir)))
        })
        .collect()
}

/// Copies every text file (UTF-8, no NUL, at most [`MAX_FILE`]) under `from` to `to`.
fn copy_text_files(from: &Path, to: &Path, files: &mut Vec<PathBuf>, bytes: &mut u64) {
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            copy_text_files(&path, &to.join(entry.file_name()), files, bytes);
        } else if kind.is_file() && entry.metadata().is_ok_and(|m| m.len() <= MAX_FILE) {
            let Ok(data) = std::fs::read(&path) else {
                continue;
            };
            if data.contains(&0) || std::str::from_utf8(&data).is_err() {
                continue;
            }
            let target = to.join(entry.file_name());
            if std::fs::create_dir_all(to).is_ok() && std::fs::write(&target, &data).is_ok() {
                *bytes += data.len() as u64;
                files.push(target);
            }
        }
    }
}

/// Runs Kingfisher over `dir`: `(findings, findings by rule, seconds)`.
fn kingfisher(dir: &Path) -> Result<(u64, BTreeMap<String, u64>, f64), String> {
    let locate = || {
        Command::new("python3")
            .args([
                "-c",
                "import kingfisher; print(kingfisher.get_binary_path())",
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| PathBuf::from(s.trim()))
    };
    let binary = match locate() {
        Some(b) => b,
        None => {
            eprintln!("installing {KINGFISHER} with pip");
            let ok = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", KINGFISHER])
                .status()
                .is_ok_and(|s| s.success())
                || Command::new("python3")
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--break-system-packages",
                        KINGFISHER,
                    ])
                    .status()
                    .is_ok_and(|s| s.success());
            if !ok {
                return Err(format!("pip install {KINGFISHER} failed"));
            }
            locate().ok_or("kingfisher installed but its binary was not found")?
        }
    };
    let out_file = dir.with_extension("kingfisher.jsonl");
    let cache = std::env::temp_dir().join("sightline-kingfisher-rules");
    let started = Instant::now();
    // Relative paths: Kingfisher hides findings under paths like `lib/python3.x/`.
    let status = Command::new(&binary)
        .current_dir(dir)
        .env("KF_RULE_CACHE_DIR", &cache)
        .args([
            "scan",
            "--no-update-check",
            "--no-validate",
            "--no-dedup",
            "--git-history",
            "none",
            "-q",
            "-f",
            "jsonl",
            "-o",
        ])
        .arg(&out_file)
        .arg(".")
        .status()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let secs = started.elapsed().as_secs_f64();
    // 0: nothing found; 200: findings.
    if !matches!(status.code(), Some(0) | Some(200)) {
        return Err(format!("kingfisher exited with {status}"));
    }
    let text = std::fs::read_to_string(&out_file).unwrap_or_default();
    let _ = std::fs::remove_file(&out_file);
    let mut rules: BTreeMap<String, u64> = BTreeMap::new();
    let mut n = 0;
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(rule) = v.pointer("/rule/id").and_then(|r| r.as_str()) {
            n += 1;
            *rules.entry(rule.to_string()).or_default() += 1;
        }
    }
    Ok((n, rules, secs))
}
