"""PostgreSQL -> DuckDB: the toolkit's reads and loads against the peers, in one run.

Starts a temporary server (like the tests; or uses AUDIT_ANALYTICS_TEST_PG_URL), fills
the seed's table with a python-seed chain of N rows (default 1,000,000) and times, on the
same table:

- the floor: ``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` through psycopg, drained to
  nowhere on one connection (before a single value is parsed);
- the peer a user would pick for Arrow: ``connectorx.read_sql(..., return_type="arrow")``;
- the toolkit's read (what ``verify postgresql://`` and ``aa.open`` do before hashing):
  ``PostgresSource.attach``, on one connection and on the default number of
  connections sharing one exported snapshot;
- ``verify postgresql://`` end to end in-process (read, verify, no file written);
- ``load --into`` a new persistent DuckDB file (``load_into``: read, write, checkpoint);
- ``pandas.read_sql`` over SQLAlchemy + psycopg 3.

Each fast path is timed ``--repeat`` times (best kept, with the CPU seconds this process
spent in it), pandas once; the ratios are printed against the floor and the peers
measured in the same run.

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
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_verify import DATA, build_archive  # noqa: E402
from pgserver import start_server  # noqa: E402

import audit_analytics as aa  # noqa: E402
from audit_analytics._engine import Engine  # noqa: E402
from audit_analytics.load import load_into  # noqa: E402
from audit_analytics.sources.postgres import PostgresSource  # noqa: E402

COLUMNS = ("id", "timestamp", "actor_id", "actor_type", "action", "resource_type",
           "resource_id", "result", "ip_address", "user_agent", "session_id", "changed_fields",
           "old_values", "reason", "prev_hash", "hash")


def fill(server, rows: int) -> None:
    """The seed's table holding a python-seed chain of ``rows`` events (a real chain).

    The rows are the verification benchmark's archive (built once, cached under
    benchmarks/_data/), copied in as CSV.
    """
    path = build_archive(DATA / f"python_seed_{rows}.parquet", rows)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "rows.csv"
        with Engine() as engine:
            engine.execute(f"COPY (SELECT {', '.join(COLUMNS)} FROM read_parquet(?)) TO "
                           f"'{csv}' (FORMAT csv, HEADER)", [str(path)])
        with server.connect("aa_bench") as con:
            con.execute((ROOT / "data_samples" / "postgres" / "schema.sql").read_text())
            with con.cursor() as cur, cur.copy(
                    f"COPY audit_logs ({', '.join(COLUMNS)}) FROM STDIN (FORMAT csv, HEADER)"
            ) as copy, open(csv, "rb") as data:
                while chunk := data.read(1 << 20):
                    copy.write(chunk)
            con.execute("VACUUM ANALYZE audit_logs")


#: Wall seconds of the fastest call of each path, and this process's CPU seconds in it.
RESULTS: dict[str, float] = {}
CPU: dict[str, float] = {}


def record(name: str, repeat: int, run) -> None:
    """Time ``repeat`` calls of ``run``; keep the fastest in :data:`RESULTS` and :data:`CPU`."""
    times = []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        run()
        times.append((time.perf_counter() - started, time.process_time() - cpu))
    print(f"  ... {' '.join(f'{t:.2f}' for t, _ in times)} s", flush=True)
    RESULTS[name], CPU[name] = min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    rows, repeat = args.rows, args.repeat
    server = start_server()
    try:
        url = server.create_database("aa_bench")
        started = time.perf_counter()
        fill(server, rows)
        print(f"filled {rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
        source = PostgresSource(url, progress=False)
        with source.session() as cur:
            source.describe_table(cur)
        select = source.select_sql()
        results = RESULTS

        import psycopg

        drained = 0

        def raw_copy():
            nonlocal drained
            drained = 0
            with psycopg.connect(server.url("aa_bench")) as con, con.cursor() as cur, \
                    cur.copy(f"COPY ({select}) TO STDOUT (FORMAT binary)") as copy:
                for chunk in copy:
                    drained += len(chunk)

        record("raw binary COPY drained (1 connection)", repeat, raw_copy)

        import connectorx

        def cx():
            table = connectorx.read_sql(url, select, return_type="arrow")
            assert table.num_rows == rows

        record("connectorx -> Arrow", repeat, cx)

        def read(streams):
            def run():
                engine = Engine()
                src = PostgresSource(url, progress=False, streams=streams)
                src.attach(engine)
                assert src.rows == rows
                engine.close()
            return run

        record("toolkit read, 1 connection", repeat, read(1))
        record("toolkit read (default)", repeat, read(None))

        def verify():
            with aa.open(url, journal=False, progress=False) as log:
                result = log.verify()
                assert result.ok and result.rows == rows

        record("verify postgresql:// (read + verify)", repeat, verify)

        with tempfile.TemporaryDirectory() as tmp:
            runs = iter(range(repeat))

            def load():
                target = Path(tmp) / f"events_{next(runs)}.duckdb"
                assert load_into(url, target, progress=False).rows_appended == rows

            record("load --into a new DuckDB file", repeat, load)
            size = max(p.stat().st_size for p in Path(tmp).glob("*.duckdb"))

        import pandas as pd
        import sqlalchemy

        sa = sqlalchemy.create_engine(server.url("aa_bench").replace(
            "postgresql://", "postgresql+psycopg://", 1))

        def read_sql():
            with sa.connect() as con:
                assert len(pd.read_sql(sqlalchemy.text(select), con)) == rows

        record("pandas.read_sql (SQLAlchemy + psycopg)", 1, read_sql)
        sa.dispose()

        print(f"\n{rows:,} rows of the seed's table ({drained / 1e6:.0f} MB of binary COPY; "
              f"DuckDB file {size / 1e6:.0f} MB); kernel {aa.kernel_info()['isa']}")
        print(f"  {'path':<42} {'wall':>9}  {'rows/s':>10}  {'CPU here':>8}")
        for name, seconds in results.items():
            print(f"  {name:<42} {seconds:7.2f} s  {rows / seconds / 1e3:6.0f} k/s  "
                  f"{CPU[name]:6.2f} s")
        print("  (CPU here: this process's threads; the server's processes are not counted)")
        floor = results["raw binary COPY drained (1 connection)"]
        loaded = results["load --into a new DuckDB file"]
        read = results["toolkit read (default)"]
        ratios = [
            ("load / raw COPY", loaded / floor, "target <= 2x"),
            ("pandas.read_sql / load",
             results["pandas.read_sql (SQLAlchemy + psycopg)"] / loaded, "target >= 6x"),
            ("read / connectorx", read / results["connectorx -> Arrow"], "target <= 1x"),
            ("read / raw COPY", read / floor, ""),
            ("read on 1 connection / default", results["toolkit read, 1 connection"] / read, ""),
        ]
        print()
        for name, value, target in ratios:
            print(f"  {name:<32} {value:5.2f}x" + (f"  ({target})" if target else ""))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
