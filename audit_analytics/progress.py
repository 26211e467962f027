"""Progress bars for long work, off when output is not a terminal or when asked."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

__all__ = ["progress_bar"]


class _Silent:
    def update(self, n: int = 1) -> None:
        pass


@contextmanager
def progress_bar(total: int | None, desc: str, enabled: bool | None = None, unit: str = "rows"):
    """A tqdm bar on stderr, or a silent stand-in.

    ``enabled=None`` shows the bar only when stderr is a terminal and the environment
    variable ``AUDIT_ANALYTICS_NO_PROGRESS`` is unset.
    """
    if enabled is None:
        enabled = sys.stderr.isatty() and not os.environ.get("AUDIT_ANALYTICS_NO_PROGRESS")
    if not enabled:
        yield _Silent()
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr, leave=False)
    try:
        yield bar
    finally:
        bar.close()
