"""The grades a check or a protection gets, and their order: ``pass`` < ``warn`` < ``fail``."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["STATUSES", "STATUS_COLOURS", "worst_status"]

#: Statuses from best to worst.
STATUSES = ("pass", "warn", "fail")
#: The colour each status is shown in by the notebook displays.
STATUS_COLOURS = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e"}


def worst_status(statuses: Iterable[str]) -> str:
    """The worst of ``statuses`` (``pass`` when there are none)."""
    return max(statuses, key=STATUSES.index, default="pass")
