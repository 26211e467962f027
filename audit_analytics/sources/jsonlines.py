"""JSON-lines sources: the entries of a hash-chained JSON-lines file, held in memory.

The review ledger and the access journal are such files
(:mod:`audit_analytics.trail._chainfile` reads and parses them); their entries are
verified by the toolkit's own verifier through this source.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pyarrow as pa

from .._engine import Engine
from .base import ScanPart, Source

__all__ = ["JsonLinesSource"]


class JsonLinesSource(Source):
    """Entries read from a JSON-lines chain file, exposed to the verifier.

    Every hashed field is kept as the text stored in the file (so the timestamp is hashed
    exactly as written); row keys are line numbers.

    Parameters
    ----------
    path
        The file, for labels and findings (``path line N``).
    entries
        The parsed lines, each with its ``__line`` number (and ``__line_error`` when the
        line is not an entry).
    fields
        The columns every row has (the hashed fields and ``hash``); other keys found in
        the entries become columns too.
    """

    def __init__(self, path: str | os.PathLike, entries: list[dict],
                 fields: list[str]) -> None:
        super().__init__(label=str(path), kind="jsonl")
        self.path = Path(path)
        names = list(fields)
        extra = sorted({k for e in entries for k in e if not k.startswith("__")} - set(names))
        columns: dict[str, list] = {"__rk": [int(e["__line"]) for e in entries]}
        for name in names + extra:
            columns[name] = [_text(e.get(name)) for e in entries]
        self.table = pa.table({k: pa.array(v, pa.int64() if k == "__rk" else pa.string())
                               for k, v in columns.items()})
        self.rows = len(entries)
        self._errors = {int(e["__line"]): str(e["__line_error"]) for e in entries
                        if "__line_error" in e}
        self._name = f"__chainfile_{uuid.uuid4().hex}"

    def attach(self, engine: Engine) -> None:
        """Register the lines and create the view ``raw`` over them."""
        engine.register(self._name, self.table)
        engine.create_view("raw", f"SELECT * EXCLUDE (__rk) FROM {self._name}")
        self.columns = engine.columns(f"SELECT * FROM {engine.qualified('raw')}")

    def detach(self, engine: Engine) -> None:
        """Let go of the lines registered by :meth:`attach`."""
        engine.unregister(self._name)

    def parts(self) -> list[ScanPart]:
        """One part: every line, keyed by its line number."""
        return [ScanPart(sql=f"SELECT * FROM {self._name} ORDER BY __rk", params=[],
                         rows=self.rows, where=str(self.path))]

    def local_files(self) -> list[str]:
        """The file the source reads."""
        return [str(self.path)]

    def locate(self, row_key: int) -> str:
        """``path line N``, and why the line is not an entry when it is not."""
        error = self._errors.get(row_key)
        return f"{self.path} line {row_key}" + (f" ({error})" if error else "")


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
