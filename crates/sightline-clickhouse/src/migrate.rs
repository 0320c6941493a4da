//! Applies `sql/NNNN_*.sql` in order and records each in `schema_migrations`.
//!
//! Re-running is a no-op. Editing an applied file is refused: add a new migration instead.

use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};

use crate::{ClickHouseConfig, Error, Result};

static SQL_DIR: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../sql");

/// One migration file.
#[derive(Debug, Clone)]
pub struct Migration {
    /// File name, e.g. `0001_migrations_and_llm_calls.sql`; also its version.
    pub name: String,
    /// Statements in order.
    pub statements: Vec<String>,
    /// Hex sha256 of the file.
    pub checksum: String,
}

/// What `apply` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Migrations applied now.
    pub applied: Vec<String>,
    /// Migrations that were already applied.
    pub skipped: Vec<String>,
}

/// The migrations compiled into this binary, in order.
pub fn embedded() -> Result<Vec<Migration>> {
    let mut files: Vec<_> = SQL_DIR
        .files()
        .filter(|f| f.path().extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort_by_key(|f| f.path().to_path_buf());
    files
        .into_iter()
        .map(|f| {
            let name = f.path().display().to_string();
            let text = f.contents_utf8().ok_or_else(|| Error::Migration {
                file: name.clone(),
                message: "is not UTF-8".into(),
            })?;
            parse(&name, text)
        })
        .collect()
}

/// Splits a migration into statements: each ends with `;` at the end of a line.
pub fn parse(name: &str, text: &str) -> Result<Migration> {
    if !name
        .split('_')
        .next()
        .is_some_and(|n| n.len() == 4 && n.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(Error::Migration {
            file: name.into(),
            message: "name must start with a 4-digit version, e.g. 0002_add_x.sql".into(),
        });
    }
    let mut statements = vec![];
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("--") || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(';') {
            let stmt = current.trim().trim_end_matches(';').trim().to_string();
            if !stmt.is_empty() {
                statements.push(stmt);
            }
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        return Err(Error::Migration {
            file: name.into(),
            message: "the last statement does not end with ';'".into(),
        });
    }
    let checksum = hex::encode(Sha256::digest(text.as_bytes()));
    Ok(Migration {
        name: name.into(),
        statements,
        checksum,
    })
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct AppliedRow {
    version: String,
    checksum: String,
}

/// Creates the database if needed and applies every pending migration.
pub async fn apply(config: &ClickHouseConfig, migrations: &[Migration]) -> Result<Report> {
    config
        .server_client()
        .query(&format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            config.database
        ))
        .execute()
        .await?;
    let client = config.client();
    client
        .query(
            "CREATE TABLE IF NOT EXISTS schema_migrations \
             (version String, checksum String, applied_at DateTime DEFAULT now()) \
             ENGINE = MergeTree() ORDER BY version",
        )
        .execute()
        .await?;
    let applied: Vec<AppliedRow> = client
        .query("SELECT version, any(checksum) FROM schema_migrations GROUP BY version")
        .fetch_all()
        .await?;
    let mut report = Report::default();
    for m in migrations {
        if let Some(row) = applied.iter().find(|r| r.version == m.name) {
            if row.checksum != m.checksum {
                return Err(Error::Migration {
                    file: m.name.clone(),
                    message: "was changed after it was applied; revert it and add a new migration"
                        .into(),
                });
            }
            report.skipped.push(m.name.clone());
            continue;
        }
        tracing::info!(migration = %m.name, statements = m.statements.len(), "applying migration");
        for stmt in &m.statements {
            client
                .query(stmt)
                .execute()
                .await
                .map_err(|e| Error::Migration {
                    file: m.name.clone(),
                    message: format!("statement failed: {e}"),
                })?;
        }
        client
            .query("INSERT INTO schema_migrations (version, checksum) VALUES (?, ?)")
            .bind(&m.name)
            .bind(&m.checksum)
            .execute()
            .await?;
        report.applied.push(m.name.clone());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_and_skips_comments() {
        let m = parse(
            "0001_x.sql",
            "-- c\nCREATE TABLE a (x UInt8)\nENGINE = Memory;\n\nSELECT ';';\n",
        )
        .expect("parse");
        assert_eq!(
            m.statements,
            ["CREATE TABLE a (x UInt8)\nENGINE = Memory", "SELECT ';'"]
        );
    }

    #[test]
    fn rejects_unterminated_and_misnamed_files() {
        assert!(parse("0001_x.sql", "SELECT 1").is_err());
        assert!(parse("x.sql", "SELECT 1;").is_err());
    }

    #[test]
    fn embedded_migrations_parse_in_order() {
        let all = embedded().expect("embedded");
        assert!(!all.is_empty());
        let names: Vec<_> = all.iter().map(|m| m.name.clone()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(all[0].statements.iter().any(|s| s.contains("llm_calls")));
    }
}
