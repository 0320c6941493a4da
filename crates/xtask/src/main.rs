//! `cargo xtask …`: the developer and CI entry points.
//!
//! - `services up|down|status`: install (when missing) and run tansu and ClickHouse as local
//!   processes, with data and logs under `target/services/`.
//! - `demo`: services, migrations, topics, shim, sink and a fake upstream; a few calls through
//!   the shim; the resulting ClickHouse rows printed.
//! - `test`: services, Python test deps, rustfmt, clippy and the whole test suite.

mod demo;
mod services;
mod util;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["services", "up"] => services::up().map(|_| ()),
        ["services", "down"] => services::down(),
        ["services", "status"] => services::status(),
        ["demo"] => demo::run(),
        ["test", rest @ ..] => test(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 services up|down|status   run tansu and ClickHouse locally (installs them when missing)\n  \
                 demo                      one call end to end: shim → Kafka → sink → ClickHouse\n  \
                 test [cargo test args]    everything CI runs: fmt, clippy, unit and integration tests"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn test(extra: &[&str]) -> Result<(), String> {
    let started = services::up()?;
    util::ensure_python_module("fastavro", "fastavro")?;
    util::ensure_python_module("chdb", "chdb-core")?;
    util::ensure_python_module("anthropic", "anthropic")?;
    util::ensure_python_module("openai", "openai")?;
    // The dashboard's real-browser tests: Playwright driving Debian's Chromium.
    services::ensure_apt("chromium", &["chromium"])?;
    util::ensure_python_module("playwright", "playwright")?;
    let root = util::workspace_root();
    let result = (|| {
        util::step("rustfmt");
        util::run(
            util::cargo()
                .args(["fmt", "--all", "--check"])
                .current_dir(&root),
        )?;
        util::step("clippy");
        util::run(
            util::cargo()
                .args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ])
                .current_dir(&root),
        )?;
        util::step("sql/ on a current ClickHouse (chDB)");
        util::run(
            std::process::Command::new(util::env_or("PYTHON", "python3"))
                .arg(root.join("tests/sql/check_current_clickhouse.py")),
        )?;
        util::step("tests");
        let mut cmd = util::cargo();
        cmd.args(["test", "--workspace", "--no-fail-fast"])
            .args(extra)
            .current_dir(&root);
        services::export_endpoints(&mut cmd);
        run_tests(&mut cmd)
    })();
    if started.any() && std::env::var_os("SIGHTLINE_KEEP_SERVICES").is_none() {
        services::down_started(&started)?;
    }
    result
}

/// Runs `cargo test`, echoing its output, and closes with one summary line over every test
/// binary (cargo's own last line belongs to whichever binary ran last).
fn run_tests(cmd: &mut std::process::Command) -> Result<(), String> {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    let (mut passed, mut failed, mut ignored) = (0u64, 0u64, 0u64);
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                for part in rest.split(';') {
                    let mut words = part.split_whitespace().rev();
                    let (Some(kind), Some(n)) = (words.next(), words.next()) else {
                        continue;
                    };
                    let n: u64 = n.parse().unwrap_or(0);
                    match kind {
                        "passed" => passed += n,
                        "failed" => failed += n,
                        "ignored" => ignored += n,
                        _ => {}
                    }
                }
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    println!("\nall tests: {passed} passed, {failed} failed, {ignored} skipped");
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo test failed with {status}"))
    }
}
