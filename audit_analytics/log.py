"""``AuditLog``: one opened source, queried with SQL and verified in place."""

from __future__ import annotations

import html
import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ._engine import Engine, EngineError
from .anchors import Anchor, load_anchors
from .errors import SourceError
from .profiles import HashProfile
from .results import VerifyResult
from .schema import events_view_sql
from .sources import Source, open_source
from .verify import verify_source

__all__ = ["AuditLog", "open"]

log = logging.getLogger("audit_analytics")


class AuditLog:
    """An audit log opened for analysis.

    The stored rows are visible as the view ``raw``; the view ``events`` maps them onto
    the event schema (typed timestamp, extra columns kept). Nothing is copied for
    Parquet sources, and nothing is ever written to a source.

    Parameters
    ----------
    source
        A Parquet file, folder or glob, a ``postgresql://`` URL or a ``.duckdb`` file.
    table
        For database sources: the audit table (default ``audit_logs``).
    engine
        An existing :class:`~audit_analytics._engine.Engine` to share.
    """

    def __init__(self, source, *, table: str | None = None, engine: Engine | None = None,
                 progress: bool | None = None, **source_options) -> None:
        self.source: Source = (
            source if isinstance(source, Source)
            else open_source(source, table=table, **source_options)
        )
        self.engine = engine or Engine()
        self.progress = progress
        try:
            self.source.attach(self.engine)
            self.engine.execute(
                "CREATE OR REPLACE TEMP VIEW events AS " + events_view_sql(self.source.columns)
            )
        except EngineError as exc:
            raise SourceError(f"cannot read {self.source.label}: {_one_line(exc)}",
                              source=self.source.label) from None

    # --- verification ---------------------------------------------------------------
    def verify(self, profile: str | HashProfile = "auto",
               anchors: str | Path | list[Anchor] | None = None,
               progress: bool | None = None) -> VerifyResult:
        """Re-verify every row's hash and every link; see :mod:`audit_analytics.verify`."""
        if anchors is not None and not isinstance(anchors, list):
            anchors = load_anchors(anchors)
        try:
            return verify_source(self.engine, self.source, profile, anchors,
                                 self.progress if progress is None else progress)
        except EngineError as exc:
            raise SourceError(f"cannot read {self.source.label}: {_one_line(exc)}",
                              source=self.source.label) from None

    # --- queries ----------------------------------------------------------------------
    def sql(self, query: str, params=None) -> pd.DataFrame:
        """Run SQL over the views ``events`` and ``raw``; parameters are bound, not pasted."""
        return self.engine.df(query, params)

    def arrow(self, query: str, params=None) -> pa.Table:
        """Like :meth:`sql`, returning an Arrow table."""
        return self.engine.arrow(query, params)

    @property
    def columns(self) -> dict[str, str]:
        """Stored column names and their types."""
        return dict(self.source.columns)

    def __len__(self) -> int:
        return int(self.engine.scalar("SELECT count(*) FROM raw"))

    def describe(self) -> dict:
        """Row count and time range of the events."""
        n, first, last, actors = self.engine.rows(
            'SELECT count(*), min("timestamp"), max("timestamp"), count(DISTINCT actor_id) '
            "FROM events"
        )[0]
        return {"source": self.source.label, "rows": n, "first": first, "last": last,
                "actors": actors}

    def close(self) -> None:
        """Release the engine."""
        self.engine.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AuditLog {self.source.kind} {self.source.label!r} rows={self.source.rows}>"

    def _repr_html_(self) -> str:
        d = self.describe()
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td>{html.escape(str(v))}</td></tr>" for k, v in d.items()
        )
        return f"<table>{cells}</table>"


def open(source, **options) -> AuditLog:  # noqa: A001 - the natural verb for the API
    """Open an audit log: ``log = audit_analytics.open("archive/")``."""
    return AuditLog(source, **options)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__



