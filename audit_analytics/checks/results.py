"""What the checklist found.

One :class:`CheckResult` per check, gathered in a :class:`ChecklistResult` (summary
table, HTML for notebooks, the JSON document).
"""

from __future__ import annotations

import datetime as dt
import html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import _args
from .._caps import SHOWN, cap, cut_note
from .._text import shown
from ..status import STATUS_COLOURS, STATUSES, worst_status

__all__ = ["STATUSES", "CheckResult", "ChecklistResult"]

#: Characters of a check's summary sentence shown on a terminal before it is clipped.
SUMMARY_LIMIT = 2000

def _plain(value: Any) -> Any:
    """A JSON-able Python value for one cell or metric."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else (int(value) if value.is_integer() else value)
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is pd.NaT or (not isinstance(value, str) and pd.api.types.is_scalar(value)
                           and pd.isna(value)):
        return None
    return value


def frame_records(frame: pd.DataFrame) -> list[dict]:
    """Rows of ``frame`` as JSON-able dicts (timestamps as ISO text, NaN as null)."""
    if frame is None or frame.empty:
        return []
    return [{str(k): _plain(v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")]


def _safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its text cells escaped and clipped for display (HTML escapes later)."""
    return frame.map(lambda v: shown(v) if isinstance(v, str) else v)


@dataclass
class CheckResult:
    """The outcome of one check.

    Attributes
    ----------
    name
        The check's name (``failed_access_burst``...).
    title
        A one-line human title.
    status
        ``pass``, ``warn`` or ``fail``.
    controls
        The control ids it evidences (SOC 2, HIPAA, PCI DSS v4.0).
    summary
        One sentence on what was found.
    findings
        One row per finding. Anomaly findings carry ``actor_id``, ``window_start``,
        ``window_end``, ``value``, ``baseline`` and ``threshold``.
    metrics
        Figures about the run (events scanned, parameters, seconds...).
    """

    name: str
    title: str
    status: str
    controls: list[str]
    summary: str
    findings: pd.DataFrame = field(default_factory=pd.DataFrame)
    metrics: dict = field(default_factory=dict)

    def to_dict(self, limit: int | None = None) -> dict:
        """The check as it appears in the JSON document.

        ``findings`` holds the first ``limit`` findings (``None``, the default: all of
        them), in the check's order; ``findings_total`` counts them all, and
        ``findings_truncated`` is set when some were left out (see
        :func:`audit_analytics._caps.cap`; ``check --json`` keeps
        :data:`~audit_analytics._caps.LISTED`).
        """
        found = self.findings
        total = 0 if found is None else len(found)
        kept = found if found is None or limit is None else found.head(limit)
        return cap({
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "controls": list(self.controls),
            "summary": self.summary,
            "metrics": _plain(self.metrics),
        }, "findings", frame_records(kept), total, total if limit is None else limit)

    def __repr__(self) -> str:
        return (f"<CheckResult {self.name} {self.status.upper()} "
                f"findings={len(self.findings)}: {shown(self.summary, SUMMARY_LIMIT)}>")


@dataclass
class ChecklistResult:
    """Every check's result over one log, policy and window.

    Attributes
    ----------
    checks
        One :class:`CheckResult` per check, in the order they ran.
    source
        The log's label.
    policy
        The policy's name.
    since, until
        The checked window (``None``: unbounded).
    events
        Events inside the window.
    """

    checks: list[CheckResult]
    source: str = ""
    policy: str = "default"
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    events: int = 0
    policy_settings: dict = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def worst(self) -> str:
        """The worst status among the checks (``pass`` when there are none)."""
        return worst_status(c.status for c in self.checks)

    def __getitem__(self, name: str) -> CheckResult:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    @property
    def counts(self) -> dict[str, int]:
        """How many checks ended in each status."""
        out = dict.fromkeys(STATUSES, 0)
        for check in self.checks:
            out[check.status] += 1
        return out

    def to_dict(self, limit: int | None = None) -> dict:
        """The JSON document ``audit-analytics check --json`` prints.

        Each check keeps its first ``limit`` findings (``None``, the default: all; the
        command keeps :data:`~audit_analytics._caps.LISTED`), with their count (see
        :meth:`CheckResult.to_dict`). Every list in a check's metrics that grows with the
        input (actors without a baseline, authorized readers of the log) holds its first
        entries and their count whatever ``limit`` is.
        """
        return {
            "status": self.worst,
            "source": self.source,
            "policy": self.policy,
            "window": {"since": _plain(self.since), "until": _plain(self.until)},
            "events": self.events,
            "counts": self.counts,
            "seconds": round(self.elapsed, 3),
            "checks": [c.to_dict(limit) for c in self.checks],
        }

    def summary(self, limit: int = 5) -> str:
        """A readable table: one line per check, then the first findings of each.

        Values from the log are shown escaped and clipped (see :mod:`audit_analytics._text`):
        one line of the table is always one line of output.
        """
        _args.count(limit, "limit")
        lines = [f"{shown(self.source)}: checklist ({shown(self.policy)} policy), "
                 f"{self.events:,} events in the window: {self.worst.upper()}",
                 f"  {'check':<22} {'status':<6} {'findings':>8}  summary"]
        for c in self.checks:
            lines.append(f"  {c.name:<22} {c.status.upper():<6} {len(c.findings):>8}  "
                         f"{shown(c.summary, SUMMARY_LIMIT)}")
        for c in self.checks:
            short = c.metrics.get("insufficient_baseline") or {}
            listed = short.get("by_actor") or []
            if listed:
                total = short.get("by_actor_total", len(listed))
                notes = ", ".join(f"{shown(s['actor_id'])} {s['note']}" for s in listed[:limit])
                more = f" and {total - limit:,} more" if total > limit else ""
                lines.append(f"  {c.name}: {notes}{more}")
        for c in self.checks:
            if c.findings.empty:
                continue
            lines.append(f"\n{c.name} ({', '.join(c.controls)}):")
            for rec in frame_records(c.findings.head(limit)):
                fields = ", ".join(f"{shown(k)}={shown(v)}" for k, v in rec.items()
                                   if v is not None)
                lines.append(f"  - {fields}")
            if len(c.findings) > limit:
                lines.append(f"  ... {len(c.findings) - limit} more")
        return "\n".join(lines)

    def __repr__(self) -> str:
        parts = ", ".join(f"{c.name}={c.status}" for c in self.checks)
        return f"<ChecklistResult {self.worst.upper()} events={self.events} [{parts}]>"

    def _repr_html_(self) -> str:
        colour = STATUS_COLOURS
        rows = "".join(
            f"<tr><td><code>{html.escape(c.name)}</code></td>"
            f"<td style='color:{colour[c.status]};font-weight:bold'>{c.status.upper()}</td>"
            f"<td>{len(c.findings)}</td><td>{html.escape(', '.join(c.controls))}</td>"
            f"<td>{html.escape(shown(c.summary, SUMMARY_LIMIT))}</td></tr>"
            for c in self.checks
        )
        head = (f"<p><b>{html.escape(shown(self.source))}</b>: {self.events:,} events, policy "
                f"<code>{html.escape(shown(self.policy))}</code>, overall "
                f"<b style='color:{colour[self.worst]}'>{self.worst.upper()}</b></p>")
        details = "".join(
            f"<details><summary>{html.escape(c.name)}: {len(c.findings)} finding(s)</summary>"
            f"{_safe_frame(c.findings.head(SHOWN)).to_html(index=False)}"
            f"{cut_note(min(SHOWN, len(c.findings)), len(c.findings))}</details>"
            for c in self.checks if not c.findings.empty
        )
        return (head + "<table><tr><th>check</th><th>status</th><th>findings</th>"
                "<th>controls</th><th>summary</th></tr>" + rows + "</table>" + details)
