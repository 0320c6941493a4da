//! A ClickHouse server of a test's own, for tests that restart it (the shared one serves
//! every other test). Uses the same config template as `cargo xtask services`, on free
//! ports, with its data in a temporary directory; stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) private ClickHouse server.
#[derive(Debug)]
pub struct ClickHouseServer {
    dir: PathBuf,
    http_port: u16,
    child: Option<Child>,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl ClickHouseServer {
    /// Writes a config under a new temporary directory and starts the server
    /// (`SIGHTLINE_TEST_CLICKHOUSE_SERVER`, default `clickhouse-server` on the PATH).
    pub async fn start() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(crate::unique("clickhouse"));
        for sub in ["data", "tmp", "user_files", "format_schemas", "logs"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let http_port = free_port()?;
        let config = include_str!("../clickhouse/config.xml")
            .replace("{dir}", &dir.display().to_string())
            .replace("{http_port}", &http_port.to_string())
            .replace("{tcp_port}", &free_port()?.to_string());
        std::fs::write(dir.join("config.xml"), config)?;
        std::fs::write(
            dir.join("users.xml"),
            include_str!("../clickhouse/users.xml"),
        )?;
        let mut server = Self {
            dir,
            http_port,
            child: None,
        };
        server.spawn().await?;
        Ok(server)
    }

    /// Its HTTP URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let bin = std::env::var("SIGHTLINE_TEST_CLICKHOUSE_SERVER")
            .unwrap_or_else(|_| "clickhouse-server".into());
        let log = std::fs::File::create(self.dir.join("logs/server.out"))?;
        let child = Command::new(&bin)
            .arg(format!(
                "--config-file={}",
                self.dir.join("config.xml").display()
            ))
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {bin}: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("{}/ping", self.url());
        let http = reqwest::Client::new();
        loop {
            if http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "ClickHouse did not answer on {url} within 60 s; see {}",
                self.dir.join("logs").display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server as an operator would (SIGTERM, waiting for it to exit).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            Command::new("kill").args(["-TERM", &pid]).status()?;
            let deadline = Instant::now() + Duration::from_secs(60);
            while child.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    child.kill()?;
                    child.wait()?;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Stops the server and starts it again on the same ports and data.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        self.spawn().await
    }
}

impl Drop for ClickHouseServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
