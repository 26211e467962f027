"""Periodic review reports: one period of one audit log, for a reviewer to sign.

>>> import audit_analytics as aa
>>> from audit_analytics.report import build_report
>>> log = aa.open("data_samples/python_seed/clean.parquet")          # doctest: +SKIP
>>> report = build_report(log, "2024-01", policy="soc2")              # doctest: +SKIP
>>> report.write("reports/")                                          # doctest: +SKIP

A report gathers the scope (source, period, profile, row counts), the integrity of the
whole chain, the compliance checklist over the period, the anomalies with the actor's
events as evidence, charts (inline SVG), retention and coverage, who read the logs (the
log's own records and this toolkit's access journal), the review cadence from the
ledger and a blank reviewer sign-off block. :meth:`Report.write` produces one
self-contained HTML page and a JSON summary (and a PDF with the ``pdf`` extra), versioned
per period and recorded in the review ledger (:mod:`audit_analytics.trail.ledger`).
"""

from .build import Report, build_report
from .write import FORMATS, PDF_MISSING, WrittenReport, check_formats, write_report

__all__ = ["FORMATS", "PDF_MISSING", "Report", "WrittenReport", "build_report",
           "check_formats", "write_report"]
