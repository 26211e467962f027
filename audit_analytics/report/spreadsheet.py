r"""A report's findings as CSV: one row per finding, safe to open in a spreadsheet.

The columns are the check's (``check``, ``check_title``, ``check_status``, ``controls``),
then every field any finding has, in the order the checks report them, then ``note``;
integrity findings of the whole chain are rows of ``chain_integrity`` (the check's own
findings when the policy runs it, else the integrity section's, at most 1,000). Each
check contributes its first :data:`~audit_analytics._caps.SPREADSHEET` findings, in the
check's order; a check that has more ends with one row whose ``note`` says how many of
how many are in the file (its other cells empty but the check's). Values are written as
in the JSON summary (instants as ISO-8601 UTC, lists joined with ``, ``, mappings as JSON)
with two changes for the spreadsheet:

- a text cell that a spreadsheet would read as a formula (it starts with ``=``, ``+``,
  ``-``, ``@``, a tab or a carriage return) is prefixed with ``'`` and so shown as text;
  numbers the toolkit computed are written as numbers;
- control, bidi and invisible characters are shown as visible escapes (``\x1b``), as in
  every human output of the toolkit, never written raw.
"""

from __future__ import annotations

import csv
import io
import json

from .._caps import SPREADSHEET
from .._text import printable
from .values import plain

__all__ = ["FORMULA_STARTS", "csv_cell", "findings_csv", "findings_rows"]

#: What a spreadsheet reads as the start of a formula (or of a field separator trick).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_LEAD = ("check", "check_title", "check_status", "controls")


def csv_cell(value) -> str | int | float:
    """One CSV cell: numbers as they are, text made printable and never a formula."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | tuple):
        text = ", ".join(str(csv_cell(v)) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    else:
        text = str(value)
    if text.startswith(FORMULA_STARTS):  # checked on the raw text: a tab or CR leads too
        text = "'" + text
    return printable(text)


def findings_rows(report, limit: int = SPREADSHEET) -> list[dict]:
    """One dict per finding of ``report``: its check's fields, then the finding's own.

    The first ``limit`` findings of each check; a check with more is followed by a row
    with its fields and a ``note`` saying how many of how many are listed.
    """
    rows = []
    seen_integrity = False
    for check in getattr(report.checks, "checks", None) or []:
        frame = getattr(check, "findings", None)
        lead = {"check": check.name, "check_title": getattr(check, "title", check.name),
                "check_status": check.status, "controls": list(check.controls or [])}
        seen_integrity = seen_integrity or check.name == "chain_integrity"
        total = 0 if frame is None else len(frame)
        records = [] if not total else frame.head(limit).to_dict("records")
        rows += _listed(lead, records, total)
    if not seen_integrity:  # the integrity section verifies the chain whatever the checks
        lead = {"check": "chain_integrity", "check_title": "Hash chain intact",
                "check_status": "pass" if report.integrity["ok"] else "fail", "controls": []}
        found = report.integrity["findings"][:limit]
        rows += _listed(lead, found, report.integrity.get("findings_total", len(found)))
    return rows


def _listed(lead: dict, records: list[dict], total: int) -> list[dict]:
    """A check's rows: its findings, then a note when they are the first of ``total``."""
    rows = [{**lead, **record} for record in records]
    if total > len(records):
        rows.append({**lead, "note": f"the first {len(records):,} of {total:,} findings of "
                                     "this check; the others are not in this file"})
    return rows


def findings_csv(report) -> str:
    """The CSV text of the findings (a header row, then one row per finding or note)."""
    rows = findings_rows(report)
    columns = list(_LEAD)
    for row in rows:
        columns += [k for k in row if k not in columns and k != "note"]
    columns.append("note")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_cell(c) for c in columns])
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])
    return buffer.getvalue()
