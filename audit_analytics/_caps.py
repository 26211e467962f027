"""Lists that grow with the input: the first entries in a stated order, and the true count.

A check or a report keeps some lists per actor, per resource, per IP address or per
finding; on a month of a million actors each holds a million entries. Every such list is
kept to its first entries, its true length beside it, and the document says when it was cut:

- a JSON document (``check --json``, a report's JSON summary) keeps the first
  :data:`LISTED` entries of a list under its key, its true length under ``<key>_total``
  and, when it was cut, ``<key>_truncated: true`` (see :func:`cap`);
- a report's HTML and PDF show the first :data:`SHOWN` rows of a table and say "N of M";
- a report's CSV holds the first :data:`SPREADSHEET` findings of each check, and a note
  row for each check it cut;
- a sentence names the first :data:`NAMED` values and counts the others
  (:func:`named`);
- findings of many kinds at once (an archive check, a damaged manifest) are kept in a
  :class:`FindingList`: the first :data:`LISTED` of each kind, every kind counted.

Counts are always exact: they are computed over the whole list (in SQL where the list
comes from SQL), never from what is kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

__all__ = ["LISTED", "NAMED", "SHOWN", "SPREADSHEET", "FindingList", "cap", "cut_note", "named",
           "of_total"]

#: Entries of one list kept in a JSON document (findings of a check, actors of a note...).
LISTED = 1_000
#: Rows of one table shown in a report's HTML and PDF.
SHOWN = 50
#: Findings of one check in a report's CSV.
SPREADSHEET = 10_000
#: Values named in one sentence before the others are counted.
NAMED = 10


def cap(document: dict, key: str, entries: Sequence, total: int | None = None,
        limit: int = LISTED) -> dict:
    """Put the first ``limit`` of ``entries`` under ``key`` of ``document``, with the count.

    ``total`` is the true number of entries when ``entries`` is already a prefix of the
    list (a query with a ``LIMIT``); by default ``len(entries)``. Sets ``<key>_total``
    always and ``<key>_truncated`` (``True``) when entries were left out. Returns
    ``document``.
    """
    total = len(entries) if total is None else int(total)
    kept = list(entries[:limit])
    document[key] = kept
    document[f"{key}_total"] = total
    if total > len(kept):
        document[f"{key}_truncated"] = True
    return document


def named(values: Iterable, total: int | None = None, limit: int = NAMED) -> str:
    """``"a, b, c"``, or ``"a, b, c and 1,234 more"`` past ``limit`` values.

    ``total`` is the true number of values when ``values`` holds only the first ones.
    """
    first = []
    seen = 0
    for value in values:
        seen += 1
        if len(first) < limit:
            first.append(str(value))
    total = seen if total is None else int(total)
    text = ", ".join(first)
    return f"{text} and {total - len(first):,} more" if total > len(first) else text


def cut_note(shown: int, total: int) -> str:
    """An HTML paragraph saying ``"the first 50 of 1,234 shown"`` (empty when none was cut)."""
    return f"<p><i>the first {shown:,} of {total:,} shown</i></p>" if total > shown else ""


def of_total(shown: int, total: int, noun: str) -> str:
    """``"15 actors"`` when all are shown, else ``"15 of 312,000 actors"``."""
    return f"{shown:,} {noun}" if shown >= total else f"{shown:,} of {total:,} {noun}"


class FindingList:
    """Findings (dicts with a ``kind``), at most ``per_kind`` of each kind kept."""

    def __init__(self, items: Iterable[dict] = (), per_kind: int = LISTED) -> None:
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

    def copy(self) -> FindingList:
        """A list to add to: the same findings listed, the same counts (listed or not)."""
        out = FindingList(per_kind=self.per_kind)
        out.items, out.totals = list(self.items), self.totals.copy()
        return out

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
