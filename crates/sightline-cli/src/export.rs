//! `sightline export`: the dashboard's audit export (`/api/v1/export`) into a file, with a
//! progress bar. The export goes through the dashboard so that it is scoped by the caller's
//! role and written to the access audit log like any other; the API key comes from the
//! environment (`SIGHTLINE_API_KEY`), never from the command line.

use std::io::Write;
use std::path::PathBuf;

use futures::StreamExt;

/// `sightline export …`
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The dashboard's base URL.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8000",
        env = "SIGHTLINE_DASHBOARD_URL"
    )]
    pub url: String,
    /// First day (YYYY-MM-DD, UTC); default: 7 days before `--to`.
    #[arg(long)]
    pub from: Option<String>,
    /// Last day, included (YYYY-MM-DD, UTC); default: today.
    #[arg(long)]
    pub to: Option<String>,
    /// csv or jsonl.
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// Where to write; the file is written whole or not at all (a `.part` file until done).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// Rows (lines of data).
    pub rows: u64,
    /// Bytes.
    pub bytes: u64,
}

/// Runs the export with the API key `key`.
pub async fn run(args: &ExportArgs, key: &str) -> anyhow::Result<Exported> {
    let mut query = vec![("format", args.format.clone())];
    if let Some(f) = &args.from {
        query.push(("from", f.clone()));
    }
    if let Some(t) = &args.to {
        query.push(("to", t.clone()));
    }
    let mut url = reqwest::Url::parse(&format!("{}/api/v1/export", args.url.trim_end_matches('/')))
        .map_err(|e| anyhow::anyhow!("--url {}: {e}", args.url))?;
    url.query_pairs_mut().extend_pairs(&query);
    let resp = reqwest::Client::new()
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the dashboard at {}: {e}", args.url))?;
    let status = resp.status();
    if !status.is_success() {
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        anyhow::bail!(
            "the dashboard refused the export ({status}): {}",
            body["error"].as_str().unwrap_or("no reason given")
        );
    }
    let total: u64 = resp
        .headers()
        .get("x-sightline-rows")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} calls, {per_sec}, ETA {eta} {msg}",
        )
        .map_err(|e| anyhow::anyhow!("progress template: {e}"))?,
    );
    let part = args.out.with_extension("part");
    let file = std::fs::File::create(&part)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", part.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let (mut lines, mut bytes) = (0u64, 0u64);
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk
            .map_err(|e| anyhow::anyhow!("the export was cut off after {lines} lines: {e}"))?;
        out.write_all(&chunk)?;
        let n = chunk.iter().filter(|b| **b == b'\n').count() as u64;
        lines += n;
        bytes += chunk.len() as u64;
        bar.inc(n);
    }
    out.flush()?;
    let rows = if args.format == "csv" {
        lines.saturating_sub(1)
    } else {
        lines
    };
    if rows < total {
        anyhow::bail!(
            "the export ended after {rows} of {total} calls; {} is incomplete and was kept as .part",
            args.out.display()
        );
    }
    std::fs::rename(&part, &args.out)?;
    bar.finish_with_message(format!("{} written", args.out.display()));
    Ok(Exported { rows, bytes })
}
