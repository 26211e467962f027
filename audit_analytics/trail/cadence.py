"""The review cadence: whether the reviews recorded in the review ledger were on schedule.

Daily for PCI DSS (v4.0 requirement 10.4.1: audit logs reviewed at least once daily),
monthly otherwise (SOC 2 CC4.1/CC7.2 and HIPAA 164.308(a)(1)(ii)(D) leave the frequency to
policy; monthly is the default here). The ``review_cadence`` check, the report's cadence
section and ``audit-analytics ledger cadence`` all call :func:`review_cadence`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from .. import _args
from .._text import shown
from ..errors import UsageError
from ..periods import Period, periods_between, resolve_tz
from .journal import same_source, source_label
from .ledger import Ledger

__all__ = ["CADENCE_RULES", "CadenceResult", "review_cadence"]

# cadence -> (period kind, default grace in days after the period ends, citation)
CADENCE_RULES: dict[str, tuple[str, int, str]] = {
    "daily": ("day", 1, "PCI DSS v4.0 10.4.1: audit logs are reviewed at least once daily"),
    "weekly": ("week", 3, "policy-defined weekly review"),
    "monthly": ("month", 10, "SOC 2 CC4.1/CC7.2, HIPAA 164.308(a)(1)(ii)(D): information "
                "system activity is reviewed regularly; monthly by this policy"),
}
_REGIME_CADENCE = {"pci_dss": "daily"}
#: How far back the schedule is evaluated: the longest retention any built-in regime asks
#: for (HIPAA 164.316(b)(2)(i), six years) and one more. Reviews of older periods are
#: counted as reviews but no schedule is drawn before it, so a report recorded for a
#: period centuries ago cannot make every later evaluation walk millions of days.
LOOKBACK = timedelta(days=7 * 366)
_CONTROLS = {"daily": ["PCI DSS 10.4.1"], "weekly": ["SOC 2 CC4.1"],
             "monthly": ["SOC 2 CC4.1", "SOC 2 CC7.2", "HIPAA 164.308(a)(1)(ii)(D)"]}



@dataclass
class CadenceResult:
    """The ``review_cadence`` evaluation, shaped like a checklist ``CheckResult``.

    Attributes
    ----------
    status
        ``pass`` (every due period reviewed on time), ``warn`` (reviewed, but late) or
        ``fail`` (a due period was never reviewed, or no review is recorded at all).
    findings
        One row per due period not reviewed on time: ``period``, ``start``, ``end``,
        ``due``, ``state`` (``missed`` or ``late``), ``reviewed_at``.
    """

    name: str
    title: str
    status: str
    controls: list[str]
    summary: str
    findings: pd.DataFrame
    metrics: dict

    def to_dict(self) -> dict:
        """JSON-able form, as in the checklist's ``to_dict``."""
        return {"name": self.name, "title": self.title, "status": self.status,
                "controls": self.controls, "summary": self.summary,
                "findings": json.loads(self.findings.to_json(orient="records",
                                                             date_format="iso")),
                "metrics": self.metrics}


def _policy_review(policy) -> tuple[str, int | None]:
    settings = getattr(policy, "settings", {}) or {}
    review = settings.get("review") or {}
    cadence = review.get("cadence")
    if not cadence:
        regime = (settings.get("retention") or {}).get("regime")
        cadence = _REGIME_CADENCE.get(regime, "monthly")
    if cadence not in CADENCE_RULES:
        from ..errors import PolicyError

        raise PolicyError(f"unknown review cadence {shown(repr(cadence), 80)} (expected "
                          f"{', '.join(CADENCE_RULES)})", key="review.cadence")
    return cadence, review.get("grace_days")


def review_cadence(ledger: Ledger | None = None, policy=None, until: datetime | None = None, *,
                   since: datetime | None = None, source: object | None = None,
                   cadence: str | None = None, grace_days: int | None = None) -> CadenceResult:
    """Evaluate whether the periodic reviews were done on schedule.

    Parameters
    ----------
    ledger
        The review ledger (default: the one in the toolkit's home).
    policy
        The policy: its ``[review] cadence`` / ``grace_days`` if present, else daily for
        the PCI DSS retention regime and monthly otherwise. Its time zone draws the days.
    until
        Evaluate periods that ended before this instant (default: now).
    since
        The first period to expect (default: the period of the first recorded review at
        this cadence or finer, else of the first review at all).
    source
        Only reviews of this source (a :class:`~audit_analytics.sources.base.Source` or
        any spelling of one, matched on its canonical identity); default: every source.
    cadence, grace_days
        Override the policy's cadence (``daily``, ``weekly``, ``monthly``) and the days
        after a period's end by which its review is due.

    Returns
    -------
    CadenceResult
        ``pass``/``warn``/``fail`` with the missed and late periods as findings.
    """
    if ledger is None:
        ledger = Ledger()
    if not isinstance(ledger, Ledger):
        raise UsageError(f"ledger must be a Ledger, not {type(ledger).__name__}",
                         argument="ledger")
    if policy is not None:
        policy = _args.policy(policy)
    for name, value in (("until", until), ("since", since)):
        if value is not None and not isinstance(value, datetime):
            raise UsageError(f"{name} must be a datetime, not {type(value).__name__}",
                             argument=name)
    _args.count(grace_days, "grace_days", optional=True)
    if cadence is not None and cadence not in CADENCE_RULES:
        from ..errors import PolicyError

        raise PolicyError(f"unknown review cadence {shown(repr(cadence), 80)} (expected "
                          f"{', '.join(CADENCE_RULES)})", key="review.cadence")
    if cadence is None:
        cadence, policy_grace = _policy_review(policy)
        grace_days = grace_days if grace_days is not None else policy_grace
    kind, default_grace, citation = CADENCE_RULES[cadence]
    grace = timedelta(days=default_grace if grace_days is None else grace_days)
    tz = getattr(policy, "timezone", None) or "UTC"
    until = until or datetime.now(UTC)
    until = until if until.tzinfo else until.replace(tzinfo=UTC)
    frame = ledger.entries()
    readable = frame[["timestamp", "start", "end"]].notna().all(axis=1)
    unreadable = int((~readable).sum())
    frame = frame[readable]
    if source is not None:
        frame = frame[same_source(frame, source, "source")]
    columns = ["period", "start", "end", "due", "state", "reviewed_at"]
    title = f"Reviews performed {cadence}"
    controls = list(_CONTROLS[cadence])
    if frame.empty and since is None:
        return CadenceResult(
            "review_cadence", title, "fail", controls,
            f"no review{'' if source is None else ' of ' + source_label(source)} recorded in "
            f"the ledger {ledger.path}; {citation}",
            pd.DataFrame(columns=columns),
            {"cadence": cadence, "expected": None, "reviewed": 0, "missed": None, "late": 0})
    if since is None:  # the first review at this cadence (or finer) starts the schedule
        spans = frame["end"] - frame["start"]
        fine = frame[spans <= timedelta(days={"day": 1, "week": 7, "month": 31}[kind],
                                        hours=1)]
        since = (fine if not fine.empty else frame)["start"].min().to_pydatetime()
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    start = _schedule_start(since, until)
    zone = resolve_tz(tz)
    rows, expected, reviewed_on_time = [], 0, 0
    for period in periods_between(kind, start, until, tz):
        due = period.end + grace
        if due > until:
            continue  # not yet due
        expected += 1
        covering = _covering_review(frame, period, zone)
        if covering is None:
            rows.append([period.label, period.start, period.end, due, "missed", None])
        elif covering > due:
            rows.append([period.label, period.start, period.end, due, "late", covering])
        else:
            reviewed_on_time += 1
    findings = pd.DataFrame(rows, columns=columns)
    missed = int((findings["state"] == "missed").sum())
    late = int((findings["state"] == "late").sum())
    status = "fail" if missed else "warn" if late else "pass"
    summary = (f"{reviewed_on_time}/{expected} {kind}ly review(s) on time"
               if kind != "day" else f"{reviewed_on_time}/{expected} daily review(s) on time")
    if missed:
        labels = findings.loc[findings["state"] == "missed", "period"].head(5).tolist()
        summary += f"; {missed} missed ({', '.join(labels)}{', ...' if missed > 5 else ''})"
    if late:
        summary += f"; {late} late"
    if since > until:
        summary += (f" (no period is due yet: the schedule starts {since.date().isoformat()}, "
                    f"after {until.date().isoformat()})")
    elif start > since:
        summary += (f" (evaluated from {start.date().isoformat()}: earlier periods are outside "
                    f"the {LOOKBACK.days // 366}-year lookback)")
    if unreadable:
        summary += (f"; {unreadable} ledger entr{'y' if unreadable == 1 else 'ies'} without a "
                    "readable period or time ignored")
    summary += f". {citation}"
    return CadenceResult("review_cadence", title, status, controls, summary, findings,
                         {"cadence": cadence, "grace_days": grace.days, "expected": expected,
                          "reviewed": reviewed_on_time, "missed": missed, "late": late,
                          "schedule_start": start.isoformat(), "ignored_entries": unreadable})


def _schedule_start(since: datetime, until: datetime) -> datetime:
    """Where the schedule starts: ``since``, but within the lookback and never after ``until``.

    Both ends are clamped to the datetimes Python represents: an ``until`` in the first
    years of the calendar has no instant :data:`LOOKBACK` before it.
    """
    try:
        floor = until - LOOKBACK
    except OverflowError:
        floor = datetime.min.replace(tzinfo=UTC)
    return min(max(since, floor), until)


def _covering_review(frame: pd.DataFrame, period: Period, zone) -> datetime | None:
    """When ``period`` was fully covered by reviews no coarser than it (else ``None``).

    Every calendar day of the period must lie in some review's period whose length does
    not exceed the period's own; the answer is the latest of the earliest such reviews.
    """
    if frame.empty:
        return None
    span = period.end - period.start
    fits = frame[(frame["end"] - frame["start"] <= span + timedelta(hours=1))
                 & (frame["start"] < period.end) & (frame["end"] > period.start)]
    if fits.empty:
        return None
    latest = None
    day = period.start
    while day < period.end:
        covers = fits[(fits["start"] <= day) & (fits["end"] > day)]
        if covers.empty:
            return None
        first = covers["timestamp"].min().to_pydatetime()
        latest = first if latest is None or first > latest else latest
        local = day.astimezone(zone)
        day = datetime(local.year, local.month, local.day, tzinfo=zone) + timedelta(days=1)
        day = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    return latest
