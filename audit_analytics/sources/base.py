"""The Source protocol: what every source of audit events provides, and what it may.

A source knows where its rows are and how to expose them to the engine as one relation
of the stored columns (``raw``), and as parts that the verifier scans with a stable row
key (``__rk``) so findings can point at a file and row. Normalisation to the event
schema (``events``) is the same SQL for every source and lives in
:mod:`audit_analytics.chain.schema`.

What a source can do beyond that is declared, not probed: its class lists its
:data:`CAPABILITIES` in ``capabilities`` and callers ask :meth:`Source.supports`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from .._engine import Engine

__all__ = ["ARCHIVE", "CAPABILITIES", "DIGESTS", "PROGRESS", "PROTECTIONS", "STREAM", "TABLE",
           "WINDOW", "ScanPart", "Source"]

#: Reads a time window filtered at the source (``since``/``until`` attributes) and answers
#: :meth:`Source.hashes_outside` from the whole log.
WINDOW = "window"
#: Streams its rows as Arrow batches without attaching: ``batches(since=...)``, a context
#: manager giving ``(schema, batches)``.
STREAM = "stream"
#: Shows a progress bar while reading; its ``progress`` attribute turns it on or off.
PROGRESS = "progress"
#: Reads one table of a database; ``table`` names it.
TABLE = "table"
#: A database table whose protections against change can be inspected from its catalog.
PROTECTIONS = "protections"
#: Integrity comes from signed digests of its files, not a row chain: the source answers
#: ``validate_digests()`` (a CloudTrail location).
DIGESTS = "digests"
#: Integrity comes from a signed archive manifest: the source answers ``check_integrity()``
#: (an archive folder written by ``archive``).
ARCHIVE = "archive"
CAPABILITIES = frozenset({WINDOW, STREAM, PROGRESS, TABLE, PROTECTIONS, DIGESTS, ARCHIVE})


@dataclass(frozen=True)
class ScanPart:
    """One independently scannable piece of a source (a file, a partition, a table).

    A part is plain, picklable data, never an engine object. ``sql`` selects the stored
    columns plus ``__rk``, a BIGINT row key unique within the source, with ``params``
    bound; ``where`` is a label for findings (a file path or a table name).

    A part with a ``path`` (see :meth:`parquet`) reads that file alone: any process can
    scan it with an engine of its own (``standalone``). A part without one reads rows
    that live in the source's own engine (PostgreSQL rows held as Arrow batches, an
    attached DuckDB file, parsed JSON lines) and is scanned there.
    """

    sql: str
    params: list
    rows: int
    where: str
    path: str | None = None
    key_offset: int = 0

    @classmethod
    def parquet(cls, path: str, key_offset: int, rows: int) -> ScanPart:
        """A Parquet file whose row ``k`` (in file order) has the row key ``key_offset + k``.

        A local path is made absolute, so that a worker started in another folder (a
        process pool's, a cluster's) reads the same file; ``where`` keeps it as given.
        """
        where = str(path)
        if "://" not in where:
            path = os.path.abspath(where)
        return cls(
            sql=(
                "SELECT CAST(? AS BIGINT) + file_row_number AS __rk, * "
                "EXCLUDE (file_row_number) FROM read_parquet(?, file_row_number=true)"
            ),
            params=[int(key_offset), str(path)],
            rows=rows,
            where=where,
            path=str(path),
            key_offset=int(key_offset),
        )

    @property
    def standalone(self) -> bool:
        """True when a fresh engine in any process can scan the part (it names its file)."""
        return self.path is not None


@dataclass
class Source(ABC):
    """Base of every source: a label safe to print and the stored column types."""

    #: What the source can do beyond the protocol (a subset of :data:`CAPABILITIES`).
    capabilities: ClassVar[frozenset[str]] = frozenset()

    label: str
    kind: str = "source"
    columns: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    #: Role -> stored column, set when a profile maps the columns (see :mod:`.mapped`): a
    #: source that filters or looks up rows itself uses the stored names.
    column_map: dict[str, str] = field(default_factory=dict)

    def stored(self, role: str) -> str:
        """The stored column that plays ``role`` (``role`` itself unless mapped)."""
        return self.column_map.get(role, role)

    @abstractmethod
    def attach(self, engine: Engine) -> None:
        """Create the view ``raw`` over every stored column of every row.

        The view is made with :meth:`Engine.create_view` (in the engine's scope, when it
        has one); whatever else the source registers has a name of its own, so that
        several sources can share one engine.
        """

    @property
    def identity(self):
        """The source's canonical :class:`~audit_analytics.sources.identity.SourceIdentity`.

        The same for every spelling of the same source (see :mod:`.identity`); the access
        journal and the review ledger record it and match on it.
        """
        from .identity import source_identity

        return source_identity(self)

    def supports(self, capability: str) -> bool:
        """Whether the source declares ``capability`` (one of :data:`CAPABILITIES`)."""
        return capability in self.capabilities

    def detach(self, engine: Engine) -> None:  # noqa: B027 - most sources register nothing
        """Release what :meth:`attach` registered in ``engine`` (its views go with the scope)."""

    @abstractmethod
    def parts(self) -> list[ScanPart]:
        """The pieces the verifier scans, each with a row key ``__rk``."""

    def locate(self, row_key: int) -> str:
        """Where a row key points, for people (``file.parquet row 17``)."""
        return f"row {row_key}"

    def local_files(self) -> list[str]:
        """The local files the source reads (none for a server or object storage)."""
        return []

    @property
    def windowed(self) -> bool:
        """True when only a time window of the log was read (``since``/``until``)."""
        return False

    def hashes_outside(self, hashes: list[str]) -> set[str]:
        """Which ``hashes`` belong to rows that exist outside the window that was read.

        A windowed source answers from the whole log, so a row whose predecessor lies just
        before the window starts a ``window_start`` segment instead of being reported as
        ``missing_predecessor``. An unwindowed source has nothing outside.
        """
        return set()
