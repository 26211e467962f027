"""The checks that read records kept beside the log: who read it, and when it was reviewed.

``log_access`` reviews every read of the audit log: the log's own events about itself
(``view_audit_log``, exports of the audit log...) and this toolkit's access journal for
the same source (its canonical identity, however it was named) and the same window.
``review_cadence`` evaluates the review ledger for that source. Each is one
implementation: ``check``, ``report`` and the Python API all run these steps, so they give
the same answer for the same source, policy and window (the report takes its access and
cadence sections from them).

A review does not judge the reads it makes itself: the journal entries written by the
running process (its ``open``, ``verify``, ``check``...) are left to the next review.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
from typing import TYPE_CHECKING

import pandas as pd

from .._caps import LISTED, cap, named
from ..errors import LedgerError
from ..trail.journal import Journal

if TYPE_CHECKING:
    from .runner import _Context

__all__ = ["JOURNAL_LISTED", "post_log_access", "post_review_cadence"]

log = logging.getLogger("audit_analytics")

#: Journal entries listed in ``log_access``'s metrics (all are counted and reviewed).
JOURNAL_LISTED = 50
#: Authorized readers listed in ``log_access``'s metrics (all are counted).
READERS_LISTED = LISTED
_LISTED_COLUMNS = ["timestamp", "actor_id", "action", "result", "command"]


def journal_reads(ctx: _Context) -> tuple[pd.DataFrame, dict]:
    """The toolkit's journaled reads of the log's source in the window, and what was read.

    Entries of the running process are left out. An unreadable journal gives no rows and
    an ``error`` in the returned facts (the check then warns).
    """
    facts: dict = {}
    try:
        rows = Journal().access_rows(ctx.log.source, ctx.since, ctx.until, others_only=True)
    except LedgerError as exc:
        log.warning("log_access: the access journal cannot be read: %s", exc)
        facts["error"] = str(exc)
        return pd.DataFrame(columns=["actor_id", "timestamp"]), facts
    rows = rows.dropna(subset=["timestamp"])  # a damaged entry: journal verify names it
    facts["reads"] = len(rows)
    listed = rows.head(JOURNAL_LISTED)
    cap(facts, "entries", [
        {**{c: listed[c].iloc[i] for c in _LISTED_COLUMNS if c != "timestamp"},
         "timestamp": listed["timestamp"].iloc[i].isoformat()}
        for i in range(len(listed))], len(rows))
    return rows, facts


def post_log_access(ctx: _Context, findings: pd.DataFrame, params: dict):
    """Mark each reader (in the log, in the journal) allowed or not by the policy."""
    t = ctx.policy.thresholds("log_access")
    findings = findings.assign(source="events")
    journal, facts = journal_reads(ctx)
    extra = [frame for frame in (journal, ctx.extra_log_access)
             if frame is not None and len(frame)]
    if extra:
        findings = pd.concat([findings, *[_read_rows(f, ctx) for f in extra]],
                             ignore_index=True)

    def allowed_id(actor_id) -> bool:
        return isinstance(actor_id, str) and any(
            fnmatch.fnmatchcase(actor_id, pat) for pat in t["allowed_actors"])

    ok = findings["actor_type"].isin(t["allowed_actor_types"]).astype(bool)
    if t["allowed_actors"] and not ok.all():  # patterns only for the rows types do not allow
        ok[~ok] = [allowed_id(a) for a in findings.loc[~ok, "actor_id"]]
    allowed = findings[ok]
    flagged = findings[~ok].reset_index(drop=True)
    readers = allowed.groupby("actor_id", dropna=False)["value"].sum()
    # the readers with the most reads first, then by actor id
    readers = readers.reset_index().sort_values(["value", "actor_id"],
                                                ascending=[False, True], na_position="last")
    listed = readers.head(READERS_LISTED)
    metrics = {
        "accesses": int(findings["value"].sum()) if len(findings) else 0,
        "authorized_by_actor": {str(k): int(v) for k, v in
                                zip(listed["actor_id"], listed["value"])},
        "authorized_by_actor_total": len(readers),
        "allowed_actors": t["allowed_actors"],
        "allowed_actor_types": t["allowed_actor_types"],
        "journal": facts,
    }
    if len(readers) > len(listed):
        metrics["authorized_by_actor_truncated"] = True
    status = None
    if len(flagged):
        who = named(sorted({str(a) for a in flagged["actor_id"]}))
        summary = (f"{int(flagged['value'].sum())} read(s) of the audit log by actors not "
                   f"allowed by the policy: {who}")
    elif metrics["accesses"]:
        summary = f"{metrics['accesses']} read(s) of the audit log, all by allowed actors"
    elif not ctx.events:
        status, summary = "warn", "no events in the window"
    else:
        summary = "no access to the audit log in the window"
    if "error" in facts:
        status = status or ("warn" if not len(flagged) else None)
        summary += f"; the access journal could not be read ({facts['error']})"
    return flagged, metrics, status, summary


def _read_rows(reads: pd.DataFrame, ctx: _Context) -> pd.DataFrame:
    """Reads in ``log_access``'s shape: one row per actor, actor type and local day.

    ``reads`` holds ``actor_id`` and ``timestamp``, optionally ``actor_type``, ``action``
    and ``result``.
    """
    frame = reads.copy()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    if ctx.since is not None:
        frame = frame[frame["timestamp"] >= ctx.since]
    if ctx.until is not None:
        frame = frame[frame["timestamp"] < ctx.until]
    for col, default in (("actor_type", None), ("action", "journal"), ("result", "success")):
        if col not in frame:
            frame[col] = default
    frame["local_day"] = frame["timestamp"].dt.tz_convert(ctx.policy.timezone).dt.date
    grouped = frame.groupby(["actor_id", "actor_type", "local_day"], dropna=False)
    out = grouped.agg(window_start=("timestamp", "min"),
                      window_end=("timestamp", "max"), value=("timestamp", "size"),
                      actions=("action", lambda s: ",".join(sorted(set(map(str, s))))),
                      results=("result", lambda s: ",".join(sorted(set(map(str, s))))))
    return out.reset_index().assign(source="journal")


def post_review_cadence(ctx: _Context, findings: pd.DataFrame, params: dict):
    """The review ledger's cadence for the log's source, as of the window's end.

    The schedule starts at this source's first recorded review (reviews before the
    window count, like the baselines of the anomaly checks); periods due after the
    window's end, or after now, are not yet due.
    """
    from ..trail.cadence import review_cadence

    now = dt.datetime.now(dt.UTC)
    until = min(ctx.until, now) if ctx.until is not None else now
    cadence = review_cadence(policy=ctx.policy, until=until,
                             source=ctx.log.source)
    return cadence.findings, cadence.metrics, cadence.status, cadence.summary
