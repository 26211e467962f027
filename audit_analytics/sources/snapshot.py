"""One PostgreSQL snapshot read over several connections, one range of heap blocks each.

A table read over one connection is bounded by one server process writing binary
``COPY`` and one client thread turning it into Arrow. Read as ``n`` ranges of its heap
blocks (``ctid >= '(a,0)' AND ctid < '(b,0)'``, a TID range scan since PostgreSQL 14)
over ``n`` connections, it keeps ``n`` of each busy.

Every connection sees the same rows. The first opens a ``REPEATABLE READ READ ONLY``
transaction and exports its snapshot (``pg_export_snapshot()``); each other one starts a
``REPEATABLE READ READ ONLY`` transaction of its own and adopts that snapshot
(``SET TRANSACTION SNAPSHOT``) before it reads anything; the first keeps its transaction
open until every range has been read, as adopting requires. Rows committed by anyone
after the export are seen by none of them.

The rows are handed over range after range, in block order: the order of one sequential
scan. A range that arrives early waits in memory for the ranges before it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator

import pyarrow as pa

__all__ = ["MIN_BLOCKS_PER_STREAM", "block_ranges", "merged_batches", "plan_ranges",
           "range_condition", "snapshot_id"]

log = logging.getLogger("audit_analytics")

#: Below this many 8 kB heap blocks per connection (16 MB) a further connection costs
#: more (its login, its planning) than it saves.
MIN_BLOCKS_PER_STREAM = 2048
#: What ``pg_export_snapshot()`` returns (``00000003-0000001B-1``); anything else is refused
#: before it is written into ``SET TRANSACTION SNAPSHOT``, which takes no parameters.
_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f]+(?:-[0-9A-Fa-f]+)+")


def snapshot_id(value) -> str:
    """The exported snapshot's id, checked to be what PostgreSQL writes.

    Raises
    ------
    ValueError
        ``value`` is not a snapshot id.
    """
    text = str(value)
    if not _SNAPSHOT_ID.fullmatch(text):
        raise ValueError(f"not a PostgreSQL snapshot id: {text!r}")
    return text


def block_ranges(blocks: int, streams: int) -> list[tuple[int, int | None]]:
    """Split heap blocks ``[0, blocks)`` into ``streams`` ranges, the last one open-ended.

    The last range has no upper bound, so that no block is missed whatever the size
    read. Each range holds at least :data:`MIN_BLOCKS_PER_STREAM` blocks: a small table
    is one range.
    """
    streams = max(1, min(streams, blocks // MIN_BLOCKS_PER_STREAM))
    step = -(-blocks // streams) if blocks else 0
    starts = [i * step for i in range(streams)]
    return [(start, starts[i + 1] if i + 1 < streams else None)
            for i, start in enumerate(starts)]


def plan_ranges(cur, table_sql: str, streams: int) -> list[tuple[int, int | None]] | None:
    """The block ranges to read a table on at once (``None``: read it on one connection).

    ``cur`` is the exporting session's cursor; ``table_sql`` the quoted table name. Only
    plain tables (and materialised views) on PostgreSQL 14 or later are split: TID range
    scans need both, and a view has no blocks of its own.
    """
    if streams < 2:
        return None
    cur.execute("SELECT current_setting('server_version_num')::int >= 140000, c.relkind::text, "
                "pg_relation_size(c.oid) / current_setting('block_size')::int "
                "FROM pg_class c WHERE c.oid = to_regclass($1)", [table_sql])
    recent, kind, blocks = cur.fetchone()
    if not recent or kind not in ("r", "m"):
        return None
    ranges = block_ranges(int(blocks or 0), streams)
    return ranges if len(ranges) > 1 else None


def range_condition(start: int, end: int | None) -> str:
    """The ``WHERE`` condition of one block range (integers only: safe to inline)."""
    lower = f"ctid >= '({int(start)},0)'::tid"
    return lower if end is None else f"{lower} AND ctid < '({int(end)},0)'::tid"


def merged_batches(readers: list, on_rows: Callable[[int], None],
                   cancel: Callable[[], None]) -> Iterator[pa.RecordBatch]:
    """The batches of every reader, reader after reader, read on one thread per reader.

    Parameters
    ----------
    readers
        Arrow record batch readers (``read_next_batch()``), each on its own connection.
    on_rows
        Called on the consuming thread with the number of rows of each batch as it
        arrives (from whichever reader).
    cancel
        Called when the consumer stops before every reader has finished (an error, an
        abandoned generator): it must make a read that waits for the server return, so
        that the threads can be joined before their connections are closed.

    Raises
    ------
    BaseException
        The first error a reader raised, as it was raised. The other threads stop at
        their next batch; the caller then closes the connections.
    """
    inbox: queue.Queue = queue.Queue()
    stop = threading.Event()
    done = object()

    def drain(index: int, reader) -> None:
        try:
            while not stop.is_set():
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                inbox.put((index, batch))
        except BaseException as exc:  # handed to the consumer, raised there
            inbox.put((index, exc))
            return
        inbox.put((index, done))

    threads = [threading.Thread(target=drain, args=(i, r), daemon=True,
                                name=f"audit_analytics-pg-{i}") for i, r in enumerate(readers)]
    for thread in threads:
        thread.start()
    waiting = [deque() for _ in readers]
    finished = [False] * len(readers)
    current = 0
    try:
        while current < len(readers):
            while waiting[current]:
                yield waiting[current].popleft()
            if finished[current]:
                current += 1
                continue
            index, item = inbox.get()
            if item is done:
                finished[index] = True
            elif isinstance(item, BaseException):
                raise item
            else:
                on_rows(item.num_rows)
                waiting[index].append(item)
    finally:
        stop.set()
        if any(thread.is_alive() for thread in threads):
            with contextlib.suppress(Exception):
                cancel()
        for thread in threads:
            thread.join()
