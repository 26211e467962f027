"""``reconcile``: two copies of one log compared event by event (a database and its archive).

Every event of A must be in B with the same hash and the same values in every column both
hold, and the reverse, as many times in each. Events are compared as ``(id, hash,
content)`` counted on each side (``content``: the SHA-256 of the event's common columns as
JSON), in one DuckDB statement over both sources (sharing one engine); an id present on
both sides with different hashes is one ``hash_differs`` difference, with the same hash
and other values (a column the hash does not cover, or an edit that left the hash alone)
one ``content_differs``; an event on one side only is ``missing_in_b`` or
``missing_in_a``. Per-day counts (UTC) show where the copies part; the first
:data:`DIFFERENCE_LIMIT` differences (oldest first) are listed, all of them counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import _args
from .._engine import Engine, quote_ident
from .._text import shown
from ..periods import parse_window

__all__ = ["DIFFERENCE_LIMIT", "ReconcileResult", "reconcile"]

#: Differences listed (all are counted).
DIFFERENCE_LIMIT = 1000
#: The kinds of difference, as counted.
KINDS = ("missing_in_b", "missing_in_a", "hash_differs", "content_differs")

_PAIRS = """
CREATE TEMP TABLE __rec_diff AS
WITH a AS (SELECT CAST(id AS VARCHAR) AS id, CAST(hash AS VARCHAR) AS hash, "timestamp" AS ts,
                  {content} AS content
           FROM {a} WHERE {window}),
b AS (SELECT CAST(id AS VARCHAR) AS id, CAST(hash AS VARCHAR) AS hash, "timestamp" AS ts,
             {content} AS content
      FROM {b} WHERE {window}),
ca AS (SELECT id, hash, content, count(*) AS n, min(ts) AS ts FROM a GROUP BY ALL),
cb AS (SELECT id, hash, content, count(*) AS n, min(ts) AS ts FROM b GROUP BY ALL),
d AS (SELECT coalesce(ca.id, cb.id) AS id, coalesce(ca.hash, cb.hash) AS hash,
             coalesce(ca.n, 0) AS na, coalesce(cb.n, 0) AS nb,
             coalesce(ca.ts, cb.ts) AS ts
      FROM ca FULL OUTER JOIN cb
        ON ca.id IS NOT DISTINCT FROM cb.id AND ca.hash IS NOT DISTINCT FROM cb.hash
           AND ca.content = cb.content
      WHERE coalesce(ca.n, 0) <> coalesce(cb.n, 0))
SELECT id,
       max(hash) FILTER (WHERE na > nb) AS hash_a,
       max(hash) FILTER (WHERE nb > na) AS hash_b,
       coalesce(sum(na - nb) FILTER (WHERE na > nb), 0) AS extra_a,
       coalesce(sum(nb - na) FILTER (WHERE nb > na), 0) AS extra_b,
       min(ts) AS ts,
       CASE WHEN bool_or(na > nb) AND bool_or(nb > na) THEN
                 CASE WHEN list_has_any(list(coalesce(hash, '')) FILTER (WHERE na > nb),
                                        list(coalesce(hash, '')) FILTER (WHERE nb > na))
                      THEN 'content_differs' ELSE 'hash_differs' END
            WHEN bool_or(na > nb) THEN 'missing_in_b'
            ELSE 'missing_in_a' END AS kind
FROM d GROUP BY id
"""

_DAYS = """
WITH a AS (SELECT strftime(timezone('UTC', "timestamp"), '%Y-%m-%d') AS day, count(*) AS n
           FROM {a} WHERE {window} GROUP BY ALL),
b AS (SELECT strftime(timezone('UTC', "timestamp"), '%Y-%m-%d') AS day, count(*) AS n
      FROM {b} WHERE {window} GROUP BY ALL)
SELECT coalesce(a.day, b.day) AS day, coalesce(a.n, 0), coalesce(b.n, 0)
FROM a FULL OUTER JOIN b ON a.day IS NOT DISTINCT FROM b.day
ORDER BY day NULLS LAST
"""


@dataclass
class ReconcileResult:
    """Two sources compared: what differs, and how many events each holds per day."""

    a: str
    b: str
    rows_a: int
    rows_b: int
    counts: dict[str, int]
    days: list[dict] = field(default_factory=list)
    differences: list[dict] = field(default_factory=list)
    window: dict = field(default_factory=dict)

    @property
    def same(self) -> bool:
        """True when every event of each is in the other, every column the same."""
        return not any(self.counts.values())

    def to_dict(self) -> dict:
        """The JSON ``reconcile --json`` prints."""
        return {"same": self.same, "ok": self.same, "a": self.a, "b": self.b,
                "rows_a": self.rows_a, "rows_b": self.rows_b, "window": self.window,
                "counts": self.counts, "differences_total": sum(self.counts.values()),
                "days": self.days, "differences": self.differences}

    def summary(self, limit: int = 10) -> str:
        """A short human summary."""
        _args.count(limit, "limit")
        state = "SAME" if self.same else "DIFFERENT"
        lines = [f"{state}: A {shown(self.a)} ({self.rows_a:,} events), B {shown(self.b)} "
                 f"({self.rows_b:,} events)"]
        for kind, n in self.counts.items():
            if n:
                lines.append(f"  {kind:<14} {n:>8}")
        differing = [d for d in self.days if d["a"] != d["b"]]
        if differing:
            lines.append(f"  days whose counts differ: {len(differing)} (first "
                         f"{differing[0]['day']}: A {differing[0]['a']}, B {differing[0]['b']})")
        for d in self.differences[:limit]:
            lines.append(f"  - {d['kind']}: id {shown(d['id'])} at {d['timestamp']}")
        total = sum(self.counts.values())
        if total > limit:
            lines.append(f"  ... and {total - limit} more (--json lists the first "
                         f"{DIFFERENCE_LIMIT})")
        return "\n".join(lines)


def reconcile(source_a, source_b, *, since=None, until=None, table: str | None = None,
              limit: int = DIFFERENCE_LIMIT, progress: bool | None = None
              ) -> ReconcileResult:
    """Compare two sources of one log, event by event (see the module docstring).

    ``since``/``until`` (ISO; naive times are UTC) bound both sides: PostgreSQL filters
    in the database, other sources here.
    """
    from ..session import AuditLog

    _args.count(limit, "limit")
    lo, hi = parse_window(since, until)
    where, params = ["TRUE"], []
    for bound, op in ((lo, ">="), (hi, "<")):
        if bound is not None:
            where.append(f'"timestamp" {op} CAST(? AS TIMESTAMPTZ)')
            params.append(bound.isoformat())
    window = " AND ".join(where)
    engine = Engine()
    try:
        with (AuditLog(source_a, engine=engine, table=table, progress=progress,
                       **_pushdown(source_a, lo, hi)) as a,
              AuditLog(source_b, engine=engine, table=table, progress=progress,
                       **_pushdown(source_b, lo, hi)) as b):
            names = {"a": a.relation("events"), "b": b.relation("events"), "window": window}
            engine.execute(_PAIRS.format(content=_content(engine, names), **names),
                           params * 2)
            counts = dict.fromkeys(KINDS, 0)
            for kind, n in engine.rows("SELECT kind, count(*) FROM __rec_diff GROUP BY kind"):
                counts[kind] = int(n)
            rows = engine.rows(
                "SELECT kind, id, hash_a, hash_b, extra_a, extra_b, "
                "strftime(timezone('UTC', ts), '%Y-%m-%dT%H:%M:%S.%fZ') FROM __rec_diff "
                "ORDER BY ts NULLS LAST, id NULLS LAST LIMIT ?", [int(limit)])
            days = [{"day": d, "a": int(x), "b": int(y)}
                    for d, x, y in engine.rows(_DAYS.format(**names), params * 2)]
            result = ReconcileResult(a=a.source.label, b=b.source.label,
                                     rows_a=sum(d["a"] for d in days),
                                     rows_b=sum(d["b"] for d in days), counts=counts,
                                     days=days,
                                     window={"since": lo.isoformat() if lo else None,
                                             "until": hi.isoformat() if hi else None})
            for kind, ident, ha, hb, xa, xb, ts in rows:
                result.differences.append({"kind": kind, "id": ident, "hash_a": ha,
                                           "hash_b": hb, "extra_in_a": int(xa),
                                           "extra_in_b": int(xb), "timestamp": ts})
    finally:
        engine.close()
    return result


def _content(engine: Engine, names: dict) -> str:
    """SQL for the SHA-256 of an event's every column that both sides hold (as JSON)."""
    a = engine.columns(f"SELECT * FROM {names['a']}")
    b = engine.columns(f"SELECT * FROM {names['b']}")
    common = [c for c in a if c in b]
    fields = ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in common)
    return f"sha256(CAST(to_json(struct_pack({fields})) AS VARCHAR))"


def _pushdown(source, lo, hi) -> dict:
    """The window a PostgreSQL source filters in the database (others refuse one)."""
    if not str(source).startswith(("postgres://", "postgresql")):
        return {}
    return {k: v for k, v in (("since", lo), ("until", hi)) if v is not None}
