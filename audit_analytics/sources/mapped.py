"""A source whose columns are renamed onto the event schema (a profile's ``columns``).

A producer that is not the seed's stores its events under names of its own
(``event_id``, ``logged_at``, ``row_hash``...). :class:`MappedSource` wraps any source and
shows each mapped column under its role's name, in ``raw``, ``events`` and every part the
verifier scans, so that the checklist, the report and the verifier read it like any other
log. A stored column that has a role's name while another column is mapped to that role
stays visible as ``stored:<name>``. Nothing is copied: the renaming is a view.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from .._engine import Engine, quote_ident
from ..errors import ProfileError
from .base import ScanPart, Source

__all__ = ["MappedSource", "mapped_columns", "rename_sql", "stored_name"]

#: Where a stored column that carries a mapped role's name is kept.
STORED_PREFIX = "stored:"


def _roles() -> tuple[str, ...]:
    from ..chain.schema import EVENT_COLUMNS

    return EVENT_COLUMNS


def check_mapping(mapping: dict[str, str], columns: dict[str, str], where: str) -> None:
    """Refuse a mapping naming a role that is not an event column, or a missing column."""
    roles = _roles()
    unknown = [r for r in mapping if r not in roles]
    if unknown:
        raise ProfileError(f"columns maps {', '.join(unknown)}: not event-schema field(s) "
                           f"(known: {', '.join(roles)})")
    missing = [c for c in mapping.values() if c not in columns]
    if missing:
        have = ", ".join(c for c in columns if c != "__rk") or "none"
        raise ProfileError(f"columns names {', '.join(missing)}, which {where} lacks "
                           f"(has: {have})", source=where)


def _renames(mapping: dict[str, str], columns) -> list[tuple[str, str]]:
    """``(stored, shown)`` pairs: mapped columns to their roles, displaced names aside."""
    pairs = [(stored, role) for role, stored in mapping.items() if stored != role]
    targets = {role for _, role in pairs}
    sources = {stored for stored, _ in pairs}
    pairs += [(name, STORED_PREFIX + name) for name in columns
              if name in targets and name not in sources]
    return pairs


def rename_sql(sql: str, columns, mapping: dict[str, str], *, back: bool = False) -> str:
    """``sql`` (a relation with ``columns``) with its columns shown under their roles.

    ``back=True`` is the inverse: a renamed relation with its stored names back.
    """
    pairs = _renames(mapping, columns)
    if not pairs:
        return sql
    items = ", ".join(f"{quote_ident(b)} AS {quote_ident(a)}" if back
                      else f"{quote_ident(a)} AS {quote_ident(b)}" for a, b in pairs)
    return f"SELECT * RENAME ({items}) FROM ({sql})"


def stored_sql(sql: str, columns, mapping: dict[str, str]) -> str:
    """The inverse of :func:`rename_sql`: a renamed relation with its stored names back."""
    return rename_sql(sql, columns, mapping, back=True)


def mapped_columns(columns: dict[str, str], mapping: dict[str, str]) -> dict[str, str]:
    """The column types of a relation renamed by :func:`rename_sql` (in stored order)."""
    shown = dict(_renames(mapping, columns))
    return {shown.get(name, name): dtype for name, dtype in columns.items()}


def stored_name(role: str, mapping: dict[str, str]) -> str:
    """The stored column that plays ``role``."""
    return mapping.get(role, role)


class MappedSource(Source):
    """``inner`` with its columns shown under the roles ``mapping`` gives them.

    Parameters
    ----------
    inner
        Any source (opened, not necessarily attached).
    mapping
        Role -> stored column (a profile's ``columns``).
    attached
        ``inner`` is attached already: :meth:`attach` only renames its ``raw``.
    """

    def __init__(self, inner: Source, mapping: dict[str, str], *, attached: bool = False
                 ) -> None:
        self.inner = inner
        self._attached = attached
        self.mapping = dict(mapping)
        inner.column_map = self.mapping  # a database source filters on the stored names
        self.capabilities = inner.capabilities
        if inner.columns:
            check_mapping(self.mapping, inner.columns, inner.label)
        super().__init__(label=inner.label, kind=inner.kind,
                         columns=mapped_columns(inner.columns, self.mapping) if inner.columns
                         else {}, rows=inner.rows)
        self._stored = f"raw_stored_{uuid.uuid4().hex}"

    def __getattr__(self, name: str):
        # since, until, progress, table, url...: the wrapped source's own
        if name in ("inner", "mapping", "_attached") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def attach(self, engine: Engine) -> None:
        """Attach the wrapped source, then show ``raw`` under the roles' names."""
        if not self._attached:
            self.inner.attach(engine)
        check_mapping(self.mapping, self.inner.columns, self.inner.label)
        engine.execute(f"ALTER VIEW {engine.qualified('raw')} "
                       f"RENAME TO {quote_ident(self._stored)}")
        engine.create_view("raw", rename_sql(f"SELECT * FROM {engine.qualified(self._stored)}",
                                             self.inner.columns, self.mapping))
        self.columns = mapped_columns(self.inner.columns, self.mapping)
        self.rows = self.inner.rows

    def detach(self, engine: Engine) -> None:
        """Release what the wrapped source registered."""
        self.inner.detach(engine)

    def parts(self) -> list[ScanPart]:
        """The wrapped source's parts, renamed."""
        return [replace(p, sql=rename_sql(p.sql, self.inner.columns, self.mapping))
                for p in self.inner.parts()]

    def locate(self, row_key: int) -> str:
        """Where a row key points (the wrapped source's answer)."""
        return self.inner.locate(row_key)

    def local_files(self) -> list[str]:
        """The wrapped source's local files."""
        return self.inner.local_files()

    @property
    def windowed(self) -> bool:
        """Whether the wrapped source read a time window."""
        return self.inner.windowed

    def hashes_outside(self, hashes: list[str]) -> set[str]:
        """The wrapped source's answer (it reads its stored hash column)."""
        return self.inner.hashes_outside(hashes)
