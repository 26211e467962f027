"""Re-verify a hash chain in bulk and say exactly what was altered, deleted or forked.

Verification is a map and a reduce:

1. **Map** (:func:`audit_analytics.scan.scan_part`), once per part of the source (a
   file, a table): every row's hashed text is rebuilt and hashed by the kernel and
   compared with the stored ``hash`` (row integrity); the part's own links are resolved
   on the whole digest; the part leaves as a small, picklable result: its findings, its
   runs and its loose ends.
2. **Reduce** (:mod:`audit_analytics.link`): the loose ends are joined across parts;
   forks, gaps, extra genesis rows, duplicate ids and timestamp regressions fall out of
   the joined links. Order comes from the links alone, never from file order or
   timestamps. The links split into segments (maximal unbranched runs); the tree of
   segments grown from the genesis row gives the chain's head. Trusted anchors, when
   given, reveal what a chain cannot show by itself: a deleted tail (``truncated``) and a
   rewritten, re-hashed suffix (``anchor_mismatch``).

The map runs here, one part after the other on the log's engine, or through a *runner*
(:mod:`.runners`: a :class:`~.runners.ProcessPoolRunner` for ``workers=N``). Parts whose
rows live in the source's own engine (a PostgreSQL table held as Arrow batches, an
attached DuckDB file) are always scanned there, in this process.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace

import numpy as np
import pyarrow as pa

from .._caps import LISTED
from .._engine import Engine
from ..errors import SourceError
from ..progress import progress_bar
from ..sources import Source
from .anchors import Anchor, check_anchors
from .detection import detect_profile, profile_source
from .digests import decode, link_key
from .expressions import expression_columns, profile_parts
from .keysets import PartSets
from .link import exposure, join_parts
from .profiles import HashProfile, load_profile
from .results import FINDING_KINDS, VerifyResult
from .runners import ProcessPoolRunner, Runner
from .scan import PartTask, ids_with_hashes, scan_part
from .schema import unprotected_fields

__all__ = ["FINDING_KINDS", "POOL_MIN_ROWS", "detect_profile", "verify_source"]

log = logging.getLogger("audit_analytics")


# --- runners ------------------------------------------------------------------------------
#: With ``workers=None``, a pool starts only for standalone parts holding this many rows
#: in all: below it, one process finishes before a pool's workers have started.
POOL_MIN_ROWS = 1_000_000


def _runner_for(runner: Runner | None, workers: int | None, parts: list) -> Runner | None:
    """The runner asked for; ``workers=None``: a pool of every core for a multi-part source."""
    if runner is not None:
        return runner
    if workers is None:
        apart = [p for p in parts if p.standalone]
        if len(apart) < 2 or sum(p.rows for p in apart) < POOL_MIN_ROWS:
            return None
        workers = min(os.cpu_count() or 1, len(apart))
    if workers > 1:
        return ProcessPoolRunner(workers)
    return None


def _run(engine: Engine, tasks: list[PartTask], runner: Runner | None, function=None,
         on_rows=None, keep=None) -> list:
    """``function`` (the map by default) over every task, results in task order.

    Standalone parts go through ``runner``; the others, and every part without a runner,
    are scanned here, on ``engine``. ``keep(result)``, when given, sees each result as it
    arrives (before the next is taken).
    """
    function = function or scan_part
    on_rows = on_rows or (lambda n: None)
    keep = keep or (lambda r: None)
    results: list = [None] * len(tasks)
    apart = [k for k, t in enumerate(tasks) if t.part.standalone and runner is not None]
    if apart:
        for j, result in runner(function, [tasks[k] for k in apart], on_rows):
            keep(result)
            results[apart[j]] = result
    for k, task in enumerate(tasks):
        if results[k] is None:
            results[k] = function(task, engine=engine, on_batch=on_rows)
            keep(results[k])
    return results


def _drop_sets(result) -> None:
    """A part scanned again: its keys are already in the reduce's sets."""
    result.key_set = result.id_set = None


# --- verification -------------------------------------------------------------------------
def verify_source(
    engine: Engine,
    source: Source,
    profile: str | HashProfile = "auto",
    anchors: list[Anchor] | None = None,
    progress: bool | None = None,
    *,
    runner: Runner | None = None,
    workers: int | None = None,
    listed: int | None = LISTED,
) -> VerifyResult:
    """Verify every row and link of ``source`` and collect every finding.

    Parameters
    ----------
    engine
        The DuckDB engine the source is attached to.
    source
        An opened source (see :func:`audit_analytics.sources.open_source`).
    profile
        ``"auto"``, a built-in profile name, a TOML path or a :class:`HashProfile`.
    anchors
        Trusted ``{id, hash}`` checkpoints (see :mod:`audit_analytics.chain.anchors`).
    progress
        Show a progress bar (``None``: only on a terminal).
    runner
        How the map runs over the parts (see :mod:`audit_analytics.chain.runners`):
        ``None`` (default) scans them here, one after the other, on ``engine``.
    workers
        Without a ``runner``: more than 1 runs the map on that many local processes;
        ``None``, on one per core when the source has several standalone parts (its
        files) holding at least :data:`POOL_MIN_ROWS` rows.
    listed
        Findings of each kind kept in the result (every one is counted); ``None`` keeps
        every finding of the reduce (row-level kinds are still kept to the first
        :data:`~audit_analytics._caps.LISTED` of each part).
    """
    started = time.perf_counter()
    if source.rows == 0:
        raise SourceError(f"{source.label} holds no events to verify", source=source.label)
    note = None
    if isinstance(profile, str) and profile == "auto":
        chosen, note = detect_profile(engine, source)
        log.info("%s", note)
    else:
        chosen = load_profile(profile)
    source = profile_source(source, chosen)
    parts = profile_parts(source, chosen)
    run = _runner_for(runner, workers, parts)
    threads = None
    if isinstance(run, ProcessPoolRunner) and run.workers > 1:
        threads = max(1, (os.cpu_count() or 1) // run.workers)
    anchors = anchors or []
    anchor_keys = _anchor_keys(chosen, anchors)
    tasks = [PartTask(part=part, profile=chosen, index=i, threads=threads,
                      anchor_digests=anchor_keys, anchor_ids=tuple(a.id for a in anchors),
                      alone=len(parts) == 1)
             for i, part in enumerate(parts)]
    clock = _PhaseClock()
    with PartSets() as sets:
        with progress_bar(source.rows or None, "verifying", progress) as bar:
            results = _run(engine, tasks, run, on_rows=bar.update, keep=sets.take)
        clock.lap("map (scan and digests)")
        plan = exposure(results, sets)
        if plan:  # rows to expose: scan those parts again (tampered sources only)
            log.debug("verify: scanning %d part(s) again for links across parts", len(plan))
            again = [replace(tasks[p], expose=keys) for p, keys in plan.items()]
            for result in _run(engine, again, run, keep=_drop_sets):
                results[result.index] = result
            clock.lap("map (exposed rows)")

        def read_duplicates(plan: dict[int, np.ndarray]) -> dict:
            asks = [replace(tasks[p], id_hashes=values) for p, values in plan.items()]
            return {task.index: rows
                    for task, rows in zip(asks, _run(engine, asks, run, ids_with_hashes))}

        joined = join_parts(results, source, read_duplicates, sets)
    findings = joined.findings
    anchor_rows = []
    if anchors:
        anchor_rows = _check_anchors(anchors, anchor_keys, results, joined, findings)
    clock.lap("reduce (links, segments)")
    result = VerifyResult.build(
        source=source,
        profile=chosen,
        profile_note=note,
        rows=int(sum(r.rows for r in results)),
        findings=findings,
        segments=joined.segments,
        head=joined.head,
        names=joined.names,
        unprotected=unprotected_fields(source.columns or _columns(engine, source), chosen,
                                       _covered(chosen)),
        anchors=anchor_rows,
        elapsed=time.perf_counter() - started,
        unlisted=joined.unlisted,
        listed=listed,
    )
    clock.lap("report")
    return result


def _anchor_keys(profile: HashProfile, anchors: list[Anchor]) -> tuple[bytes, ...]:
    """Each anchor's digest as the scan keeps it (decoded in the profile's encoding).

    An anchor hash that is no digest of the profile gets a key no row has.
    """
    if not anchors:
        return ()
    decoded, flags = decode(profile, pa.array([a.hash for a in anchors], pa.string()))
    keys = link_key(decoded).copy()
    keys[flags != 0] = 255
    return tuple(k.tobytes() for k in keys)


def _covered(profile: HashProfile) -> set[str] | None:
    """The roles a SQL profile's hash covers (the columns its expression reads)."""
    if profile.text != "sql":
        return None
    by_stored = {stored: role for role, stored in profile.columns}
    return {by_stored.get(c, c) for c in expression_columns(profile)}


def _check_anchors(anchors: list[Anchor], keys: tuple[bytes, ...], results: list, joined,
                   findings: list) -> list:
    """The anchors' report, from the rows each part found holding an anchor's digest or id."""
    offsets = np.cumsum([0] + [r.rows for r in results])
    first_at: dict[bytes, int] = {}
    by_id_hash: dict[int, list[int]] = {}
    hash_text: dict[int, str | None] = {}
    for r, off in zip(results, offsets):
        rows = r.anchor_hash_rows
        for pos, digest in zip(rows["pos"].tolist(), rows["digest"]):
            first_at.setdefault(digest.tobytes(), pos + int(off))
        rows = r.anchor_id_rows
        for pos, idh in zip(rows["pos"].tolist(), rows["idh"].tolist()):
            by_id_hash.setdefault(idh, []).append(pos + int(off))
        hash_text.update({pos + int(off): text for pos, text in r.hash_text.items()})
    at_hash = [first_at.get(key) for key in keys]

    def add(kind: str, at: int, **detail) -> None:
        findings.append({"kind": kind, "position": int(at), **detail})

    return check_anchors(anchors, at_hash, by_id_hash, joined.names, hash_text, add)


class _PhaseClock:
    """Logs how long each phase took (``audit-analytics -vv``)."""

    def __init__(self) -> None:
        self.last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        log.debug("verify: %-24s %.3f s", phase, now - self.last)
        self.last = now


def _columns(engine: Engine, source: Source) -> dict[str, str]:
    part = source.parts()[0]
    cols = engine.columns(part.sql, part.params)
    cols.pop("__rk", None)
    return cols
