"""The sections of a report, each gathered from the one pass of :class:`~.facts.Facts`.

A section is one function from the facts to its JSON-able content, registered in
:data:`SECTIONS` under the :class:`~.document.Report` attribute it fills: the report is
built, and its JSON summary written, from that list alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .._caps import LISTED, SHOWN, cap
from ..checks.results import ChecklistResult
from . import charts as svg
from .controls import control_matrix
from .facts import Facts, find_check
from .timeline import timelines
from .values import iso, jsonable, plain

__all__ = ["ANOMALY_COLUMNS", "MAX_ANOMALIES", "MAX_FINDINGS_HTML", "SECTIONS", "Section",
           "anomalies_of", "anomalies_total", "check_row", "checks_dict"]

ANOMALY_COLUMNS = ("actor_id", "window_start", "window_end")
MAX_FINDINGS_HTML = SHOWN  # rows of one check's findings shown in the HTML
MAX_ANOMALIES = 200        # anomalies listed (with evidence for the first MAX_EVIDENCE)
MAX_EVIDENCE = 50
EVIDENCE_ROWS = 10
MAX_INTEGRITY_FINDINGS = LISTED
MAX_JSON_FINDINGS = LISTED  # per check in the JSON summary, as in `check --json`
SIGNOFF_STATEMENT = ("I have reviewed this report, the findings above and their follow-up "
                     "actions.")


@dataclass(frozen=True)
class Section:
    """One section: the report attribute it fills, how it is gathered, how it is written.

    Attributes
    ----------
    name
        The :class:`~.document.Report` attribute.
    gather
        Builds the section's content from the facts.
    key
        Its key in the JSON summary (default: ``name``).
    to_json
        Turns the content into what the JSON summary holds (default: the content).
    total
        For a section that is a list of the first entries of a longer one: counts them
        all. The JSON summary then says ``<key>_total`` and, when entries were left out,
        ``<key>_truncated`` (see :func:`audit_analytics._caps.cap`).
    """

    name: str
    gather: Callable[[Facts], Any]
    key: str | None = None
    to_json: Callable[[Any], Any] | None = None
    total: Callable[[Facts], int] | None = None

    @property
    def json_key(self) -> str:
        """The section's key in the JSON summary."""
        return self.key or self.name


# --- scope and integrity ------------------------------------------------------------------
def _scope(facts: Facts) -> dict:
    period, counts, log = facts.period, facts.counts, facts.log
    return {
        "source": facts.source_label,
        "source_kind": getattr(log.source, "kind", None),
        "period": period.label,
        "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(),
        "timezone": facts.tz,
        "profile": _profile_name(facts.verify),
        "profile_detected": bool(getattr(facts.verify, "profile_note", None)),
        "rows_total": counts["rows_total"],
        "rows_in_period": counts["rows_in_period"],
        "first_event_in_period": iso(counts["first_in_period"]),
        "last_event_in_period": iso(counts["last_in_period"]),
        "actors_in_period": counts["actors_in_period"],
    }


def _profile_name(verify) -> str:
    if hasattr(verify, "manifest"):  # an archive check: the profile its rows were verified by
        return verify.to_dict().get("profile") or "archive"
    profile = getattr(verify, "profile", None)
    return profile.name if profile is not None else "cloudtrail-digests"


def _integrity(facts: Facts) -> dict:
    verify = facts.verify
    if hasattr(verify, "findings_frame"):  # a source verified by its signed digests
        from ..cloudtrail.integrity import integrity_section

        return integrity_section(verify)
    if hasattr(verify, "manifest"):  # an archive folder, checked against its manifest
        from ..archive.integrity import integrity_section as archive_section

        return archive_section(verify)
    data = verify.to_dict()
    data.pop("seconds", None)
    main = [s for s in verify.segment_records if s["main"]]
    return {
        "kind": "hash_chain",
        "status": "intact" if verify.ok else "tampering evident",
        "ok": verify.ok,
        "rows": verify.rows,
        "profile": data["profile"],
        "profile_detection": data.get("profile_detection"),
        "counts": {k: v for k, v in data["counts"].items() if v},
        **cap({}, "findings", verify.records, total=verify.findings_total,
              limit=MAX_INTEGRITY_FINDINGS),
        **cap({}, "segments", verify.segment_records, limit=MAX_INTEGRITY_FINDINGS),
        "main_chain_rows": sum(s["rows"] for s in main),
        "head": data["head"],
        "unprotected_fields": data["unprotected_fields"],
        "anchors": data["anchors"],
    }


# --- the checklist --------------------------------------------------------------------------
def _check_list(checks) -> list:
    return list(getattr(checks, "checks", None) or [])


def check_row(check) -> dict:
    """One checklist row: name, title, status, controls, summary, number of findings."""
    findings = getattr(check, "findings", None)
    return {"name": check.name, "title": getattr(check, "title", check.name),
            "status": check.status, "controls": list(getattr(check, "controls", []) or []),
            "summary": getattr(check, "summary", "") or "",
            "findings": 0 if findings is None else len(findings)}


def checks_dict(checks) -> list[dict]:
    """Each check as in ``run_checks(...).to_dict()``: findings capped per check."""
    if checks is None:
        return []
    if not hasattr(checks, "to_dict"):
        return [check_row(c) for c in _check_list(checks)]
    if isinstance(checks, ChecklistResult):  # only the rows kept are converted
        return [check.to_dict(MAX_JSON_FINDINGS) for check in checks.checks]
    data = checks.to_dict()
    out = data.get("checks", data) if isinstance(data, dict) else data
    return [_capped(check) for check in out]


def _capped(check: dict) -> dict:
    """One check's JSON with its findings capped at :data:`MAX_JSON_FINDINGS`."""
    if "findings_total" in check:  # already capped, its count kept
        return check
    return cap(check, "findings", check.get("findings") or [], limit=MAX_JSON_FINDINGS)


def _check_brief(check) -> dict | None:
    if check is None:
        return None
    row = check_row(check)
    row["metrics"] = plain(dict(getattr(check, "metrics", {}) or {}))
    return row


# --- anomalies with evidence ------------------------------------------------------------------
def anomalies_of(checks, engine, policy=None, tz: str = "UTC", first_event=None,
                 last_event=None) -> list[dict]:
    """Every finding with an actor and a window, the first ones with their evidence.

    ``engine`` answers the evidence query over ``events`` (the cached events, or the log's
    own engine). With a ``policy``, the first ones also get their ``timeline`` (the
    actor's activity around the window, see :mod:`.timeline`) and its chart
    (``timeline_svg``, times in ``tz``; left out of the JSON summary).
    """
    out = []
    for check in _check_list(checks):
        frame = getattr(check, "findings", None)
        if frame is None or frame.empty or not set(ANOMALY_COLUMNS) <= set(frame.columns):
            continue
        for record in frame.head(MAX_ANOMALIES - len(out)).to_dict("records"):
            out.append({"check": check.name, "title": getattr(check, "title", check.name),
                        "status": check.status,
                        "controls": list(getattr(check, "controls", [])),
                        **{k: plain(v) for k, v in record.items()}})
        if len(out) >= MAX_ANOMALIES:
            break
    evidence = _evidence(engine, out[:MAX_EVIDENCE])
    for index, item in enumerate(out[:MAX_EVIDENCE]):
        item["evidence"] = evidence.get(index, [])
    if policy is not None:
        lines = timelines(engine, out[:MAX_EVIDENCE], policy, first_event, last_event)
        for index, line in lines.items():
            out[index]["timeline"] = line
            out[index]["timeline_svg"] = svg.timeline_chart(line, tz, f"timeline-{index + 1}")
    return out


def _anomalies(facts: Facts) -> list[dict]:
    return anomalies_of(facts.checks, facts.engine, facts.policy, facts.tz,
                        facts.counts.get("first_event"), facts.counts.get("last_event"))


def anomalies_total(checks) -> int:
    """How many findings are anomalies (an actor and a window).

    The report lists the first :data:`MAX_ANOMALIES` of them.
    """
    total = 0
    for check in _check_list(checks):
        frame = getattr(check, "findings", None)
        if frame is not None and not frame.empty and set(ANOMALY_COLUMNS) <= set(frame.columns):
            total += len(frame)
    return total


def _anomalies_json(anomalies: list[dict]) -> list[dict]:
    """The anomalies as the JSON summary holds them (the timeline's data, not its SVG)."""
    return [{k: v for k, v in a.items() if k != "timeline_svg"} for a in anomalies]


def _evidence(engine, anomalies: list[dict]) -> dict[int, list[dict]]:
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
        windows[name] = pd.to_datetime(windows[name], utc=True)
    name = "__report_windows"
    engine.register(name, windows)
    try:
        # a window's end is the last event's time (inclusive), or an exclusive bound
        frame = engine.df(
            'SELECT w.idx, e."timestamp", e.action, e.resource_type, e.resource_id, e.result, '
            f"e.ip_address, e.id FROM events e JOIN {name} w ON coalesce(e.actor_id, "
            "'ip:' || coalesce(e.ip_address, 'unknown')) = w.actor "
            'AND e."timestamp" >= w.ws AND e."timestamp" <= w.we '
            'QUALIFY row_number() OVER (PARTITION BY w.idx ORDER BY e."timestamp", e.id) '
            f"<= {EVIDENCE_ROWS} ORDER BY w.idx, e.\"timestamp\", e.id")
    finally:
        engine.unregister(name)
    out: dict[int, list[dict]] = {}
    for record in frame.to_dict("records"):
        index = int(record.pop("idx"))
        out.setdefault(index, []).append({k: plain(v) for k, v in record.items()})
    return out


# --- charts, retention, access, cadence ----------------------------------------------------
def _charts(facts: Facts) -> dict:
    aggregates, tz = facts.aggregates, facts.tz
    if not aggregates:
        return {}
    unit = aggregates["unit"]
    failures = aggregates["failures"]
    out = {
        "activity": {"title": f"Activity per {unit}",
                     "caption": f"Events per {unit} ({tz}), stacked by result.",
                     "svg": svg.activity_chart(aggregates["activity"], unit)},
        "heatmap": {"title": "Hour of day by weekday",
                    "caption": f"Events by hour of day and weekday ({tz}).",
                    "svg": svg.heatmap_chart(aggregates["heat"], tz)},
    }
    if not failures.empty:
        out["failures"] = {"title": "Failures and denials by actor",
                           "caption": "The actors with the most failed or denied events: "
                                      + _of(len(failures), aggregates["failing_actors"]),
                           "svg": svg.failures_chart(failures)}
    resources = aggregates["resources"]
    out["resources"] = {"title": "Most accessed resources",
                        "caption": "The resources with the most events: "
                                   + _of(len(resources), aggregates["resources_total"]),
                        "svg": svg.resources_chart(resources)}
    return out


def _of(shown: int, total: int) -> str:
    """``"all 3 shown."`` or ``"15 of 312,000 shown."``."""
    return f"all {total:,} shown." if shown >= total else f"{shown:,} of {total:,} shown."


def _retention(facts: Facts) -> dict:
    period, tz = facts.period, facts.tz
    days = facts.aggregates["days"]["day"] if facts.aggregates else []
    have = {pd.Timestamp(d).date() for d in days}
    zone_start = pd.Timestamp(period.start).tz_convert(tz).date()
    all_days = [d.date() for d in pd.date_range(zone_start, periods=period.days, freq="D")]
    missing = [d.isoformat() for d in all_days if d not in have]
    return {
        "first_event": iso(facts.counts["first_event"]),
        "last_event": iso(facts.counts["last_event"]),
        "days_in_period": len(all_days),
        "days_with_events": len(have),
        "days_without_events": missing,
        "check": _check_brief(find_check(facts.checks, "retention_coverage")),
    }


def _access(facts: Facts) -> dict:
    """Who read the log: ``log_access``'s own result (the log's events and the journal)."""
    check = find_check(facts.checks, "log_access")
    in_log, toolkit, in_log_total, total = [], [], 0, 0
    if check is not None:
        found = getattr(check, "findings", None)
        if found is not None:
            in_log = [{k: plain(v) for k, v in r.items()}
                      for r in found.head(MAX_FINDINGS_HTML).to_dict("records")]
            in_log_total = len(found)
        journal_facts = (getattr(check, "metrics", None) or {}).get("journal") or {}
        toolkit = list(journal_facts.get("entries") or [])[:MAX_FINDINGS_HTML]
        total = int(journal_facts.get("reads") or 0)
    out = {"check": _check_brief(check)}
    cap(out, "in_log", in_log, in_log_total)
    return cap(out, "toolkit_journal", toolkit, total)


def _cadence(facts: Facts) -> dict | None:
    """The ``review_cadence`` result; ``None`` when no review of this source is recorded."""
    check = facts.cadence_check
    if check is None or (getattr(check, "metrics", None) or {}).get("expected") is None:
        return None
    return jsonable(check.to_dict(MAX_JSON_FINDINGS))


def _policy(facts: Facts) -> dict:
    policy = facts.policy
    return {"name": getattr(policy, "name", None), "path": getattr(policy, "path", None),
            "timezone": getattr(policy, "timezone", "UTC"),
            "retention": getattr(getattr(policy, "retention", None), "regime", None)}


def _signoff(facts: Facts) -> dict:
    return {"name": "", "role": "", "date": "", "signature": "",
            "statement": SIGNOFF_STATEMENT}


#: Every section, in the order of the JSON summary (after its ``report`` header).
SECTIONS: tuple[Section, ...] = (
    Section("controls", lambda facts: control_matrix(
        [check_row(c) for c in _check_list(facts.checks)], facts.framework)),
    Section("policy", _policy),
    Section("scope", _scope),
    Section("integrity", _integrity),
    Section("checklist", lambda facts: [check_row(c) for c in _check_list(facts.checks)]),
    Section("checks", lambda facts: facts.checks, to_json=checks_dict),
    Section("anomalies", _anomalies, to_json=_anomalies_json,
            total=lambda facts: anomalies_total(facts.checks)),
    Section("charts", _charts,
            to_json=lambda charts: [{"name": k, "title": v["title"], "caption": v["caption"]}
                                    for k, v in charts.items()]),
    Section("retention", _retention),
    Section("access", _access),
    Section("cadence", _cadence, key="review_cadence"),
    Section("signoff", _signoff),
)
