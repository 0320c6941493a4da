"""Apply every sql/ migration to a current ClickHouse (chDB, in process) and exercise it.

ClickHouse 18.16 (Debian) is what the integration tests run against; this check keeps the same
SQL valid on current releases. Run by `cargo xtask test`; alone: `pip install chdb-core` then
`python3 tests/sql/check_current_clickhouse.py`.
"""
import pathlib
import sys
import tempfile

from chdb import session

ROOT = pathlib.Path(__file__).resolve().parents[2]


def statements(text: str):
    """Same rule as the Rust runner: a statement ends with ';' at the end of a line."""
    current = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("--") or (not stripped and not current):
            continue
        current.append(line)
        if stripped.endswith(";"):
            stmt = "\n".join(current).strip().rstrip(";").strip()
            if stmt:
                yield stmt
            current = []


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        s = session.Session(tmp)
        s.query("CREATE DATABASE IF NOT EXISTS sightline")
        s.query("USE sightline")
        files = sorted((ROOT / "sql").glob("*.sql"))
        for f in files:
            for stmt in statements(f.read_text()):
                try:
                    s.query(stmt)
                except Exception as e:  # noqa: BLE001 - report which statement failed
                    print(f"FAIL {f.name}: {e}\n{stmt}", file=sys.stderr)
                    return 1
            print(f"ok   {f.name}")
        s.query(
            "INSERT INTO llm_calls (event_id, call_id, kind, ts_ms, tenant_id, user_id, provider, endpoint, "
            "streaming, status, input_tokens, output_tokens, _topic, _partition, _offset) VALUES "
            "('e1','c1','REQUEST',1763000000000,'acme','ada','ANTHROPIC','POST /v1/messages',0,'PENDING',NULL,NULL,'t',0,7),"
            "('e2','c1','RESPONSE',1763000000500,'acme','ada','ANTHROPIC','POST /v1/messages',0,'OK',25,11,'t',0,8)"
        )
        summary = str(s.query("SELECT status, input_tokens, output_tokens FROM llm_call_summary", "CSV")).strip()
        progress = str(s.query("SELECT topic, partition, max(offset) FROM sink_progress GROUP BY topic, partition", "CSV")).strip()
        expected = ('"OK",25,11', '"t",0,8')
        if (summary, progress) != expected:
            print(f"FAIL views: summary={summary!r} progress={progress!r}, expected {expected}", file=sys.stderr)
            return 1
        print(f"ok   views on ClickHouse {str(s.query('SELECT version()', 'CSV')).strip()}")
        print(f"current ClickHouse: {len(files)} migration file(s) and the views check out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
