"""Findings kept for people and programs: every one counted, the first of each kind listed.

A damaged input can hold millions of problems (a manifest of junk lines, a log hashed with
the wrong profile): listing each would cost gigabytes and help nobody. A
:class:`FindingList` keeps the first :data:`PER_KIND` findings of each kind, in the order
they were found, and the exact number of every kind; outputs show both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

__all__ = ["PER_KIND", "FindingList"]

#: Findings of one kind listed (all are counted).
PER_KIND = 1000


class FindingList:
    """Findings (dicts with a ``kind``), at most ``per_kind`` of each kind kept."""

    def __init__(self, items: Iterable[dict] = (), per_kind: int = PER_KIND) -> None:
        self.per_kind = per_kind
        self.items: list[dict] = []
        self.totals: Counter = Counter()
        self.extend(items)

    def append(self, finding: dict) -> None:
        """Count ``finding``; keep it when fewer than ``per_kind`` of its kind are kept."""
        kind = finding["kind"]
        self.totals[kind] += 1
        if self.totals[kind] <= self.per_kind:
            self.items.append(finding)

    def extend(self, findings: Iterable[dict]) -> None:
        """Append each of ``findings``."""
        for finding in findings:
            self.append(finding)

    @property
    def total(self) -> int:
        """Every finding counted, listed or not."""
        return sum(self.totals.values())

    @property
    def truncated(self) -> bool:
        """True when some findings are counted but not listed."""
        return self.total > len(self.items)

    def __iter__(self) -> Iterator[dict]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return self.total > 0
