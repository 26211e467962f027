"""Load the sample chains into PostgreSQL tables made with the seed's DDL.

    python -m audit_analytics.samples.load_postgres URL [--samples data_samples] [--strict]

Each producer's clean chain goes into its own schema, ``python_seed.audit_logs`` and
``node_seed.audit_logs``, created by ``data_samples/postgres/schema.sql`` (the seed's
table, its CHECK constraints and its row trigger). Existing tables are replaced.

The samples hold ``actor_type = 'anonymous'`` rows, as the seed's own middlewares write
them, which the seed's CHECK constraint rejects (a seed defect: those inserts fail in
the seed). By default the loader drops that one constraint after creating the table
and says so; ``--strict`` keeps it, and the load then fails exactly as the seed would.
Tampered samples are not loaded: tests make tampering in SQL, with the trigger disabled.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow.parquet as pq

from ..sources.postgres import mask_url

__all__ = ["PRODUCERS", "load_samples", "main"]

#: Producer folder -> PostgreSQL schema that receives its clean chain.
PRODUCERS = {"python_seed": "python_seed", "node_seed": "node_seed"}
_DDL = Path(__file__).resolve().parents[2] / "data_samples" / "postgres" / "schema.sql"


def _ddl(samples: Path) -> str:
    path = samples / "postgres" / "schema.sql"
    return (path if path.exists() else _DDL).read_text()


def load_table(con, schema: str, parquet: Path, ddl: str, *, strict: bool = False) -> int:
    """Create ``schema.audit_logs`` with the seed's DDL and copy one Parquet chain into it.

    Parameters
    ----------
    con
        A psycopg connection (autocommit) with rights to create schemas.
    schema
        The PostgreSQL schema to (re)create.
    parquet
        A sample chain (``clean.parquet``).
    ddl
        The seed's DDL (``schema.sql``), run with ``search_path`` set to ``schema``.
    strict
        Keep the seed's ``actor_type`` CHECK (rows with other values then fail).

    Returns
    -------
    int
        Rows loaded.
    """
    from psycopg import sql

    ident = sql.Identifier(schema)
    con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(ident))
    con.execute(sql.SQL("CREATE SCHEMA {}").format(ident))
    con.execute("SELECT set_config('search_path', %s, false)", [schema])
    con.execute(ddl)
    if not strict:
        con.execute("ALTER TABLE audit_logs DROP CONSTRAINT audit_logs_actor_type_check")
    table = pq.read_table(parquet)
    columns = table.column_names
    statement = sql.SQL("COPY audit_logs ({}) FROM STDIN").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns))
    with con.cursor() as cur, cur.copy(statement) as copy:
        for row in table.to_pylist():
            copy.write_row([row[c] for c in columns])
    con.execute("SELECT set_config('search_path', 'public', false)")
    return table.num_rows


def load_samples(url: str, samples: str | Path = "data_samples", *,
                 strict: bool = False) -> dict[str, int]:
    """Load every producer's clean chain; return ``{schema.table: rows}``."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg comes with the dev extra
        raise SystemExit("the sample loader needs psycopg: pip install 'psycopg[binary]'") from None
    samples = Path(samples)
    ddl = _ddl(samples)
    loaded = {}
    libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True) as con:
        for folder, schema in PRODUCERS.items():
            loaded[f"{schema}.audit_logs"] = load_table(
                con, schema, samples / folder / "clean.parquet", ddl, strict=strict)
    return loaded


def main(argv: list[str] | None = None) -> int:
    """Command line entry: load the samples into the database at URL."""
    parser = argparse.ArgumentParser(prog="python -m audit_analytics.samples.load_postgres")
    parser.add_argument("url", help="postgresql://user:pass@host:port/db")
    parser.add_argument("--samples", default="data_samples", help="the samples folder")
    parser.add_argument("--strict", action="store_true",
                        help="keep the seed's actor_type CHECK (the anonymous rows then fail)")
    args = parser.parse_args(argv)
    try:
        loaded = load_samples(args.url, args.samples, strict=args.strict)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"load_postgres: error: {mask_url(first)}", file=sys.stderr)
        return 2
    for table, rows in loaded.items():
        print(f"{mask_url(args.url)}: {table}: {rows} rows")
    if not args.strict:
        print("note: the seed's actor_type CHECK was dropped: the samples hold 'anonymous' "
              "actors, as the seed's middlewares write them", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
