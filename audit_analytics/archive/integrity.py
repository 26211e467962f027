"""An archive check as the ``chain_integrity`` check and the report's integrity section."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._caps import LISTED, cap

if TYPE_CHECKING:  # the check itself imports the session: only its type is named here
    from .spotcheck import ArchiveCheck

__all__ = ["archive_check", "integrity_section"]


def _state(result: ArchiveCheck) -> str:
    if not result.ok:
        return "tampering evident"
    return "intact" if result.manifest.signatures_checked else "signatures not checked"


def archive_check(result: ArchiveCheck):
    """``chain_integrity``'s findings, metrics, status and summary from an archive check.

    ``pass`` when every part file, row, boundary and signature checked out; ``warn`` when
    nothing was found but the signatures were not checked (no public key); ``fail`` on any
    finding.
    """
    import pandas as pd

    frame = pd.DataFrame.from_records(list(result.findings))
    if frame.empty:
        frame = pd.DataFrame(columns=["kind", "id", "path"])
    doc = result.to_dict()
    metrics = {"integrity": "archive", "rows": doc.get("rows"), "profile": doc.get("profile"),
               "partitions": result.partitions, "checked": len(result.sampled),
               "counts": result.counts, "manifest": doc["manifest"]}
    m = result.manifest
    checked = (f"{len(result.sampled)} of {result.partitions} part files, "
               f"{doc.get('rows') or 0:,} rows")
    if not result.ok:
        kinds = ", ".join(f"{k} {v}" for k, v in result.counts.items())
        return frame, metrics, "fail", f"archive: tampering evident: {kinds}"
    if not m.signatures_checked:
        return frame, metrics, "warn", (f"archive: {checked} intact, manifest signatures not "
                                        "checked (no public key)")
    return frame, metrics, "pass", (f"archive intact: {checked}, {m.signatures}/"
                                    f"{len(m.entries)} signatures valid")


def integrity_section(result: ArchiveCheck) -> dict:
    """The report's integrity section for an archive folder: its check over every file."""
    doc = result.to_dict()
    main = [s for s in doc.get("segments") or [] if s.get("main")]
    return {
        "kind": "archive",
        "status": _state(result),
        "ok": result.ok,
        "rows": doc.get("rows"),
        "profile": doc.get("profile"),
        "profile_detection": None,
        "partitions": result.partitions,
        "manifest": doc["manifest"],
        "counts": result.counts,
        **cap({}, "findings", doc["findings"], total=result.findings.total, limit=LISTED),
        **cap({}, "segments", doc.get("segments") or [], limit=LISTED),
        "main_chain_rows": sum(s["rows"] for s in main),
        "head": doc.get("head"),
        "unprotected_fields": doc.get("unprotected_fields") or [],
        "anchors": [],
    }
