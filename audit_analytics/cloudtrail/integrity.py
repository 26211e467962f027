"""A digest validation as the ``chain_integrity`` check and the report's integrity section."""

from __future__ import annotations

from .._caps import cap
from .results import ValidationResult

__all__ = ["digest_check", "integrity_section"]


def digest_check(result: ValidationResult):
    """``chain_integrity``'s findings, metrics, status and summary from a digest validation.

    ``pass`` when every digest and log file is valid and every signature was checked,
    ``warn`` when only signatures were not checked, ``fail`` on any finding.
    """
    frame = result.findings_frame()
    metrics = {"integrity": "cloudtrail_digests", "digests": dict(result.digests),
               "log_files": dict(result.log_files),
               "counts": {k: v for k, v in result.counts.items() if v},
               "signatures_checked": result.signatures_checked,
               "verify_seconds": round(result.elapsed, 3)}
    d, lf = result.digests, result.log_files
    counts = (f"{d['valid']} digest file(s) valid, {lf['valid']} log file(s) valid")
    if result.findings:
        kinds = ", ".join(f"{k} {v}" for k, v in result.counts.items() if v)
        return frame, metrics, "fail", f"CloudTrail digests: tampering or loss evident: {kinds}"
    if not result.signatures_checked:
        unread = (f", {lf['not_checked']} log file(s) not checked" if lf["not_checked"]
                  else "")
        return frame, metrics, "warn", (f"CloudTrail digests: {counts}; {d['unsigned']} "
                                        f"signature(s) not checked{unread}")
    return frame, metrics, "pass", f"CloudTrail digests and log files intact: {counts}"


def integrity_section(result: ValidationResult) -> dict:
    """The report's integrity section for a CloudTrail source: its digest validation."""
    data = result.to_dict()
    return {
        "kind": "cloudtrail_digests",
        "status": "intact" if result.ok else (
            "signatures not checked" if not result.findings else "tampering evident"),
        "ok": result.ok,
        "rows": None,
        "profile": "cloudtrail-digests",
        "profile_detection": None,
        "range": data["range"],
        "digests": data["digests"],
        "log_files": data["log_files"],
        "signatures": data["signatures"],
        "counts": data["counts"],
        **cap({}, "findings", data["findings"]),
        "segments": [], "segments_total": 0, "main_chain_rows": 0, "head": None,
        "unprotected_fields": [], "anchors": [],
    }
