"""PostgreSQL -> DuckDB: the toolkit's reads and loads against the peers, in one run.

Starts a temporary server (like the tests; or uses AUDIT_ANALYTICS_TEST_PG_URL), fills
the seed's table with N rows (default 1,000,000) and times, on the same table:

- the floor: ``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` through psycopg, drained to
  nowhere on one connection (before a single value is parsed);
- the peer a user would pick for Arrow: ``connectorx.read_sql(..., return_type="arrow")``;
- the toolkit's read (what ``verify postgresql://`` and ``aa.open`` do before hashing):
  ``PostgresSource.attach``, on one connection and on the default number of
  connections sharing one exported snapshot;
- ``verify postgresql://`` end to end in-process (read, verify, no file written);
- ``load --into`` a new persistent DuckDB file (``load_into``: read, write, checkpoint);
- ``pandas.read_sql`` over SQLAlchemy + psycopg 3.

Each fast path is timed ``--repeat`` times (best kept), pandas once; the ratios are
printed against the floor and the peers measured in the same run.

    python benchmarks/bench_pg.py [--rows 1000000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pgserver import start_server  # noqa: E402

import audit_analytics as aa  # noqa: E402
from audit_analytics._engine import Engine  # noqa: E402
from audit_analytics.load import load_into  # noqa: E402
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


def best(repeat: int, run) -> float:
    """The shortest of ``repeat`` timed calls of ``run``."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    rows, repeat = args.rows, args.repeat
    server = start_server()
    try:
        url = server.create_database("aa_bench")
        ddl = (ROOT / "data_samples" / "postgres" / "schema.sql").read_text()
        with server.connect("aa_bench") as con:
            con.execute(ddl)
            started = time.perf_counter()
            con.execute(FILL.replace("%", "%%").replace("%%s", "%s"), [rows])
            con.execute("VACUUM ANALYZE audit_logs")
            print(f"filled {rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
        source = PostgresSource(url, progress=False)
        with source.session() as cur:
            source.describe_table(cur)
        select = source.select_sql()
        results: dict[str, float] = {}

        import psycopg

        drained = 0

        def raw_copy():
            nonlocal drained
            drained = 0
            with psycopg.connect(server.url("aa_bench")) as con, con.cursor() as cur, \
                    cur.copy(f"COPY ({select}) TO STDOUT (FORMAT binary)") as copy:
                for chunk in copy:
                    drained += len(chunk)

        results["raw binary COPY drained (1 connection)"] = best(repeat, raw_copy)

        import connectorx

        def cx():
            table = connectorx.read_sql(url, select, return_type="arrow")
            assert table.num_rows == rows

        results["connectorx -> Arrow"] = best(repeat, cx)

        def read(streams):
            def run():
                engine = Engine()
                src = PostgresSource(url, progress=False, streams=streams)
                src.attach(engine)
                assert src.rows == rows
                engine.close()
            return run

        results["toolkit read, 1 connection"] = best(repeat, read(1))
        results["toolkit read (default)"] = best(repeat, read(None))

        def verify():
            with aa.open(url, journal=False, progress=False) as log:
                assert log.verify().rows == rows

        results["verify postgresql:// (read + verify)"] = best(repeat, verify)

        with tempfile.TemporaryDirectory() as tmp:
            runs = iter(range(repeat))

            def load():
                target = Path(tmp) / f"events_{next(runs)}.duckdb"
                assert load_into(url, target, progress=False).rows_appended == rows

            results["load --into a new DuckDB file"] = best(repeat, load)
            size = max(p.stat().st_size for p in Path(tmp).glob("*.duckdb"))

        import pandas as pd
        import sqlalchemy

        sa = sqlalchemy.create_engine(server.url("aa_bench").replace(
            "postgresql://", "postgresql+psycopg://", 1))

        def read_sql():
            with sa.connect() as con:
                assert len(pd.read_sql(sqlalchemy.text(select), con)) == rows

        results["pandas.read_sql (SQLAlchemy + psycopg)"] = best(1, read_sql)
        sa.dispose()

        print(f"\n{rows:,} rows of the seed's table ({drained / 1e6:.0f} MB of binary COPY; "
              f"DuckDB file {size / 1e6:.0f} MB); kernel {aa.kernel_info()['isa']}")
        for name, seconds in results.items():
            print(f"  {name:<42} {seconds:7.2f} s  {rows / seconds / 1e3:8.0f} k rows/s")
        floor = results["raw binary COPY drained (1 connection)"]
        loaded = results["load --into a new DuckDB file"]
        read_default = results["toolkit read (default)"]
        print(f"\n  load / raw COPY:              {loaded / floor:5.2f}x  (target <= 2x)")
        print(f"  pandas.read_sql / load:       {results['pandas.read_sql (SQLAlchemy + psycopg)'] / loaded:5.2f}x"
              "  (target >= 6x)")
        print(f"  read / connectorx:            {read_default / results['connectorx -> Arrow']:5.2f}x"
              "  (target <= 1x)")
        print(f"  read / raw COPY:              {read_default / floor:5.2f}x")
        print(f"  read, 1 connection / default: {results['toolkit read, 1 connection'] / read_default:5.2f}x")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
