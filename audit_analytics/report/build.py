"""Gather one period's review: scope, integrity, checklist, anomalies, charts, access."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from .._version import __version__
from ..chain.anchors import Anchor, load_anchors
from ..periods import Period, parse_period
from ..status import worst_status
from ..trail import journal
from ..trail.journal import mask_source
from . import charts
from .values import MAX_ANOMALIES, MAX_FINDINGS_HTML, _iso, _plain

__all__ = ["Report", "build_report"]

ANOMALY_COLUMNS = ("actor_id", "window_start", "window_end")
MAX_EVIDENCE = 50
EVIDENCE_ROWS = 10
MAX_INTEGRITY_FINDINGS = 1000
MAX_JSON_FINDINGS = 1000   # per check in the JSON summary (`audit-analytics check` has all)
TOP_N = 15


@dataclass
class Report:
    """One period's review report; :meth:`write` renders it to HTML, JSON (and PDF).

    Attributes
    ----------
    period
        The reviewed :class:`~audit_analytics.periods.Period`.
    scope, integrity, retention, access, signoff
        JSON-able sections (see :meth:`to_dict`).
    checklist
        One row per check: ``name``, ``title``, ``status``, ``controls``, ``summary``,
        ``findings`` (count).
    checks
        The checklist's own result object (``run_checks``), findings included.
    anomalies
        One dict per anomaly finding with ``evidence`` (the actor's events in the window).
    charts
        ``{name: {"title", "caption", "svg"}}``; empty when the period holds no events.
    cadence
        The ``review_cadence`` evaluation of earlier reviews of this source (or ``None``).
    """

    period: Period
    generated_at: datetime
    generated_by: str
    scope: dict
    integrity: dict
    checklist: list[dict]
    checks: object
    anomalies: list[dict]
    charts: dict
    retention: dict
    access: dict
    cadence: dict | None
    policy: dict
    signoff: dict = field(default_factory=dict)
    version: int | None = None

    # --- views ----------------------------------------------------------------------
    @property
    def status(self) -> str:
        """The worst checklist status: ``pass``, ``warn`` or ``fail``."""
        return worst_status(c["status"] for c in self.checklist)

    @property
    def empty(self) -> bool:
        """True when the period holds no events."""
        return self.scope["rows_in_period"] == 0

    @property
    def basename(self) -> str:
        """``audit-report_<period label>`` (before any ``_vN`` suffix)."""
        return f"audit-report_{self.period.label}"

    def to_dict(self) -> dict:
        """The JSON summary written beside the HTML (everything but the chart images)."""
        return _jsonable({
            "report": {
                "title": f"Audit log review {self.period.label}",
                "period": self.period.to_dict(),
                "generated_at": self.generated_at.isoformat(),
                "generated_by": self.generated_by,
                "tool": f"audit_analytics {__version__}",
                "version": self.version,
                "status": self.status,
                "empty": self.empty,
            },
            "policy": self.policy,
            "scope": self.scope,
            "integrity": self.integrity,
            "checklist": self.checklist,
            "checks": _checks_dict(self.checks),
            "anomalies": self.anomalies,
            "charts": [{"name": k, "title": v["title"]} for k, v in self.charts.items()],
            "retention": self.retention,
            "access": self.access,
            "review_cadence": self.cadence,
            "signoff": self.signoff,
        })

    def to_html(self) -> str:
        """The self-contained HTML document (inline CSS and SVG, no external resource)."""
        from .render import render_html

        return render_html(self)

    def write(self, out_dir: str | Path = "reports", formats=("html", "json"), *,
              replace: bool = False, ledger: bool = True, home: str | Path | None = None):
        """Write the report; see :func:`audit_analytics.report.write.write_report`."""
        from .write import write_report

        return write_report(self, out_dir, formats, replace=replace, ledger=ledger, home=home)

    def __repr__(self) -> str:
        return (f"<Report {self.period.label} {self.scope['source']!r} "
                f"rows_in_period={self.scope['rows_in_period']} status={self.status}>")

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{_esc(c['name'])}</td><td>{_esc(c['status'])}</td>"
            f"<td>{_esc(', '.join(c['controls']))}</td><td>{_esc(c['summary'])}</td></tr>"
            for c in self.checklist)
        return (f"<div><b>Audit log review {_esc(self.period.label)}</b>: "
                f"{_esc(self.scope['source'])}, {self.scope['rows_in_period']:,} events in the "
                f"period, integrity {_esc(self.integrity['status'])}, checklist "
                f"{_esc(self.status)}</div><table><tr><th>check</th><th>status</th>"
                f"<th>controls</th><th>summary</th></tr>{rows}</table>")


def _esc(value) -> str:
    import html

    from .._text import shown

    return html.escape(shown(value, 2000))


# --- building -------------------------------------------------------------------------------
def build_report(log, period: str | Period, policy=None,
                 anchors: str | Path | list[Anchor] | None = None, profile: str = "auto", *,
                 now: datetime | None = None, actor: str | None = None) -> Report:
    """Gather everything a periodic review needs for ``period`` of ``log``.

    Parameters
    ----------
    log
        An :class:`~audit_analytics.session.AuditLog`.
    period
        A :class:`~audit_analytics.periods.Period` or its text (``2024-01``, ``last-month``;
        see :func:`~audit_analytics.periods.parse_period`), in the policy's time zone.
    policy
        A :class:`~audit_analytics.policy.Policy`, a path or built-in name, or ``None``
        (the defaults).
    anchors
        Trusted anchors for the integrity section (a file or loaded anchors).
    profile
        Hash profile for verification (``auto`` by default).
    now
        The generation time (default: now); relative periods are resolved against it.
    actor
        Who generates the report (default: ``--actor``, ``$AUDIT_ANALYTICS_ACTOR``, the OS
        user).

    Returns
    -------
    Report
        Call :meth:`Report.write` to produce the files and the ledger entry.

    Notes
    -----
    The whole log is verified (a chain is only verifiable as a whole); the checklist, the
    charts and the anomalies cover the period alone. One ``report`` entry is appended to
    the access journal; the queries made on the way are not journaled one by one.
    """
    from ..policy import Policy

    if policy is None or isinstance(policy, str | Path):
        policy = Policy.load(policy)
    tz = getattr(policy, "timezone", None) or "UTC"
    now = now or datetime.now(UTC)
    period = parse_period(period, tz=tz, now=now)
    if anchors is not None and not isinstance(anchors, list):
        anchors = load_anchors(anchors)
    source_label = mask_source(log.source.label)
    ok = False
    try:
        with journal.suspended():
            report = _build(log, period, policy, anchors, profile, now, actor, source_label, tz)
        ok = True
        return report
    finally:
        if getattr(log, "journal", True):
            journal.record("report", log.source.label, result="success" if ok else "failure",
                           parameters={"period": period.label, "profile": str(profile),
                                       "policy": getattr(policy, "name", None)})


def _build(log, period, policy, anchors, profile, now, actor, source_label, tz) -> Report:
    q = _Queries(log, period, tz)
    total, in_period, first, last = q.counts()
    verify = log.verify(profile=profile, anchors=anchors)
    checks, cadence_check = _run_checks(_VerifiedLog(log, verify), policy, period, profile,
                                        anchors)
    checklist = [_check_row(c) for c in _check_list(checks)]
    scope = {
        "source": source_label,
        "source_kind": getattr(log.source, "kind", None),
        "period": period.label,
        "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(),
        "timezone": tz,
        "profile": verify.profile.name,
        "profile_detected": bool(verify.profile_note),
        "rows_total": total,
        "rows_in_period": in_period,
        "first_event_in_period": first,
        "last_event_in_period": last,
        "actors_in_period": q.scalar("SELECT count(DISTINCT actor_id) FROM events WHERE "
                                     + q.where) if in_period else 0,
    }
    integrity = _integrity(verify)
    anomalies = _anomalies(q, checks)
    aggregates = _period_aggregates(q, period, tz) if in_period else None
    chart_set = _charts(aggregates, period, tz) if in_period else {}
    retention = _retention(q, aggregates, checks, period, tz)
    access = _access(checks)
    cadence = _cadence(cadence_check)
    return Report(period=period, generated_at=now, generated_by=journal.current_actor(actor),
                  scope=scope, integrity=integrity, checklist=checklist, checks=checks,
                  anomalies=anomalies, charts=chart_set, retention=retention, access=access,
                  cadence=cadence, policy=_policy_summary(policy),
                  signoff={"name": "", "role": "", "date": "", "signature": "",
                           "statement": "I have reviewed this report, the findings above and "
                                        "their follow-up actions."})


class _Queries:
    """Period-bounded SQL over the ``events`` view, straight on the engine (not journaled)."""

    def __init__(self, log, period: Period, tz: str) -> None:
        self.engine = log.engine
        self.period = period
        self.tz = tz
        self.where = '"timestamp" >= $start AND "timestamp" < $end'
        self.params = {"start": period.start, "end": period.end}

    def df(self, sql: str, extra: dict | None = None) -> pd.DataFrame:
        return self.engine.df(sql, {**self.params, **(extra or {})} if "$" in sql else None)

    def scalar(self, sql: str):
        return self.engine.scalar(sql, self.params if "$" in sql else None)

    def counts(self) -> tuple[int, int, str | None, str | None]:
        row = self.engine.rows(
            f"SELECT count(*), count(*) FILTER (WHERE {self.where}), "
            f"min(\"timestamp\") FILTER (WHERE {self.where}), "
            f"max(\"timestamp\") FILTER (WHERE {self.where}) FROM events", self.params)[0]
        return int(row[0]), int(row[1]), _iso(row[2]), _iso(row[3])



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
    cadence = _find_check(result, "review_cadence")
    if "review_cadence" not in names:
        result.checks = [c for c in result.checks if c.name != "review_cadence"]
    return result, cadence


def _check_list(checks) -> list:
    return list(getattr(checks, "checks", None) or [])


def _check_row(check) -> dict:
    findings = getattr(check, "findings", None)
    return {"name": check.name, "title": getattr(check, "title", check.name),
            "status": check.status, "controls": list(getattr(check, "controls", []) or []),
            "summary": getattr(check, "summary", "") or "",
            "findings": 0 if findings is None else len(findings)}


def _checks_dict(checks) -> list[dict]:
    """Each check as in ``run_checks(...).to_dict()``, findings capped per check."""
    if checks is None:
        return []
    if not hasattr(checks, "to_dict"):
        return [_check_row(c) for c in _check_list(checks)]
    data = checks.to_dict()
    out = data.get("checks", data) if isinstance(data, dict) else data
    for check in out:
        found = check.get("findings") or []
        check["findings_total"] = len(found)
        if len(found) > MAX_JSON_FINDINGS:
            check["findings"] = found[:MAX_JSON_FINDINGS]
            check["findings_truncated"] = True
    return out


def _integrity(verify) -> dict:
    data = verify.to_dict()
    data.pop("seconds", None)
    main = [s for s in verify.segment_records if s["main"]]
    return {
        "status": "intact" if verify.ok else "tampering evident",
        "ok": verify.ok,
        "rows": verify.rows,
        "profile": data["profile"],
        "profile_detection": data.get("profile_detection"),
        "counts": {k: v for k, v in data["counts"].items() if v},
        "findings": data["findings"][:MAX_INTEGRITY_FINDINGS],
        "findings_total": len(data["findings"]),
        "segments": data["segments"][:MAX_INTEGRITY_FINDINGS],
        "segments_total": len(data["segments"]),
        "main_chain_rows": sum(s["rows"] for s in main),
        "head": data["head"],
        "unprotected_fields": data["unprotected_fields"],
        "anchors": data["anchors"],
    }


# --- anomalies with evidence ------------------------------------------------------------------
def _anomalies(q: _Queries, checks) -> list[dict]:
    out = []
    for check in _check_list(checks):
        frame = getattr(check, "findings", None)
        if frame is None or frame.empty or not set(ANOMALY_COLUMNS) <= set(frame.columns):
            continue
        for record in frame.head(MAX_ANOMALIES - len(out)).to_dict("records"):
            out.append({"check": check.name, "title": getattr(check, "title", check.name),
                        "status": check.status,
                        "controls": list(getattr(check, "controls", [])),
                        **{k: _plain(v) for k, v in record.items()}})
        if len(out) >= MAX_ANOMALIES:
            break
    evidence = _evidence(q, out[:MAX_EVIDENCE])
    for index, item in enumerate(out[:MAX_EVIDENCE]):
        item["evidence"] = evidence.get(index, [])
    return out


def _evidence(q: _Queries, anomalies: list[dict]) -> dict[int, list[dict]]:
    """The first events of each anomaly's actor inside its window: one query for all."""
    wanted = [(i, str(a["actor_id"]), pd.Timestamp(a["window_start"]),
               pd.Timestamp(a["window_end"]))
              for i, a in enumerate(anomalies)
              if a.get("actor_id") is not None and a.get("window_start") is not None
              and a.get("window_end") is not None]
    if not wanted:
        return {}
    windows = pd.DataFrame(wanted, columns=["idx", "actor", "ws", "we"])
    for name in ("ws", "we"):
        stamps = pd.to_datetime(windows[name], utc=True)
        windows[name] = stamps
    name = "__report_windows"
    q.engine.register(name, windows)
    try:
        # a window's end is the last event's time (inclusive), or an exclusive bound
        frame = q.engine.df(
            'SELECT w.idx, e."timestamp", e.action, e.resource_type, e.resource_id, e.result, '
            f"e.ip_address, e.id FROM events e JOIN {name} w ON e.actor_id = w.actor "
            'AND e."timestamp" >= w.ws AND e."timestamp" <= w.we '
            'QUALIFY row_number() OVER (PARTITION BY w.idx ORDER BY e."timestamp", e.id) '
            f"<= {EVIDENCE_ROWS} ORDER BY w.idx, e.\"timestamp\", e.id")
    finally:
        q.engine.unregister(name)
    out: dict[int, list[dict]] = {}
    for record in frame.to_dict("records"):
        index = int(record.pop("idx"))
        out.setdefault(index, []).append({k: _plain(v) for k, v in record.items()})
    return out



def _finite(value):
    """NaN and infinities become None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _jsonable(value):
    """Round-trip through JSON with ``default=_plain`` so the dict is exactly what is written."""
    text = json.dumps(value, default=_plain, ensure_ascii=False)
    return _finite(json.loads(text))


# --- charts ----------------------------------------------------------------------------------
_AGGREGATES_SQL = """
SELECT GROUPING(slot, result, actor_id, resource_type, resource_id) AS g, slot, result,
       actor_id, resource_type, resource_id, count(*) AS n
FROM (
    SELECT epoch_us("timestamp") // 900000000 AS slot, result, actor_id, resource_type,
           resource_id
    FROM events WHERE "timestamp" >= $start AND "timestamp" < $end
)
GROUP BY GROUPING SETS ((slot, result), (actor_id, result), (resource_type, resource_id))
"""
_SLOT_SECONDS = 900  # every UTC offset in use is a whole number of quarter hours


def _period_aggregates(q: _Queries, period: Period, tz: str) -> dict[str, pd.DataFrame]:
    """Everything the charts and the coverage need, from one pass over the period's events.

    One ``GROUPING SETS`` query replaces a scan per chart, and it groups by quarter hours
    of UTC (integer arithmetic) rather than converting every event to local time: the
    few thousand quarter hours are then placed in the policy's time zone here.
    """
    unit = "hour" if period.kind == "day" else "day"
    frame = q.df(_AGGREGATES_SQL)

    def kept(*names):  # GROUPING() sets one bit per column left out of the set
        order = ["slot", "result", "actor_id", "resource_type", "resource_id"]
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
    resources = kept("resource_type", "resource_id")
    resources = pd.DataFrame({
        "resource": resources["resource_type"].fillna("?") + ":"
        + resources["resource_id"].fillna("?"), "n": resources["n"]})
    resources = resources.groupby("resource", as_index=False)["n"].sum().sort_values(
        ["n", "resource"], ascending=[False, True]).head(TOP_N)
    return {"unit": unit, "activity": activity.reset_index(drop=True),
            "heat": heat.reset_index(drop=True),
            "failures": failures[["actor_id", "failure", "denied"]].reset_index(drop=True),
            "resources": resources.reset_index(drop=True), "days": days}


def _charts(aggregates: dict, period: Period, tz: str) -> dict:
    unit = aggregates["unit"]
    activity, heat = aggregates["activity"], aggregates["heat"]
    failures, resources = aggregates["failures"], aggregates["resources"]
    out = {
        "activity": {"title": f"Activity per {unit}",
                     "caption": f"Events per {unit} ({tz}), stacked by result.",
                     "svg": charts.activity_chart(activity, unit)},
        "heatmap": {"title": "Hour of day by weekday",
                    "caption": f"Events by hour of day and weekday ({tz}).",
                    "svg": charts.heatmap_chart(heat, tz)},
    }
    if not failures.empty:
        out["failures"] = {"title": "Failures and denials by actor",
                           "caption": f"The {TOP_N} actors with the most failed or denied "
                                      "events.",
                           "svg": charts.failures_chart(failures)}
    out["resources"] = {"title": "Most accessed resources",
                        "caption": f"The {TOP_N} resources with the most events.",
                        "svg": charts.resources_chart(resources)}
    return out


# --- retention, coverage, access, cadence ------------------------------------------------------
def _find_check(checks, name: str):
    return next((c for c in _check_list(checks) if c.name == name), None)


def _check_brief(check) -> dict | None:
    if check is None:
        return None
    row = _check_row(check)
    row["metrics"] = _plain(dict(getattr(check, "metrics", {}) or {}))
    return row


def _retention(q: _Queries, aggregates: dict | None, checks, period: Period, tz: str) -> dict:
    first, last = q.engine.rows('SELECT min("timestamp"), max("timestamp") FROM events')[0]
    days = aggregates["days"]["day"] if aggregates else []
    have = {pd.Timestamp(d).date() for d in days}
    zone_start = pd.Timestamp(period.start).tz_convert(tz).date()
    all_days = [d.date() for d in pd.date_range(zone_start, periods=period.days, freq="D")]
    missing = [d.isoformat() for d in all_days if d not in have]
    return {
        "first_event": _iso(first),
        "last_event": _iso(last),
        "days_in_period": len(all_days),
        "days_with_events": len(have),
        "days_without_events": missing,
        "check": _check_brief(_find_check(checks, "retention_coverage")),
    }


def _access(checks) -> dict:
    """Who read the log: ``log_access``'s own result (the log's events and the journal)."""
    check = _find_check(checks, "log_access")
    in_log, toolkit, total = [], [], 0
    if check is not None:
        if getattr(check, "findings", None) is not None:
            in_log = [{k: _plain(v) for k, v in r.items()}
                      for r in check.findings.head(MAX_FINDINGS_HTML).to_dict("records")]
        journal_facts = (getattr(check, "metrics", None) or {}).get("journal") or {}
        toolkit = list(journal_facts.get("entries") or [])[:MAX_FINDINGS_HTML]
        total = int(journal_facts.get("reads") or 0)
    return {"check": _check_brief(check), "in_log": in_log,
            "toolkit_journal": toolkit, "toolkit_journal_total": total}


def _cadence(check) -> dict | None:
    """The ``review_cadence`` result; ``None`` when no review of this source is recorded."""
    if check is None or (getattr(check, "metrics", None) or {}).get("expected") is None:
        return None
    return _jsonable(check.to_dict())


def _policy_summary(policy) -> dict:
    return {"name": getattr(policy, "name", None), "path": getattr(policy, "path", None),
            "timezone": getattr(policy, "timezone", "UTC"),
            "retention": getattr(getattr(policy, "retention", None), "regime", None)}
