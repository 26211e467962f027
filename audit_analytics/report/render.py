"""Render a :class:`~audit_analytics.report.document.Report` to one self-contained HTML page.

The template is ``audit_analytics/templates/report.html.j2`` (Jinja2, autoescaped: every
value from the log is escaped; only the charts' SVG, which matplotlib produced and
escaped, is inserted as markup). Every value is also shown as it is: control, bidi and
other invisible characters as visible escapes, and a value longer than
:data:`~audit_analytics._text.LIMIT` characters clipped with its full length stated (the
JSON summary keeps it whole), so one huge or hostile value can neither bloat the page nor
reorder what the reviewer reads. The template's sentences isolate inline values
(``<bdi>``); table cells are isolated by the table itself.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache

import jinja2
import pandas as pd
from markupsafe import Markup, escape

from .._caps import LISTED, SPREADSHEET
from .._text import LIMIT, shown
from .._version import __version__
from .controls import NOT_ASSESSED
from .sections import MAX_ANOMALIES, MAX_FINDINGS_HTML
from .values import is_id_key, is_time_key, local_time
from .values import plain as _plain

__all__ = ["render_html", "table"]

STATUS_LABEL = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", NOT_ASSESSED: "NOT ASSESSED"}
#: Rows of a long table shown before the rest is collapsed (the first 50 are in the page).
VISIBLE_ROWS = 10
#: Characters of a sentence (a check's summary, a finding's details) shown before clipping.
PROSE_LIMIT = 2000


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("audit_analytics", "templates"),
        autoescape=True,  # every template here is HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,  # every {{ value }}: visible escapes, clipped
    )
    env.filters["cell"] = _cell
    env.filters["prose"] = lambda text: _safe(text, PROSE_LIMIT)
    env.filters["num"] = lambda n: f"{n:,}" if isinstance(n, int) else n
    env.filters["when"] = lambda value, tz: local_time(value, tz) or "—"
    env.filters["breakable"] = _breakable
    return env


def _safe(value, limit: int = LIMIT) -> Markup:
    """``value`` as escaped HTML text: at most ``limit`` characters, every one visible."""
    return escape(shown(value, limit))


def _breakable(value, limit: int = LIMIT) -> Markup:
    """Escaped text that may wrap after an underscore (``flagged_<wbr>attempts``)."""
    return Markup(str(_safe(value, limit)).replace("_", "_<wbr>"))


def _finalize(value):
    """What the template prints for ``value``: markup as it is, text made safe."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return _safe(value)


def _cell(value, key=None, tz: str = "UTC") -> str:
    """One table cell's text: instants in ``tz`` to the second, numbers with separators.

    Lists are joined, dicts written as compact JSON, ``None`` left blank; identifiers
    (``id``, ``actor_id``...) are written as they are.
    """
    if value is None:
        return ""
    if isinstance(value, datetime | pd.Timestamp) or (key is not None and is_time_key(key)
                                                       and isinstance(value, str)):
        return local_time(value, tz) or ""
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v, key, tz) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    if isinstance(value, bool) or (key is not None and is_id_key(key)):
        return str(value)
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value == value else ""
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _kind(key, values: list) -> str:
    """The CSS class of a column: ``num`` (right-aligned, unbroken), ``time`` or ``text``."""
    if is_time_key(key):
        return "time"
    present = [v for v in values if v is not None]
    if present and not is_id_key(key) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "num"
    return "text"


def table(records, columns: list[str] | None = None, limit: int = MAX_FINDINGS_HTML,
          prose: tuple[str, ...] = (), tz: str = "UTC", visible: int = VISIBLE_ROWS,
          total: int | None = None) -> dict:
    """``{"columns", "kinds", "rows", "more", "total", "shown"}`` for the table macro.

    ``records`` is a list of dicts or a DataFrame. The first ``visible`` rows are
    ``rows``; up to ``limit`` in all, the others are ``more`` (collapsed on screen, left
    out in print); ``total`` counts every record (pass it when ``records`` holds only the
    first ones of a longer list). Each cell is safe HTML text, clipped at
    :data:`~audit_analytics._text.LIMIT` characters (the columns named in ``prose`` at
    :data:`PROSE_LIMIT`), instants shown in ``tz``.
    """
    if hasattr(records, "to_dict"):
        count = len(records)
        records = records.head(limit).to_dict("records")
    else:
        records = list(records or [])
        count = len(records)
        records = records[:limit]
    total = count if total is None else max(int(total), count)
    if columns is None:  # every field some record has a value for, in their order
        columns = []
        for rec in records:
            columns += [k for k in rec if k not in columns and _plain(rec[k]) is not None]
    limits = [PROSE_LIMIT if c in prose else LIMIT for c in columns]
    values = [[_plain(rec.get(c)) for c in columns] for rec in records]
    kinds = [_kind(c, [row[j] for row in values]) for j, c in enumerate(columns)]
    rows = [[(_breakable if k == "text" else _safe)(_cell(v, c, tz), n)
             for v, c, n, k in zip(row, columns, limits, kinds, strict=True)] for row in values]
    return {"columns": columns, "kinds": kinds, "rows": rows[:visible], "more": rows[visible:],
            "total": total, "shown": len(rows)}


def finding_rows(findings: list[dict], tz: str = "UTC") -> list[dict]:
    """Verification findings as four readable columns: kind, event id, where, details.

    Each kind carries different details (stored and computed hashes, fork children,
    timestamps...); one column per detail would crush the table, so the details are one
    short sentence, hashes shortened (the JSON summary keeps them whole).
    """
    rows = []
    for f in findings:
        details = []
        for key, value in f.items():
            if key in ("kind", "id", "row") or value in (None, [], "") or (
                    key == "path" and not f.get("row")):
                continue
            if isinstance(value, list):
                value = ", ".join(shown(v) for v in value)
            elif isinstance(value, str) and len(value) == 64 and key.endswith("hash"):
                value = value[:16] + "…"
            elif is_time_key(key):
                value = shown(local_time(value, tz))
            else:
                value = shown(value)
            details.append(f"{key.replace('_', ' ')}: {value}")
        rows.append({"kind": f.get("kind"), "event id": f.get("id"),
                     "where": f.get("row") or f.get("path"),
                     "details": "; ".join(details)})
    return rows


#: Columns of the anomalies' table, those that some anomaly has.
ANOMALY_COLUMNS = ("check", "actor_id", "window_start", "window_end", "value", "baseline",
                   "threshold")
EVIDENCE_COLUMNS = ("timestamp", "action", "resource_type", "resource_id", "result",
                    "ip_address", "id")
# keys of an anomaly that are the report's own (or its heading), not the finding's fields
_ANOMALY_OWN = {"check", "title", "status", "controls", "evidence", "actor_id",
                "window_start", "window_end", "timeline", "timeline_svg"}


def _present(records: list[dict], columns) -> list[str]:
    """``columns`` that at least one record has a value for, in that order."""
    return [c for c in columns if any(r.get(c) is not None for r in records)]


def _anomaly(a: dict, index: int, tz: str) -> dict:
    """One anomaly for the template: its heading, every field it has, its evidence.

    Checks report different fields (a burst has a baseline, an unauthorized read of the
    log has the actions it made): the template shows whatever the finding carries.
    """
    return {
        "title": a.get("title") or a.get("check") or "",
        "check": a.get("check") or "",
        "anchor": f"anomaly-{index + 1}",
        "actor_id": a.get("actor_id"), "window_start": local_time(a.get("window_start"), tz),
        "window_end": local_time(a.get("window_end"), tz),
        "controls": list(a.get("controls") or []),
        "fields": [(k.replace("_", " "), _safe(_cell(_plain(v), k, tz))) for k, v in a.items()
                   if k not in _ANOMALY_OWN and _plain(v) not in (None, "", [])],
        "evidence": table(a.get("evidence") or [], list(EVIDENCE_COLUMNS), tz=tz),
        "timeline": Markup(a["timeline_svg"]) if a.get("timeline_svg") else None,
        "timeline_caption": _timeline_caption(a.get("timeline"), tz),
    }


def _timeline_caption(line: dict | None, tz: str) -> str:
    """What a timeline shows, in words (its bucket, its span, what is drawn against it)."""
    if not line or not line.get("buckets"):
        return ""
    first = local_time(line["buckets"][0]["start"], tz)
    last = local_time(line["buckets"][-1]["start"], tz)
    against = (" against the baseline (dashed) and the threshold (dotted)"
               if line.get("baseline") is not None or line.get("threshold") is not None
               else "")
    return (f"{line['metric'].capitalize()} per {line['unit']} from {first} to {last} "
            f"(bucket starts); the flagged window in red{against}.")


def render_html(report) -> str:
    """The report as one HTML document (str)."""
    tz = report.scope.get("timezone") or "UTC"
    checks = []
    for check in getattr(report.checks, "checks", None) or []:
        findings = getattr(check, "findings", None)
        checks.append({
            "name": check.name, "title": getattr(check, "title", check.name),
            "status": check.status, "controls": list(getattr(check, "controls", []) or []),
            "summary": getattr(check, "summary", "") or "",
            "findings": table(findings if findings is not None else [], tz=tz),
        })
    integrity = report.integrity
    anomalies = [_anomaly(a, i, tz) for i, a in enumerate(report.anomalies)]
    controls = report.controls or {}
    context = {
        "r": report,
        "tz": tz,
        "zone_names": _zone_names(report, tz),
        "title": f"Audit log review {report.period.label}",
        "tool": f"audit_analytics {__version__}",
        "status_label": STATUS_LABEL,
        "counts": {s: sum(c["status"] == s for c in report.checklist) for s in STATUS_LABEL},
        "checks": checks,
        "ran": {c["name"] for c in checks},
        "matrix": [(prefix, [c for c in controls.get("controls", []) if c["framework"] == prefix])
                   for prefix in controls.get("frameworks", [])],
        "matrix_counts": controls.get("counts", {}),
        "integrity_findings": table(finding_rows(integrity["findings"][:MAX_FINDINGS_HTML], tz),
                                    ["kind", "event id", "where", "details"],
                                    prose=("details",), tz=tz,
                                    total=integrity.get("findings_total")),
        "segments": table(integrity["segments"],
                          ["main", "rows", "starts_with", "first_id", "last_id",
                           "first_timestamp", "last_timestamp", "forks_from"], tz=tz,
                          total=integrity.get("segments_total")),
        "anchors": table(integrity["anchors"], tz=tz),
        "anomalies": anomalies,
        "anomaly_table": table(report.anomalies, _present(report.anomalies, ANOMALY_COLUMNS),
                               limit=MAX_ANOMALIES, tz=tz,
                               total=report.totals.get("anomalies")),
        "charts": {k: {**v, "svg": Markup(v["svg"])} for k, v in report.charts.items()},
        "in_log_access": table(report.access["in_log"], tz=tz,
                               total=report.access.get("in_log_total")),
        "toolkit_access": table(report.access["toolkit_journal"],
                                ["timestamp", "actor_id", "action", "result", "command"], tz=tz,
                                total=report.access.get("toolkit_journal_total")),
        "cadence_findings": table((report.cadence or {}).get("findings") or [], tz=tz,
                                  total=(report.cadence or {}).get("findings_total")),
        "listed": LISTED, "spreadsheet": SPREADSHEET,
    }
    return _environment().get_template("report.html.j2").render(**context)


def _zone_names(report, tz: str) -> str:
    """The zone's abbreviations over the period (``EST/EDT``), for the page's note on times."""
    names = []
    for when in (report.period.start, report.period.end):
        try:
            name = pd.Timestamp(when).tz_convert(tz).tzname()
        except (OverflowError, ValueError):
            continue
        if name and name[0] not in "+-" and name not in names:
            names.append(name)
    return "/".join(names)
