"""DuckDB file sources: a table of events in a ``.duckdb`` file (``load --into`` writes them)."""

from __future__ import annotations

from pathlib import Path

from .._engine import Engine, EngineError, quote_ident
from ..errors import SourceError, first_line
from .base import TABLE, ScanPart, Source

__all__ = ["DuckDBFileSource"]

_ALIAS = "aa_store"


def _literal(text: str) -> str:
    """A SQL string literal (ATTACH takes no bound parameters)."""
    return "'" + text.replace("'", "''") + "'"


class DuckDBFileSource(Source):
    """A table of events in a DuckDB file, attached read-only.

    Parameters
    ----------
    path
        The ``.duckdb`` file (written by :func:`~audit_analytics.load.load_into` or any DuckDB 2.x).
    table
        The table of events (default ``events``).
    """

    capabilities = frozenset({TABLE})

    def __init__(self, path: str | Path, table: str = "events") -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"source not found: {path}", source=str(path))
        self.table = table or "events"
        self._alias = _ALIAS
        super().__init__(label=f"{self.path} table {self.table}", kind="duckdb")

    @property
    def _relation(self) -> str:
        return f"{quote_ident(self._alias)}.{quote_ident(self.table)}"

    def attach(self, engine: Engine) -> None:
        """ATTACH the file read-only and create the view ``raw`` over the table.

        The file is attached as ``aa_store``, or ``aa_store_2`` and so on when other
        sources on the engine hold the names before.
        """
        taken = {row[0] for row in engine.rows("SELECT database_name FROM duckdb_databases()")}
        self._alias, k = _ALIAS, 1
        while self._alias in taken:
            k += 1
            self._alias = f"{_ALIAS}_{k}"
        try:
            engine.execute(
                f"ATTACH {_literal(str(self.path))} AS {quote_ident(self._alias)} (READ_ONLY)")
        except EngineError as exc:
            raise SourceError(f"not a readable DuckDB file: {self.path} ({first_line(exc)})",
                              source=str(self.path)) from None
        found = engine.scalar(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?",
            [self._alias, self.table])
        if not found:
            self.detach(engine)
            raise SourceError(f"{self.path} has no table {self.table!r}", source=str(self.path))
        engine.create_view("raw", f"SELECT * FROM {self._relation}")
        self.columns = engine.columns(f"SELECT * FROM {self._relation}")
        self.rows = int(engine.scalar(f"SELECT count(*) FROM {self._relation}"))

    def detach(self, engine: Engine) -> None:
        """DETACH the file."""
        engine.execute(f"DETACH DATABASE IF EXISTS {quote_ident(self._alias)}")

    def parts(self) -> list[ScanPart]:
        """One part: the table, keyed by its ``rowid``."""
        return [ScanPart(sql=f"SELECT rowid AS __rk, * FROM {self._relation}", params=[],
                         rows=self.rows, where=f"{self.path} table {self.table}")]

    def local_files(self) -> list[str]:
        """The file the source reads."""
        return [str(self.path)]

    def locate(self, row_key: int) -> str:
        """``FILE.duckdb table events row N``."""
        return f"{self.path} table {self.table} row {row_key}"
