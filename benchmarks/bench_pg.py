"""PostgreSQL -> DuckDB: the toolkit's ADBC path against pandas.read_sql and raw COPY.

Starts a temporary server (like the tests; or uses AUDIT_ANALYTICS_TEST_PG_URL), fills
the seed's table with N rows (default 1,000,000) and times, in the same run:

1. ``PostgresSource.attach``: ADBC PostgreSQL driver, Arrow batches into a DuckDB table;
2. ``pandas.read_sql`` over a SQLAlchemy engine (psycopg 3);
3. ``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` through psycopg, drained to nowhere
   (the floor for any psycopg COPY path, before parsing a single value).

    python benchmarks/bench_pg.py [ROWS]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pgserver import start_server  # noqa: E402

from audit_analytics._engine import Engine  # noqa: E402
from audit_analytics.sources.postgres import PostgresSource  # noqa: E402

FILL = """
INSERT INTO audit_logs
SELECT gen_random_uuid(), timestamp '2024-01-01 00:00:00+00' + g * interval '37 millisecond',
       'u-' || lpad((g % 5000)::text, 4, '0'),
       (ARRAY['user', 'service', 'system'])[1 + g % 3],
       (ARRAY['read', 'create', 'update', 'delete', 'export'])[1 + g % 5],
       (ARRAY['patient_record', 'invoice', 'user', 'report'])[1 + g % 4],
       'res-' || (g % 100000), (ARRAY['success', 'failure', 'denied'])[1 + g % 3],
       ('10.' || (g % 250) || '.' || (g % 200) || '.' || (g % 99))::inet,
       'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
       md5((g % 20000)::text),
       CASE WHEN g % 7 = 0 THEN '["status", "diagnosis"]'::jsonb END,
       CASE WHEN g % 7 = 0 THEN '{"status": "old"}'::jsonb END,
       CASE WHEN g % 3 = 2 THEN 'insufficient role' END,
       md5((g - 1)::text) || md5((g - 1)::text || 'x'), md5(g::text) || md5(g::text || 'x')
FROM generate_series(1, %s) g
"""


def main(rows: int = 1_000_000) -> None:
    server = start_server()
    try:
        url = server.create_database("aa_bench")
        ddl = (ROOT / "data_samples" / "postgres" / "schema.sql").read_text()
        with server.connect("aa_bench") as con:
            con.execute(ddl)
            started = time.perf_counter()
            con.execute(FILL.replace("%", "%%").replace("%%s", "%s"), [rows])
            con.execute("VACUUM ANALYZE audit_logs")
            print(f"filled {rows:,} rows in {time.perf_counter() - started:.1f} s")
        source = PostgresSource(url, progress=False)
        with source.session() as cur:
            source.describe_table(cur)
        select = source.select_sql()

        results = {}
        engine = Engine()
        started = time.perf_counter()
        PostgresSource(url, progress=False).attach(engine)
        results["ADBC -> DuckDB (chosen)"] = time.perf_counter() - started
        assert engine.scalar("SELECT count(*) FROM raw") == rows
        engine.close()

        import psycopg

        started = time.perf_counter()
        drained = 0
        with psycopg.connect(server.url("aa_bench")) as con, con.cursor() as cur, cur.copy(
                f"COPY ({select}) TO STDOUT (FORMAT binary)") as copy:
            for chunk in copy:
                drained += len(chunk)
        results["raw binary COPY drained"] = time.perf_counter() - started

        import pandas as pd
        import sqlalchemy

        sa = sqlalchemy.create_engine(server.url("aa_bench").replace(
            "postgresql://", "postgresql+psycopg://", 1))
        started = time.perf_counter()
        with sa.connect() as con:
            frame = pd.read_sql(sqlalchemy.text(select), con)
        results["pandas.read_sql (SQLAlchemy + psycopg)"] = time.perf_counter() - started
        assert len(frame) == rows
        sa.dispose()

        chosen = results["ADBC -> DuckDB (chosen)"]
        print(f"\n{rows:,} rows of the seed's table ({drained / 1e6:.0f} MB of binary COPY)")
        for name, seconds in results.items():
            print(f"  {name:<42} {seconds:7.2f} s  {rows / seconds / 1e3:8.0f} k rows/s")
        read_sql = results["pandas.read_sql (SQLAlchemy + psycopg)"]
        print(f"\n  read_sql / chosen: {read_sql / chosen:.1f}x  (target >= 10x)")
        print(f"  chosen / raw COPY: {chosen / results['raw binary COPY drained']:.2f}x"
              f"  (target <= 1.5x)")
    finally:
        server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
