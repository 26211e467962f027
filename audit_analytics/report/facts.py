"""The one pass of facts a report is made of, gathered before any section is written.

Verification reads the source (the chain is verifiable only as a whole); everything else
(the checklist, the counts, the aggregates behind the charts and the coverage, the
evidence of the anomalies) reads the log's events materialised once
(:meth:`~audit_analytics.session.AuditLog.cached_events`), never the source again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from .._engine import Engine
from ..periods import Period

__all__ = ["TOP_N", "Facts", "find_check", "gather_facts"]

TOP_N = 15  # actors and resources shown in the charts


@dataclass
class Facts:
    """What every section of a report is gathered from.

    Attributes
    ----------
    log, engine
        The audit log and the engine over its materialised events (open while the
        sections are gathered).
    period, tz, policy, profile, anchors, now, actor, source_label
        What the report was asked for (``source_label`` masked for printing).
    verify
        The verification of the whole log.
    checks, cadence_check
        The checklist over the period, and the ``review_cadence`` result (run for the
        cadence section even when the policy does not list it).
    counts
        ``rows_total``, ``rows_in_period``, ``first_in_period``, ``last_in_period``,
        ``actors_in_period``, ``first_event``, ``last_event`` (the whole log's).
    aggregates
        What the charts and the coverage need (``None`` when the period has no events).
    framework
        The control matrix's framework (``all``, ``soc2``, ``hipaa``, ``pci_dss``).
    """

    log: object
    engine: Engine
    period: Period
    tz: str
    policy: object
    profile: str
    anchors: object
    now: datetime
    actor: str | None
    source_label: str
    verify: object
    checks: object
    cadence_check: object
    counts: dict
    aggregates: dict | None
    framework: str = "all"


_COUNTS_SQL = """
SELECT count(*), count(*) FILTER (WHERE {inside}), min("timestamp") FILTER (WHERE {inside}),
       max("timestamp") FILTER (WHERE {inside}), count(DISTINCT actor_id) FILTER (WHERE {inside}),
       min("timestamp"), max("timestamp")
FROM events
""".format(inside='"timestamp" >= $start AND "timestamp" < $end')


def gather_facts(log, engine: Engine, period: Period, policy, anchors, profile: str,
                 now: datetime, actor: str | None, source_label: str, tz: str,
                 verify) -> Facts:
    """Run the checklist and the report's own queries over ``engine`` (the cached events)."""
    checks, cadence_check = _run_checks(_VerifiedLog(log, verify), policy, period, profile,
                                        anchors)
    bounds = {"start": period.start, "end": period.end}
    row = engine.rows(_COUNTS_SQL, bounds)[0]
    counts = {"rows_total": int(row[0]), "rows_in_period": int(row[1]),
              "first_in_period": row[2], "last_in_period": row[3],
              "actors_in_period": int(row[4] or 0), "first_event": row[5],
              "last_event": row[6]}
    aggregates = (_period_aggregates(engine, period, tz, bounds) if counts["rows_in_period"]
                  else None)
    return Facts(log=log, engine=engine, period=period, tz=tz, policy=policy, profile=profile,
                 anchors=anchors, now=now, actor=actor, source_label=source_label,
                 verify=verify, checks=checks, cadence_check=cadence_check, counts=counts,
                 aggregates=aggregates)


# --- the checklist --------------------------------------------------------------------------
class _VerifiedLog:
    """The log, with :meth:`verify` answering from the verification already made.

    ``chain_integrity`` verifies the log; the report has just done so for its integrity
    section, and a chain of ten million rows need not be re-hashed twice.
    """

    def __init__(self, log, result) -> None:
        self._log = log
        self._result = result

    def verify(self, *args, **kwargs):
        return self._result

    def __getattr__(self, name: str):
        return getattr(self._log, name)


def _run_checks(log, policy, period: Period, profile, anchors):
    """Run the checklist over the period; ``review_cadence`` runs for the cadence section.

    Returns the checklist (``review_cadence`` in it only when the policy names it) and the
    ``review_cadence`` result. ``log_access`` reviews the toolkit's access journal itself.
    """
    from ..checks import run_checks

    names = list(policy.checks)
    wanted = names if "review_cadence" in names else [*names, "review_cadence"]
    result = run_checks(log, policy=policy, since=period.start, until=period.end,
                        only=wanted, profile=profile, anchors=anchors)
    cadence = find_check(result, "review_cadence")
    if "review_cadence" not in names:
        result.checks = [c for c in result.checks if c.name != "review_cadence"]
    return result, cadence


def find_check(checks, name: str):
    """The result of check ``name`` in a checklist result (or ``None``)."""
    return next((c for c in (getattr(checks, "checks", None) or []) if c.name == name), None)


# --- the aggregates behind the charts and the coverage ---------------------------------------
_AGGREGATES_SQL = """
SELECT GROUPING(slot, result, actor_id) AS g, slot, result, actor_id, count(*) AS n
FROM (
    SELECT epoch_us("timestamp") // 900000000 AS slot, result, actor_id
    FROM events WHERE "timestamp" >= $start AND "timestamp" < $end
)
GROUP BY GROUPING SETS ((slot, result), (actor_id, result))
"""
#: The most accessed resources, ranked in SQL: a month holds hundreds of thousands of
#: resources, of which the chart shows ``TOP_N``.
_RESOURCES_SQL = """
SELECT resource, CAST(sum(n) AS BIGINT) AS n
FROM (
    SELECT coalesce(resource_type, '?') || ':' || coalesce(resource_id, '?') AS resource, n
    FROM (SELECT resource_type, resource_id, count(*) AS n FROM events
          WHERE "timestamp" >= $start AND "timestamp" < $end GROUP BY ALL)
)
GROUP BY resource ORDER BY n DESC, resource ASC LIMIT $top
"""
_SLOT_SECONDS = 900  # every UTC offset in use is a whole number of quarter hours


def _period_aggregates(engine: Engine, period: Period, tz: str,
                       bounds: dict) -> dict[str, pd.DataFrame]:
    """Everything the charts and the coverage need, from one pass over the period's events.

    One ``GROUPING SETS`` query replaces a scan per chart (the resources, of which only
    the top few are shown, are ranked by a query of their own), and it groups by quarter hours
    of UTC (integer arithmetic) rather than converting every event to local time: the
    few thousand quarter hours are then placed in the policy's time zone here.
    """
    unit = "hour" if period.kind == "day" else "day"
    frame = engine.df(_AGGREGATES_SQL, bounds)

    def kept(*names):  # GROUPING() sets one bit per column left out of the set
        order = ["slot", "result", "actor_id"]
        bits = sum(1 << (len(order) - 1 - order.index(c)) for c in order if c not in names)
        return frame[frame["g"] == bits]

    frame["result"] = frame["result"].fillna("unknown")
    frame["actor_id"] = frame["actor_id"].fillna("(none)")
    slots = kept("slot", "result")[["slot", "result", "n"]].copy()
    local = pd.to_datetime(slots["slot"].astype("int64") * _SLOT_SECONDS, unit="s", utc=True)
    local = local.dt.tz_convert(tz)
    slots["bucket"] = local.dt.floor("h" if unit == "hour" else "D", ambiguous=True,
                                     nonexistent="shift_backward").dt.tz_localize(None)
    slots["dow"] = local.dt.day_of_week + 1
    slots["hour"] = local.dt.hour
    slots["day"] = local.dt.date
    activity = (slots.groupby(["bucket", "result"], as_index=False)["n"].sum()
                .sort_values("bucket"))
    heat = slots.groupby(["dow", "hour"], as_index=False)["n"].sum()
    days = pd.DataFrame({"day": sorted(set(slots["day"]))})
    by_actor = kept("actor_id", "result").pivot_table(
        index="actor_id", columns="result", values="n", aggfunc="sum", fill_value=0)
    for name in ("failure", "denied"):
        if name not in by_actor:
            by_actor[name] = 0
    failures = by_actor[(by_actor["failure"] + by_actor["denied"]) > 0].reset_index()
    failures = failures.assign(total=failures["failure"] + failures["denied"]).sort_values(
        ["total", "actor_id"], ascending=[False, True]).head(TOP_N)
    resources = engine.df(_RESOURCES_SQL, {**bounds, "top": TOP_N})
    return {"unit": unit, "activity": activity.reset_index(drop=True),
            "heat": heat.reset_index(drop=True),
            "failures": failures[["actor_id", "failure", "denied"]].reset_index(drop=True),
            "resources": resources.reset_index(drop=True), "days": days}
