//! tansu (Kafka protocol) and ClickHouse as local processes under `target/services/`.
//!
//! Env: `SIGHTLINE_KAFKA_PORT` (9092), `SIGHTLINE_CLICKHOUSE_HTTP_PORT` (8123),
//! `SIGHTLINE_CLICKHOUSE_TCP_PORT` (9000), `SIGHTLINE_SERVICES_DIR` (`target/services`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{self, env_port, port_open, step};

const TANSU_VERSION: &str = "0.6.0";
const WAIT: Duration = Duration::from_secs(90);

/// Which services this invocation started (and so may stop).
#[derive(Debug, Default)]
pub struct Started {
    pub tansu: bool,
    pub clickhouse: bool,
}

impl Started {
    pub fn any(&self) -> bool {
        self.tansu || self.clickhouse
    }
}

struct Ports {
    kafka: u16,
    ch_http: u16,
    ch_tcp: u16,
}

fn ports() -> Result<Ports, String> {
    Ok(Ports {
        kafka: env_port("SIGHTLINE_KAFKA_PORT", 9092)?,
        ch_http: env_port("SIGHTLINE_CLICKHOUSE_HTTP_PORT", 8123)?,
        ch_tcp: env_port("SIGHTLINE_CLICKHOUSE_TCP_PORT", 9000)?,
    })
}

fn services_dir() -> PathBuf {
    std::env::var_os("SIGHTLINE_SERVICES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| util::target_dir().join("services"))
}

/// Endpoints for tests, as the env vars `sightline-testkit` reads.
pub fn export_endpoints(cmd: &mut Command) {
    if let Ok(p) = ports() {
        cmd.env(
            "SIGHTLINE_TEST_KAFKA_BROKERS",
            format!("127.0.0.1:{}", p.kafka),
        );
        cmd.env(
            "SIGHTLINE_TEST_CLICKHOUSE_URL",
            format!("http://127.0.0.1:{}", p.ch_http),
        );
    }
}

pub fn up() -> Result<Started, String> {
    let p = ports()?;
    let dir = services_dir();
    let mut started = Started::default();

    if port_open(p.kafka) {
        eprintln!("kafka (tansu): already answering on 127.0.0.1:{}", p.kafka);
    } else {
        let tansu = ensure_tansu()?;
        let d = dir.join("tansu");
        fs::create_dir_all(&d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        let url = format!("tcp://127.0.0.1:{}", p.kafka);
        let mut cmd = Command::new(tansu);
        cmd.args([
            "broker",
            "--storage-engine",
            "memory://tansu/",
            "--listener-url",
            &url,
        ])
        .args(["--advertised-listener-url", &url])
        .current_dir(&d);
        spawn("tansu", &mut cmd, &d)?;
        started.tansu = true;
    }

    if port_open(p.ch_http) {
        eprintln!("clickhouse: already answering on 127.0.0.1:{}", p.ch_http);
    } else {
        let server = ensure_clickhouse()?;
        let d = dir.join("clickhouse");
        write_clickhouse_config(&d, &p)?;
        let mut cmd = Command::new(server);
        cmd.arg(format!("--config-file={}", d.join("config.xml").display()))
            .current_dir(&d);
        spawn("clickhouse", &mut cmd, &d)?;
        started.clickhouse = true;
    }

    wait_until("kafka (tansu)", &dir.join("tansu"), || port_open(p.kafka))?;
    wait_until("clickhouse", &dir.join("clickhouse"), || {
        util::http(p.ch_http, "GET", "/ping", "")
            .is_ok_and(|(s, b)| s == 200 && b.starts_with("Ok"))
    })?;
    eprintln!(
        "services up: kafka 127.0.0.1:{}, clickhouse http://127.0.0.1:{} (logs in {})",
        p.kafka,
        p.ch_http,
        dir.display()
    );
    Ok(started)
}

pub fn down() -> Result<(), String> {
    down_started(&Started {
        tansu: true,
        clickhouse: true,
    })
}

pub fn down_started(which: &Started) -> Result<(), String> {
    let dir = services_dir();
    for (name, on) in [("tansu", which.tansu), ("clickhouse", which.clickhouse)] {
        if on {
            stop(name, &dir.join(name))?;
        }
    }
    Ok(())
}

pub fn status() -> Result<(), String> {
    let p = ports()?;
    let dir = services_dir();
    for (name, port) in [("tansu", p.kafka), ("clickhouse", p.ch_http)] {
        let pid = read_pid(&dir.join(name));
        let alive = pid.is_some_and(pid_alive);
        println!(
            "{name:<11} port {port:<5} {}  pid {}",
            if port_open(port) {
                "answering "
            } else {
                "not answering"
            },
            match (pid, alive) {
                (Some(pid), true) => pid.to_string(),
                (Some(pid), false) => format!("{pid} (exited)"),
                (None, _) => "- (not started by xtask)".into(),
            }
        );
    }
    Ok(())
}

fn which(bin: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().cloned())
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

fn cargo_bin_dir() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default()
        .join("bin")
}

fn ensure_tansu() -> Result<PathBuf, String> {
    let extra = [cargo_bin_dir()];
    if let Some(bin) = which("tansu", &extra) {
        let version = util::output(Command::new(&bin).arg("--version")).unwrap_or_default();
        if version.contains(TANSU_VERSION) {
            return Ok(bin);
        }
        eprintln!(
            "tansu at {} reports '{}', not {TANSU_VERSION}; reinstalling",
            bin.display(),
            version.trim()
        );
    }
    step(&format!(
        "installing tansu {TANSU_VERSION} (cargo install; ~17 minutes on 2 cores, once)"
    ));
    util::run(util::cargo().args([
        "install",
        "tansu",
        "--version",
        TANSU_VERSION,
        "--locked",
        "--features",
        "dynostore,libsql",
    ]))
    .map_err(|e| format!("installing tansu failed: {e}"))?;
    which("tansu", &extra).ok_or_else(|| {
        format!(
            "tansu installed but not found in PATH or {}",
            extra[0].display()
        )
    })
}

fn ensure_clickhouse() -> Result<PathBuf, String> {
    ensure_apt(
        "clickhouse-server",
        &["clickhouse-server", "clickhouse-client"],
    )
}

/// `bin` (on the PATH, in /usr/sbin or /usr/bin), installing `packages` from Debian first
/// when it is missing; `apt-get update` runs at most once per xtask.
pub fn ensure_apt(bin: &str, packages: &[&str]) -> Result<PathBuf, String> {
    static UPDATED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let extra = [PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")];
    if let Some(found) = which(bin, &extra) {
        return Ok(found);
    }
    step(&format!(
        "installing {} from Debian (apt-get)",
        packages.join(", ")
    ));
    if !UPDATED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        util::run(Command::new("apt-get").arg("update").arg("-qq"))
            .map_err(|e| format!("apt-get update failed (are you root?): {e}"))?;
    }
    util::run(
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .map_err(|e| format!("apt-get install {} failed: {e}", packages.join(" ")))?;
    which(bin, &extra).ok_or_else(|| format!("{bin} installed but not found"))
}

fn write_clickhouse_config(dir: &Path, p: &Ports) -> Result<(), String> {
    for sub in ["data", "tmp", "user_files", "format_schemas", "logs"] {
        fs::create_dir_all(dir.join(sub))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    // One template for the services and for tests that run a ClickHouse server of their own.
    let config = include_str!("../../sightline-testkit/clickhouse/config.xml")
        .replace("{dir}", &dir.display().to_string())
        .replace("{http_port}", &p.ch_http.to_string())
        .replace("{tcp_port}", &p.ch_tcp.to_string());
    let users = include_str!("../../sightline-testkit/clickhouse/users.xml");
    fs::write(dir.join("config.xml"), config).map_err(|e| e.to_string())?;
    fs::write(dir.join("users.xml"), users).map_err(|e| e.to_string())
}

fn spawn(name: &str, cmd: &mut Command, dir: &Path) -> Result<(), String> {
    let child = util::spawn_logged(name, cmd, &dir.join(format!("{name}.out")))?;
    fs::write(dir.join("pid"), child.id().to_string()).map_err(|e| e.to_string())
}

fn wait_until(name: &str, dir: &Path, ready: impl Fn() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        if read_pid(dir).is_some_and(|pid| !pid_alive(pid)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(format!(
        "{name} did not come up within {WAIT:?}.\n--- last lines of its output ---\n{}",
        tail_logs(dir)
    ))
}

fn tail_logs(dir: &Path) -> String {
    let mut out = String::new();
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.extend(
        fs::read_dir(dir.join("logs"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path()),
    );
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "out" || e == "log"))
    {
        if let Ok(text) = fs::read_to_string(f) {
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("{}:\n", f.display()));
            for l in &lines[lines.len().saturating_sub(20)..] {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

fn read_pid(dir: &Path) -> Option<u32> {
    fs::read_to_string(dir.join("pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn pid_alive(pid: u32) -> bool {
    // A zombie (exited, not yet reaped) counts as gone.
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

fn stop(name: &str, dir: &Path) -> Result<(), String> {
    let Some(pid) = read_pid(dir) else {
        eprintln!("{name}: not started by xtask; leaving it alone");
        return Ok(());
    };
    if pid_alive(pid) {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while pid_alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if pid_alive(pid) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        eprintln!("stopped {name} (pid {pid})");
    }
    let _ = fs::remove_file(dir.join("pid"));
    Ok(())
}
