"""Apply every sql/ migration to a current ClickHouse (chDB, in process), load
tests/sql/fixture.sql and run every query documented in sql/README.md.

ClickHouse 18.16 (Debian) is what the integration tests run against; this check keeps the same
SQL valid on current releases. Run by `cargo xtask test`; alone: `pip install chdb-core` then
`python3 tests/sql/check_current_clickhouse.py`.
"""
import pathlib
import re
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


def documented_queries():
    """Every ```sql block of sql/README.md."""
    text = (ROOT / "sql/README.md").read_text()
    return [b.strip() for b in re.findall(r"```sql\n(.*?)```", text, re.S)]


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
        for stmt in statements((ROOT / "tests/sql/fixture.sql").read_text()):
            s.query(stmt)
        daily = str(s.query(
            "SELECT calls, logical_requests, blocked, critical, input_tokens FROM v_daily_ai_call_stats "
            "WHERE tenant_id = 'acme' AND user_id = 'dana'", "CSV")).strip()
        if daily != "2,1,1,1,25":
            print(f"FAIL v_daily_ai_call_stats: {daily!r}, expected 2,1,1,1,25", file=sys.stderr)
            return 1
        queries = documented_queries()
        for q in queries:
            try:
                out = str(s.query(q, "CSV")).strip()
            except Exception as e:  # noqa: BLE001 - report which query failed
                print(f"FAIL documented query: {e}\n{q}", file=sys.stderr)
                return 1
            if not out:
                print(f"FAIL documented query returned no rows:\n{q}", file=sys.stderr)
                return 1
        print(f"ok   {len(queries)} documented queries on ClickHouse {str(s.query('SELECT version()', 'CSV')).strip()}")
        print(f"current ClickHouse: {len(files)} migration file(s), the rollups and every documented query check out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
