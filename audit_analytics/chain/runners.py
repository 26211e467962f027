"""Runners: where the map of verification runs, one part after another or side by side.

A runner is a callable ``runner(function, tasks, on_rows)`` yielding ``(k,
function(tasks[k], engine=E))`` for every task as each finishes, in any order, ``E`` an
engine of the process and thread that runs the call (a connection is never shared
across processes or threads); ``on_rows(n)`` reports progress (rows scanned). The
caller takes each result as it comes, so results need not all be held at once. Tasks
and results are small and picklable (:class:`~audit_analytics.chain.scan.PartTask`,
:class:`~audit_analytics.chain.scan.PartResult`), so a runner may send them anywhere
that can read the parts' files.

Without a runner, verification runs every part here, on the log's own engine.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

from .. import _args
from .._engine import Engine
from .._text import shown
from ..errors import ClusterError, UsageError, first_line

__all__ = ["DaskRunner", "ProcessPoolRunner", "Runner", "run_serial"]

#: ``runner(function, tasks, on_rows) -> iterator of (index, result)`` (see above).
Runner = Callable[[Callable, list, Callable[[int], None]], Iterator[tuple[int, Any]]]


def run_serial(function: Callable, tasks: list,
               on_rows: Callable[[int], None]) -> Iterator[tuple[int, Any]]:
    """Run ``function`` over ``tasks`` here, one after the other, on one engine of its own.

    ``function(task, engine=..., on_batch=...)`` is called with that engine and with
    ``on_rows`` for progress after each batch.
    """
    if not tasks:
        return
    with Engine(threads=tasks[0].threads) as engine:
        for k, task in enumerate(tasks):
            yield k, function(task, engine=engine, on_batch=on_rows)


_worker_engine: Engine | None = None


def _in_worker(function: Callable, task):
    """Run ``function(task)`` in a pool's worker, on the worker's own engine."""
    global _worker_engine
    if _worker_engine is None:  # one per worker process, never inherited or shared
        _worker_engine = Engine(threads=task.threads)
    return function(task, engine=_worker_engine)


class ProcessPoolRunner:
    """Run the map on a local pool of ``workers`` processes (started fresh, not forked).

    Each worker scans with an engine of its own; only the tasks and their small results
    travel between processes. One worker, or a single task, runs here instead
    (:func:`run_serial`): a pool would only add its start-up.

    Parameters
    ----------
    workers
        Processes in the pool (at least 1).
    """

    def __init__(self, workers: int) -> None:
        self.workers = _args.count(workers, "workers", minimum=1)

    def __call__(self, function: Callable, tasks: list,
                 on_rows: Callable[[int], None]) -> Iterator[tuple[int, Any]]:
        """``(k, function(tasks[k]))`` for every task, as each finishes."""
        if self.workers == 1 or len(tasks) < 2:
            yield from run_serial(function, tasks, on_rows)
            return
        with ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)),
                                 mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_in_worker, function, task): k
                       for k, task in enumerate(tasks)}
            for future in as_completed(futures):
                k = futures[future]
                on_rows(tasks[k].part.rows)
                yield k, future.result()

    def __repr__(self) -> str:
        return f"ProcessPoolRunner(workers={self.workers})"


_thread_engines = threading.local()


def _on_dask_worker(function: Callable, task):
    """Run ``function(task)`` on a Dask worker, on an engine of the worker's thread."""
    engine = getattr(_thread_engines, "engine", None)
    if engine is None:  # a worker runs tasks on a few threads: one engine each
        engine = _thread_engines.engine = Engine(threads=task.threads)
    return function(task, engine=engine)


class DaskRunner:
    """Run the map on a Dask distributed cluster (the ``dask`` extra: ``distributed``).

    Each part is one task: the worker that runs it reads the part's file from where it
    is (a path every worker can read) and sends back only the part's small result.
    Parts are submitted in order; each result comes back as its worker finishes it.
    The client connects on first use and stays connected until :meth:`close` (or the
    end of a ``with`` block).

    Parameters
    ----------
    address
        The scheduler's address (``tcp://host:8786``), as ``distributed.Client`` takes it.
    timeout
        Seconds to wait for the scheduler before giving up.
    """

    def __init__(self, address: str, timeout: float = 10.0) -> None:
        if not isinstance(address, str) or not address.strip():
            raise UsageError("a Dask scheduler address is needed (tcp://host:port), not "
                             f"{shown(repr(address), 80)}", argument="address")
        if (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                or not 0 < timeout < float("inf")):
            raise UsageError(f"timeout must be a number of seconds above 0, not "
                             f"{shown(repr(timeout), 80)}", argument="timeout")
        self.address, self.timeout = address.strip(), timeout
        self._client = None

    def _connect(self):
        if self._client is not None:
            return self._client
        try:
            from distributed import Client
        except ImportError:
            raise ClusterError("--scheduler needs the distributed package; install it with: "
                               "pip install 'audit-analytics[dask]'") from None
        try:
            self._client = Client(self.address, timeout=self.timeout,
                                  set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {self.address}: "
                               f"{first_line(exc)}") from None
        return self._client

    def __call__(self, function: Callable, tasks: list,
                 on_rows: Callable[[int], None]) -> Iterator[tuple[int, Any]]:
        """``(k, function(tasks[k]))`` for every task, as each finishes on the cluster."""
        if not tasks:
            return
        from distributed import as_completed as completed

        client = self._connect()
        futures = [client.submit(_on_dask_worker, function, task, pure=False)
                   for task in tasks]
        order = {future.key: k for k, future in enumerate(futures)}
        try:
            for future in completed(futures, loop=client.loop):
                k = order[future.key]
                result = future.result()
                future.release()  # the cluster forgets a result once it is here
                on_rows(tasks[k].part.rows)
                yield k, result
        finally:
            for future in futures:
                future.release()

    def close(self) -> None:
        """Disconnect from the scheduler (the cluster itself keeps running)."""
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):  # a scheduler already gone
                client.close()

    def __enter__(self) -> DaskRunner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DaskRunner({self.address!r})"
