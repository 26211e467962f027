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

TOP_N = 15  # actors and resources shown in the charts (of how many is counted)


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
        What the charts and the coverage need (``None`` when the period has no events):
        events per quarter hour and result, the :data:`TOP_N` actors with the most
        failures and the :data:`TOP_N` most accessed resources, with how many actors
        failed (``failing_actors``) and how many resources were accessed
        (``resources_total``).
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
SELECT epoch_us("timestamp") // 900000000 AS slot, coalesce(result, 'unknown') AS result,
       count(*) AS n
FROM events WHERE "timestamp" >= $start AND "timestamp" < $end
GROUP BY ALL
"""
#: The actors with the most failures and denials, ranked in SQL (a month may hold as many
#: actors as events, of which the chart shows ``TOP_N``); ``total`` counts them all.
_FAILURES_SQL = """
SELECT coalesce(actor_id, '(none)') AS actor_id,
       count(*) FILTER (WHERE result = 'failure') AS failure,
       count(*) FILTER (WHERE result = 'denied') AS denied,
       count(*) OVER () AS total
FROM events
WHERE "timestamp" >= $start AND "timestamp" < $end AND result IN ('failure', 'denied')
GROUP BY 1
ORDER BY count(*) DESC, 1 ASC
LIMIT $top
"""
#: The most accessed resources, ranked in SQL: a month holds hundreds of thousands of
#: resources, of which the chart shows ``TOP_N``; ``total`` counts them all.
_RESOURCES_SQL = """
SELECT resource, CAST(sum(n) AS BIGINT) AS n, count(*) OVER () AS total
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
    """Everything the charts and the coverage need, each list ranked and cut in SQL.

    The activity and the coverage come from one query grouped by quarter hours of UTC
    (integer arithmetic) rather than converting every event to local time: the few
    thousand quarter hours are then placed in the policy's time zone here. The actors with
    the most failures and the most accessed resources are ranked by queries of their own,
    which return the first :data:`TOP_N` and count the rest: however many actors or
    resources the period holds, only those rows leave DuckDB.
    """
    unit = "hour" if period.kind == "day" else "day"
    slots = engine.df(_AGGREGATES_SQL, bounds)
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
    failures = engine.df(_FAILURES_SQL, {**bounds, "top": TOP_N})
    resources = engine.df(_RESOURCES_SQL, {**bounds, "top": TOP_N})

    def total(frame: pd.DataFrame) -> int:
        return int(frame["total"].iloc[0]) if len(frame) else 0

    return {"unit": unit, "activity": activity.reset_index(drop=True),
            "heat": heat.reset_index(drop=True),
            "failures": failures[["actor_id", "failure", "denied"]].astype(
                {"failure": "int64", "denied": "int64"}).reset_index(drop=True),
            "failing_actors": total(failures),
            "resources": resources[["resource", "n"]].reset_index(drop=True),
            "resources_total": total(resources), "days": days}
