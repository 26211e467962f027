"""``AuditLog``: one opened source, queried with SQL and verified in place."""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from . import _args
from ._caps import LISTED
from ._engine import Engine, EngineError, quote_ident
from ._secrets import mask_secrets
from ._text import shown
from .chain.anchors import Anchor, anchors_argument
from .chain.profiles import HashProfile, load_profile, profile_argument
from .chain.results import VerifyResult
from .chain.runners import DaskRunner, Runner
from .chain.schema import check_event_columns, events_view_sql
from .chain.verify import verify_source
from .errors import (
    ArchiveError,
    AuditAnalyticsError,
    SchemaError,
    SourceError,
    UsageError,
    first_line,
)
from .sources import (
    ARCHIVE,
    DIGESTS,
    PROGRESS,
    PROTECTIONS,
    Source,
    open_source,
    source_identity,
)

if TYPE_CHECKING:  # pandas loads lazily: the CLI starts faster without it
    import pandas as pd

__all__ = ["CACHED_COLUMNS", "AuditLog", "open"]

log = logging.getLogger("audit_analytics")

#: The event columns the checklist and the report read: what :meth:`AuditLog.cached_events`
#: materialises.
CACHED_COLUMNS = ("id", "timestamp", "actor_id", "actor_type", "action", "resource_type",
                  "resource_id", "result", "ip_address", "user_agent", "session_id")


class AuditLog:
    """An audit log opened for analysis.

    The stored rows are visible as the view ``raw``; the view ``events`` maps them onto
    the event schema (typed timestamp, extra columns kept). Nothing is copied for
    Parquet sources, and nothing is ever written to a source.

    Several logs can share one engine: each has its own scope of it (``log.engine``, see
    :meth:`Engine.scope`), in which ``raw`` and ``events`` are that log's views; they are
    also reachable from any scope as ``log.relation("events")``.

    Parameters
    ----------
    source
        A Parquet file, folder or glob, a ``postgresql://`` URL or a ``.duckdb`` file.
    table
        For database sources: the audit table (default ``audit_logs``).
    engine
        An existing :class:`~audit_analytics._engine.Engine` to share (closing the log then
        leaves it open).
    journal
        Record ``open``, ``verify`` and ``sql`` in the toolkit's access journal
        (:mod:`audit_analytics.trail.journal`); ``False`` for the toolkit's internal reads.
    profile
        The hash profile whose ``columns`` say which stored column plays each role (a
        name, a TOML path or a :class:`HashProfile`); ``"auto"`` also tries the profile
        files of ``$AUDIT_ANALYTICS_HOME/profiles`` that map columns. The events, the
        checks and the report then read the mapped names.
    """

    def __init__(self, source, *, table: str | None = None, engine: Engine | None = None,
                 progress: bool | None = None, journal: bool = True,
                 profile: str | HashProfile | None = None, **source_options) -> None:
        self.journal = _args.flag(journal, "journal")
        _args.flag(progress, "progress", optional=True)
        if engine is not None and not isinstance(engine, Engine):
            raise UsageError(f"engine must be an audit_analytics Engine, not "
                             f"{type(engine).__name__}", argument="engine")
        profile_argument(profile, optional=True)
        self._cache: Engine | None = None  # set inside cached_events()
        try:
            self._open(source, table, engine, progress, source_options)
            if profile is not None:
                self._map_for(profile)
            if self._pending:
                raise self._pending
        except AuditAnalyticsError as exc:
            if getattr(self, "_owns_engine", False) and hasattr(self, "engine"):
                self.engine.close()
            # the source as it was named (a message's own may name one file of a folder)
            self._record("open", source, "failure", error=str(exc),
                         source_id=source_identity(source, table=table).key)
            raise
        self._record("open", self.source, "success", rows=self.source.rows)

    def _open(self, source, table, engine, progress, source_options) -> None:
        self.source: Source = open_source(source, table=table, **source_options)
        self._owns_engine = engine is None
        self.engine = (engine or Engine()).scope()
        self.progress = progress
        if progress is not None and self.source.supports(PROGRESS):
            self.source.progress = progress  # a source that loads rows shows its own bar
        try:
            self.source.attach(self.engine)
        except EngineError as exc:
            raise SourceError(f"cannot read {self.source.label}: {first_line(exc)}",
                              source=self.source.label) from None
        except SchemaError as exc:  # a profile's mapping may name the columns it lacks
            self._pending: SchemaError | None = exc
        else:
            self._pending = None
            self._events_view()

    def _events_view(self) -> None:
        try:
            check_event_columns(self.source.columns, self.source.label)
            self.engine.create_view(
                "events", events_view_sql(self.source.columns, self.engine.qualified("raw")))
        except EngineError as exc:
            raise SourceError(f"cannot read {self.source.label}: {first_line(exc)}",
                              source=self.source.label) from None

    def _map_for(self, profile) -> None:
        """Show the source under the roles ``profile`` maps (see :mod:`.sources.mapped`)."""
        from .chain.detection import candidate_profiles, detect_profile
        from .sources.mapped import MappedSource

        if isinstance(profile, str) and profile == "auto":
            mapped = [p for p in candidate_profiles() if p.columns]
            if not mapped:
                return
            if self._pending:  # only a mapping can read this source: try each in turn
                for candidate in mapped:
                    try:
                        self._map_for(candidate)
                        return
                    except AuditAnalyticsError:
                        self.source = getattr(self.source, "inner", self.source)
                        self.source.column_map = {}
                return  # none could: the source's own error is raised
            chosen, _ = detect_profile(self.engine, self.source)
            if chosen.columns:
                self._map_for(chosen)
            return
        chosen = load_profile(profile)
        if not chosen.columns or (isinstance(self.source, MappedSource)
                                  and self.source.mapping == chosen.column_map):
            return
        self.source = MappedSource(getattr(self.source, "inner", self.source), chosen.column_map,
                                   attached=not self._pending)
        self.source.attach(self.engine)
        self._pending = None
        self._events_view()

    # --- verification ---------------------------------------------------------------
    def verify(self, profile: str | HashProfile = "auto",
               anchors: str | Path | list[Anchor] | None = None,
               progress: bool | None = None, workers: int | None = 1,
               runner: Runner | None = None, scheduler: str | None = None,
               listed: int | None = LISTED) -> VerifyResult:
        """Re-verify every row's hash and every link; see :mod:`audit_analytics.chain.verify`.

        Where the map over the source's parts (its files) runs, the findings being the
        same: ``workers`` above 1 on that many local processes, ``None`` on one per core
        for a large multi-part source; ``scheduler`` (a Dask scheduler's address) on
        that cluster; ``runner`` on any runner of :mod:`audit_analytics.chain.runners`.
        A source whose integrity is signed digests (a CloudTrail location) is validated by
        them instead: the result is a
        :class:`~audit_analytics.cloudtrail.results.ValidationResult`.

        Raises
        ------
        UsageError
            ``workers`` below 1 or not a whole number, a ``runner`` and a ``scheduler``
            both, a ``profile`` or ``anchors`` of the wrong kind.
        """
        profile_argument(profile)
        _args.count(workers, "workers", minimum=1, optional=True)
        _args.flag(progress, "progress", optional=True)
        if scheduler is not None and runner is not None:
            raise UsageError("give a runner or a scheduler, not both", argument="runner")
        if runner is not None and not callable(runner):
            raise UsageError(f"runner must be a runner (ProcessPoolRunner, DaskRunner...), not "
                             f"{type(runner).__name__}", argument="runner")
        _args.text(scheduler, "scheduler", optional=True)
        _args.count(listed, "listed", minimum=1, optional=True)
        if self.source.supports(DIGESTS):
            result = self.source.validate_digests()
            self._record("verify", self.source, "success", digests=True,
                         intact=result.ok)
            return result
        if self.source.supports(ARCHIVE):
            if anchors:
                raise ArchiveError("anchors do not apply to an archive folder: its manifest's "
                                   "entries are the anchors (keep its head for expect_head)",
                                   source=self.source.label)
            result = self.source.check_integrity(
                profile=profile, progress=self.progress if progress is None else progress,
                workers=workers, runner=runner, scheduler=scheduler)
            self._record("verify", self.source, "success", archive=True,
                         intact=result.ok)
            return result
        anchors = anchors_argument(anchors)
        name = profile.name if isinstance(profile, HashProfile) else str(profile)
        cluster = DaskRunner(scheduler) if scheduler is not None else None
        try:
            result = verify_source(self.engine, self.source, profile, anchors,
                                   self.progress if progress is None else progress,
                                   runner=cluster or runner, workers=workers, listed=listed)
        except EngineError as exc:
            self._record("verify", self.source, "failure", error=first_line(exc))
            raise SourceError(f"cannot read {self.source.label}: {first_line(exc)}",
                              source=self.source.label) from None
        finally:
            if cluster is not None:
                cluster.close()
        self._record("verify", self.source, "success", profile=name,
                     anchors=len(anchors or []), intact=result.ok)
        return result

    def probe_profile(self, profile: str | HashProfile = "auto", rows: int = 5):
        """Try a hash profile on this log: its text and digests for ``rows`` rows, a sample.

        Returns a :class:`~audit_analytics.chain.probe.ProfileProbe` (``summary()``,
        ``to_dict()``, ``ok``); see :mod:`audit_analytics.chain.probe`.
        """
        from .chain.probe import probe_profile

        profile_argument(profile)
        _args.count(rows, "rows", minimum=1)
        name = profile.name if isinstance(profile, HashProfile) else str(profile)
        try:
            probe = probe_profile(self.engine, self.source, profile, rows=rows)
        except AuditAnalyticsError as exc:
            self._record("profile_test", self.source, "failure", error=first_line(exc))
            raise
        self._record("profile_test", self.source, "success", profile=name,
                     matched=probe.matched, sampled=probe.sampled)
        return probe

    def protections(self):
        """Inspect what really protects a PostgreSQL table from changes (triggers, grants).

        Returns a :class:`~audit_analytics.sources.protections.ProtectionsReport`; other
        sources raise :class:`~audit_analytics.errors.SourceError`.
        """
        if not self.source.supports(PROTECTIONS):
            raise SourceError(f"protections apply to PostgreSQL sources only, not "
                              f"{self.source.label}", source=self.source.label)
        from .sources.protections import inspect_protections

        return inspect_protections(self.source)

    # --- one materialised pass -------------------------------------------------------
    @contextlib.contextmanager
    def cached_events(self) -> Iterator[Engine]:
        """The columns of ``events`` that the checklist and the report read, copied once.

        Yields an engine (a layer of this log's scope, see :meth:`Engine.layer`) in which
        ``events`` is a table holding :data:`CACHED_COLUMNS` of every event, read from the
        source in one scan into a compressed scratch table; every other name resolves as
        in :attr:`engine`. Inside the block, statements over ``events`` answer from memory
        instead of scanning the source again. Nested uses share the one copy; it is
        dropped when the outermost block ends.

        Raises
        ------
        SourceError
            The source cannot be read.
        """
        if self._cache is not None:
            yield self._cache
            return
        layer = self.engine.layer()
        try:
            select = (f"SELECT {', '.join(quote_ident(c) for c in CACHED_COLUMNS)} "
                      f"FROM {self.engine.qualified('events')}")
            try:
                layer.execute(f"CREATE TABLE {layer.qualified('events')} "
                              f"({_cache_columns(self.engine.columns(select))})")
                layer.execute(f"INSERT INTO {layer.qualified('events')} {select}")
            except EngineError as exc:
                raise SourceError(f"cannot read {self.source.label}: {first_line(exc)}",
                                  source=self.source.label) from None
            self._cache = layer
            yield layer
        finally:
            self._cache = None
            with contextlib.suppress(EngineError):  # a closed engine took the layer with it
                layer.drop_scope()

    # --- queries ----------------------------------------------------------------------
    def sql(self, query: str, params=None) -> pd.DataFrame:
        """Run SQL over the views ``events`` and ``raw``; parameters are bound, not pasted."""
        return self._query(self.engine.df, query, params)

    def arrow(self, query: str, params=None) -> pa.Table:
        """Like :meth:`sql`, returning an Arrow table."""
        return self._query(self.engine.arrow, query, params)

    def _query(self, run, query: str, params):
        _args.text(query, "query", empty=True)  # blank text: the engine's QueryError
        _params_argument(params)
        try:
            out = run(query, params)
        except Exception as exc:
            self._record("sql", self.source, "failure", error=first_line(exc),
                         query=mask_secrets(query)[:2000])
            raise
        self._record("sql", self.source, "success", query=mask_secrets(query)[:2000])
        return out

    def named_query(self, name: str, query: str, params: dict) -> pd.DataFrame:
        """Run one named investigation query and record it (name, parameters) in the journal."""
        _args.text(name, "name")
        _args.text(query, "query", empty=True)
        _params_argument(params)
        try:
            out = self.engine.df(query, params)
        except Exception as exc:
            self._journal(name, "failure", params, error=first_line(exc))
            raise
        self._journal(name, "success", params)
        return out

    def _journal(self, action: str, result: str, parameters: dict,
                 error: str | None = None) -> None:
        """Append one entry for this source to the access journal (unless turned off)."""
        if self.journal:
            from .trail import journal

            journal.record(action, self.source, result=result, parameters=parameters,
                           error=error)

    def _record(self, action: str, source, result: str, error: str | None = None,
                source_id: str | None = None, **parameters) -> None:
        """Append to the access journal (a no-op with ``journal=False``)."""
        if self.journal:
            from .trail import journal

            journal.record(action, source, result=result, parameters=parameters, error=error,
                           source_id=source_id)

    # --- investigation and the checklist (thin delegations) ---------------------------
    def actor_history(self, actor_id: str, since=None, until=None) -> pd.DataFrame:
        """Everything one actor did; see :func:`audit_analytics.queries.actor_history`."""
        from .queries import actor_history

        return actor_history(self, actor_id, since=since, until=until)

    def resource_access(self, resource_type: str | None = None,
                        resource_id: str | None = None, since=None, until=None) -> pd.DataFrame:
        """Who touched a resource; see :func:`audit_analytics.queries.resource_access`."""
        from .queries import resource_access

        return resource_access(self, resource_type, resource_id, since=since, until=until)

    def failed_attempts(self, since=None, until=None, actor_id: str | None = None
                        ) -> pd.DataFrame:
        """Failures and denials by actor; see :func:`audit_analytics.queries.failed_attempts`."""
        from .queries import failed_attempts

        return failed_attempts(self, since=since, until=until, actor_id=actor_id)

    def activity(self, freq: str = "day", **filters) -> pd.DataFrame:
        """Events per day or hour; see :func:`audit_analytics.queries.activity`."""
        from .queries import activity

        return activity(self, freq, **filters)

    def check(self, policy=None, since=None, until=None, only=None, **options):
        """Run the compliance checklist; see :func:`audit_analytics.checks.run_checks`."""
        from .checks import run_checks

        unknown = sorted(set(options) - {"profile", "anchors", "extra_log_access"})
        if unknown:
            raise UsageError(f"unknown option {unknown[0]!r} for check (known: profile, "
                             "anchors, extra_log_access)", argument=unknown[0])
        return run_checks(self, policy, since=since, until=until, only=only, **options)

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

    def relation(self, name: str = "events") -> str:
        """The qualified SQL name of this log's ``events`` or ``raw`` view.

        For queries that join logs sharing an engine:
        ``a.sql(f"SELECT ... FROM events JOIN {b.relation('events')} USING (id)")``.
        """
        if name not in ("events", "raw"):
            raise UsageError(f"a log has the views events and raw, not {shown(repr(name), 80)}",
                             argument="name")
        return self.engine.qualified(name)

    def close(self) -> None:
        """Release the engine, or, when it is shared, this log's views and rows in it."""
        if self._owns_engine:
            self.engine.close()
            return
        try:
            self.source.detach(self.engine)
            self.engine.drop_scope()
        except EngineError:
            pass  # the shared engine was closed already

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


def _cache_columns(types: dict[str, str]) -> str:
    """Column definitions of the cached events: their types, ``id`` stored as it is.

    Text unique to every row (the event id) gains little from DuckDB's compression and
    costs most of its time (10M ids: 8 s compressed to 140 MB, 2.7 s as 400 MB).
    """
    return ", ".join(f"{quote_ident(name)} {dtype}"
                     + (" USING COMPRESSION uncompressed" if name == "id" else "")
                     for name, dtype in types.items())


def _params_argument(params) -> None:
    """Refuse query parameters that are neither a sequence nor a mapping of values."""
    if params is None or isinstance(params, (list, tuple, dict)):
        return
    raise UsageError(f"params must be a list, a tuple or a dict of values, not "
                     f"{shown(repr(params), 80)}", argument="params")


def open(source, **options) -> AuditLog:  # noqa: A001 - the natural verb for the API
    """Open an audit log: ``log = audit_analytics.open("archive/")``."""
    return AuditLog(source, **options)




