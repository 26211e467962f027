"""Logs whose values are hostile to their readers, with a chain that still verifies.

The clean sample's events, edited, then chained again by the seed's own Python producer
(:mod:`audit_analytics.samples.python_seed`): a verifier finds nothing wrong, so whatever
the values do to a terminal, a chart or a report is the log's content, not tampering.
"""

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from audit_analytics.samples.python_seed import chain

CLEAN = Path(__file__).resolve().parent.parent / "data_samples/python_seed/clean.parquet"


def hostile_log(path: Path, edit: Callable[[dict], dict | None]) -> Path:
    """Write the clean sample with ``edit`` applied to each event, re-chained, to ``path``.

    ``edit`` changes the event dict in place (or returns a new one).
    """
    table = pq.read_table(CLEAN)
    rows = sorted(table.to_pylist(), key=lambda r: (r["timestamp"], r["id"]))
    events = []
    for row in rows:
        row = {k: v for k, v in row.items() if k not in ("prev_hash", "hash")}
        events.append(edit(row) or row)
    pq.write_table(pa.Table.from_pylist(chain(events), schema=table.schema), path)
    return path


def replace_actor(old: str, new: str) -> Callable[[dict], None]:
    """An edit that renames actor ``old`` to ``new``."""
    def edit(row: dict) -> None:
        if row["actor_id"] == old:
            row["actor_id"] = new
    return edit
