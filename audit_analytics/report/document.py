"""The :class:`Report` of one period: its sections, its views, its JSON summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .._caps import cap
from .._version import __version__
from ..periods import Period
from ..status import worst_status
from .sections import SECTIONS
from .values import esc, jsonable

__all__ = ["Report"]


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
    controls
        The control matrix (:func:`~audit_analytics.report.controls.control_matrix`) of one
        framework (``soc2``, ``hipaa``, ``pci_dss``) or ``all``.
    totals
        ``{section: count}`` for a section that lists the first entries of a longer list
        (``anomalies``): how many there are in all.
    source_id
        The canonical identity key of the reviewed source
        (:func:`~audit_analytics.sources.identity.source_identity`), recorded in the ledger
        entry beside the masked label of ``scope``; ``None``: computed from that label.

    Every section is gathered by its entry in
    :data:`~audit_analytics.report.sections.SECTIONS`.
    """

    period: Period
    generated_at: datetime
    generated_by: str
    controls: dict
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
    totals: dict = field(default_factory=dict)
    source_id: str | None = None

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
        header = {
            "title": f"Audit log review {self.period.label}",
            "period": self.period.to_dict(),
            "generated_at": self.generated_at.isoformat(),
            "generated_by": self.generated_by,
            "tool": f"audit_analytics {__version__}",
            "version": self.version,
            "status": self.status,
            "empty": self.empty,
        }
        body = {}
        for section in SECTIONS:
            value = getattr(self, section.name)
            body[section.json_key] = section.to_json(value) if section.to_json else value
            if section.name in self.totals:  # a list's first entries: say how many in all
                listed = body[section.json_key]
                cap(body, section.json_key, listed, max(self.totals[section.name], len(listed)),
                    limit=len(listed))
        return jsonable({"report": header, **body})

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
            f"<tr><td>{esc(c['name'])}</td><td>{esc(c['status'])}</td>"
            f"<td>{esc(', '.join(c['controls']))}</td><td>{esc(c['summary'])}</td></tr>"
            for c in self.checklist)
        return (f"<div><b>Audit log review {esc(self.period.label)}</b>: "
                f"{esc(self.scope['source'])}, {self.scope['rows_in_period']:,} events in the "
                f"period, integrity {esc(self.integrity['status'])}, checklist "
                f"{esc(self.status)}</div><table><tr><th>check</th><th>status</th>"
                f"<th>controls</th><th>summary</th></tr>{rows}</table>")
