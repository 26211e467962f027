"""Table names of database sources: ``table``, ``schema.table`` or quoted parts, parsed once.

Kept apart from the sources themselves so that a source's identity
(:mod:`.identity`) can read a table name without loading a database driver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._engine import quote_ident
from ..errors import SourceError

__all__ = ["TableName", "parse_table"]


@dataclass(frozen=True)
class TableName:
    """A possibly schema-qualified table name, quoted safely for SQL."""

    schema: str | None
    name: str

    @property
    def sql(self) -> str:
        """The quoted name (``"audit"."audit_logs"``) for a SQL text."""
        quoted = quote_ident(self.name)
        return f"{quote_ident(self.schema)}.{quoted}" if self.schema else quoted

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


_NAME_PART = re.compile(r'\s*(?:"((?:[^"]|"")*)"|([^".]+))\s*(?:\.|$)')


def parse_table(text: str) -> TableName:
    """Parse ``table``, ``schema.table`` or ``"My Schema"."Table"`` into a :class:`TableName`.

    Unquoted parts are folded to lower case, as PostgreSQL does.
    """
    parts: list[str] = []
    pos = 0
    while pos < len(text):
        match = _NAME_PART.match(text, pos)
        if not match or match.end() == pos:
            raise SourceError(f"not a table name: {text!r}", source=text)
        quoted, bare = match.groups()
        parts.append(quoted.replace('""', '"') if quoted is not None else bare.strip().lower())
        pos = match.end()
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise SourceError(f"not a table name: {text!r} (expected [schema.]table)", source=text)
    return TableName(parts[0], parts[1]) if len(parts) == 2 else TableName(None, parts[0])
