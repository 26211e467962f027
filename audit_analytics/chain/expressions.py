"""Hashed text built by a SQL expression (``text = "sql"`` profiles).

A producer that hashes a delimited string (a database trigger's ``prev || '|' || ...``, a
service's plain concatenation) is described by one DuckDB SQL expression over the source's
stored columns. The verifier evaluates it in bulk inside its scan query and hashes the
resulting text in the kernel, so no Python runs per row.

The expression is parsed before it runs: it must be one scalar expression over the row's
columns (no subquery, no window, no lambda, no parameter, no statement of its own) that
calls only the pure, deterministic scalar functions of :data:`.functions.ALLOWED_FUNCTIONS`,
by their plain names. It cannot write anything, read anything but the row, or give another
text on another run; the columns it reads are what the hash protects.
"""

from __future__ import annotations

from .._engine import Engine, EngineError, quote_ident
from ..errors import ProfileError, first_line
from ..sources import ScanPart, Source
from ..sources.mapped import stored_sql
from .functions import check_expression, unknown_references
from .profiles import HashProfile
from .schema import BOOKKEEPING, _expect, bounded_timestamp, classify, require_columns, scan_select

__all__ = ["check_expression", "expression_columns", "link_scan_sql", "profile_parts",
           "scan_query", "sql_scan_query"]

def expression_columns(profile: HashProfile) -> tuple[str, ...]:
    """The stored columns a ``text = "sql"`` profile's expression reads.

    Raises
    ------
    ProfileError
        When the expression does not parse, is not one scalar expression over the row, or
        calls a function a profile may not call (see :func:`check_expression`).
    """
    return check_expression(profile.expression or "", profile.name)


def _text_kind(dtype: str) -> bool:
    upper = dtype.upper()
    return upper in ("VARCHAR", "BLOB", "JSON") or upper.startswith("VARCHAR")


def link_scan_sql(part_sql: str, columns: dict[str, str], profile: HashProfile, *,
                  stored: bool) -> tuple[str, str]:
    """A part's relation for the scan, and the ``ORDER BY`` clause its rows are read in.

    ``columns`` are the part's columns as the verifier sees them (roles' names); with
    ``stored`` the relation shows the stored names (what an expression reads). With
    ``order_by``, ``prev_hash`` is the stored hash of the row before in that order (the
    genesis value for the first row), and the rows are read in that order.
    """
    mapping = profile.column_map
    relation = stored_sql(part_sql, columns, mapping) if stored else part_sql
    if not profile.order_by:
        return relation, ""
    by_stored = {v: k for k, v in mapping.items()}
    if stored:
        hash_col = mapping.get("hash", "hash")
        order = mapping.get(profile.order_by, profile.order_by)
    else:
        hash_col = "hash"
        order = (profile.order_by if profile.order_by in mapping
                 else by_stored.get(profile.order_by, profile.order_by))
    genesis = profile.genesis.replace("'", "''")
    drop = " EXCLUDE (prev_hash)" if "prev_hash" in columns else ""
    window = f"ORDER BY {quote_ident(order)}, __rk"
    return (f"SELECT *{drop}, coalesce(lag(CAST({quote_ident(hash_col)} AS VARCHAR)) OVER "
            f"({window}), '{genesis}') AS prev_hash FROM ({relation})", f" {window}")


def sql_scan_query(engine: Engine, part_sql: str, params, columns: dict[str, str],
                   profile: HashProfile, extra: list[str]) -> str:
    """The scan query of a ``text = "sql"`` profile: ``__text`` plus ``extra`` items.

    ``extra`` are select items over the stored names (``__rk``, ``__hash``...). The
    expression is checked first (:func:`expression_columns`), then bound once against the
    part so that an unknown column or a result that is not text is refused with DuckDB's
    reason in one line.
    """
    expression_columns(profile)
    relation, order = link_scan_sql(part_sql, columns, profile, stored=True)
    try:
        stored = engine.columns(f"SELECT * FROM ({relation})", params)
    except EngineError as exc:
        raise ProfileError(f"the columns of hash profile {profile.name!r} cannot be read: "
                           f"{first_line(exc)}") from None
    unknown = unknown_references(profile.expression or "", stored)
    if unknown:
        raise ProfileError(f"invalid expression in hash profile {profile.name!r}: it reads "
                           f"{', '.join(unknown)}, which is not a column of the source "
                           f"(columns: {', '.join(c for c in stored if c not in BOOKKEEPING)})")
    query = (f"SELECT ({profile.expression}\n) AS __text, {', '.join(extra)} "
             f"FROM ({relation}){order}")
    try:
        types = engine.columns(query, params)
    except EngineError as exc:
        raise ProfileError(f"the expression of hash profile {profile.name!r} cannot be "
                           f"evaluated: {first_line(exc)}") from None
    if not _text_kind(types["__text"]):
        raise ProfileError(f"the expression of hash profile {profile.name!r} yields "
                           f"{types['__text']}, not text: cast it, e.g. CAST(... AS VARCHAR)")
    return query


def _sql_items(columns: dict[str, str], profile: HashProfile, where: str) -> list[str]:
    """The scan's bookkeeping items over the stored names (see :func:`scan_select`)."""
    mapping = profile.column_map
    need = ["hash"] if profile.order_by else ["hash", "prev_hash"]
    require_columns(columns, need, where, "the profile's columns must name it")
    for name in need:
        _expect(name, columns[name], ("text",), where)

    def col(role: str) -> str:
        return quote_ident(mapping.get(role, role))

    prev = quote_ident("prev_hash") if profile.order_by else col("prev_hash")
    items = ["__rk", f'CAST({prev} AS VARCHAR) AS "f:prev_hash"',
             f"CAST({col('id')} AS VARCHAR) AS __id" if "id" in columns
             else "CAST(NULL AS VARCHAR) AS __id"]
    if "timestamp" in columns and classify(columns["timestamp"]) in ("timestamp", "text"):
        items.append(f"epoch_us({bounded_timestamp(col('timestamp'))}) AS __ts")
    else:
        items.append("CAST(NULL AS BIGINT) AS __ts")
    items.append(f"CAST({col('hash')} AS VARCHAR) AS __hash")
    return items


def scan_query(engine: Engine, part_sql: str, params, profile: HashProfile, where: str) -> str:
    """The query that reads one part for the scan, whatever the profile's kind of text.

    A JSON profile reads the fields :func:`scan_select` names (``prev_hash`` derived from
    ``order_by`` when the chain has no link column); a SQL profile reads ``__text``.
    """
    columns = engine.columns(part_sql, params)
    if profile.text == "sql":
        return sql_scan_query(engine, part_sql, params, columns, profile,
                              _sql_items(columns, profile, where))
    relation, order = link_scan_sql(part_sql, columns, profile, stored=False)
    if profile.order_by:
        columns = {**{k: v for k, v in columns.items() if k != "prev_hash"},
                   "prev_hash": "VARCHAR"}
    return f"SELECT {scan_select(columns, profile, where)} FROM ({relation}){order}"


def profile_parts(source: Source, profile: HashProfile) -> list[ScanPart]:
    """The parts the scan reads for ``profile``: one, in order, for a link-less chain.

    A chain ordered by a column runs across every part, so its parts are read as one
    (in the source's own engine: the union names no single file).
    """
    parts = source.parts()
    if not profile.order_by or len(parts) < 2:
        return parts
    sql = " UNION ALL BY NAME ".join(f"SELECT * FROM ({p.sql})" for p in parts)
    return [ScanPart(sql=sql, params=[x for p in parts for x in p.params],
                     rows=sum(p.rows or 0 for p in parts), where=source.label)]
