"""What a digest validation found: per-file lines in digest order, counts and findings."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field

from .._caps import SHOWN, cut_note
from .._text import shown

__all__ = ["FINDING_KINDS", "Finding", "Line", "ValidationResult", "display_time"]

#: Every kind of finding, in the order they are described.
FINDING_KINDS = ("digest_missing", "digest_signature_invalid", "digest_chain_broken",
                 "digest_moved", "log_file_missing", "log_file_hash_mismatch",
                 "log_file_moved", "log_file_unlisted")


def display_time(when: dt.datetime | None) -> str:
    """``2015-08-17T15:01:31Z``, as validate-logs prints times (``-`` for none)."""
    if when is None:
        return "-"
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Finding:
    """One finding: its ``kind`` (see :data:`FINDING_KINDS`), the ``file`` and a ``detail``."""

    kind: str
    file: str | None
    detail: str

    def to_dict(self) -> dict:
        """``{"kind", "file", "detail"}``."""
        return {"kind": self.kind, "file": self.file, "detail": self.detail}


@dataclass(frozen=True)
class Line:
    """One line of the human output: a digest or log file's status, or a note."""

    what: str  # "Digest file", "Log file" or "" for a note
    file: str | None
    status: str

    def text(self) -> str:
        """The line as printed: tab-separated like validate-logs, values escaped.

        A tab, newline or other control character in a value is shown escaped, so the
        line holds only its own two tabs.
        """
        if not self.what:
            return shown(self.status, 2000)
        return f"{self.what}\t{shown(self.file or '', 2000)}\t{shown(self.status, 2000)}"


@dataclass
class ValidationResult:
    """The validation of one CloudTrail location over a time range.

    Attributes
    ----------
    location
        The location as named.
    start, end
        The range requested (``start`` is ``None`` when none was given).
    found_start, found_end
        The span the digests found cover.
    digests, log_files
        Counts: ``valid``, ``invalid``, ``missing`` (digests also ``unsigned``: valid but
        without a signature to check; log files also ``unlisted``, and ``not_checked``:
        named by a digest whose signature was not checked, and so not read).
    findings
        Every :class:`Finding`, in digest order (newest digest first, per trail).
    lines
        The human output's per-file lines, in the same order.
    allow_unsigned
        Whether digests without a signature are accepted.
    """

    location: str
    start: dt.datetime | None
    end: dt.datetime
    found_start: dt.datetime | None = None
    found_end: dt.datetime | None = None
    digests: dict = field(default_factory=lambda: {"valid": 0, "invalid": 0, "missing": 0,
                                                   "unsigned": 0})
    log_files: dict = field(default_factory=lambda: {"valid": 0, "invalid": 0, "missing": 0,
                                                     "unlisted": 0, "not_checked": 0})
    findings: list[Finding] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    allow_unsigned: bool = False
    public_keys: str | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """No finding, and every digest's signature checked (unless unsigned ones are allowed)."""
        unsigned = self.digests["unsigned"] and not self.allow_unsigned
        return not self.findings and not unsigned and self._seen

    @property
    def _seen(self) -> bool:
        return bool(self.digests["valid"] or self.digests["invalid"] or self.digests["missing"])

    @property
    def signatures_checked(self) -> bool:
        """Whether every digest found had its signature checked."""
        return not self.digests["unsigned"]

    @property
    def counts(self) -> dict[str, int]:
        """Findings by kind (every kind, zeros included)."""
        out = dict.fromkeys(FINDING_KINDS, 0)
        for finding in self.findings:
            out[finding.kind] = out.get(finding.kind, 0) + 1
        return out

    def to_dict(self) -> dict:
        """The JSON document of ``cloudtrail validate --json``."""
        return {
            "ok": self.ok,
            "location": self.location,
            "range": {"start": display_time(self.start) if self.start else None,
                      "end": display_time(self.end),
                      "found_start": display_time(self.found_start) if self.found_start
                      else None,
                      "found_end": display_time(self.found_end) if self.found_end else None},
            "digests": dict(self.digests),
            "log_files": dict(self.log_files),
            "signatures": {"checked": self.signatures_checked,
                           "not_checked": self.digests["unsigned"],
                           "allow_unsigned": self.allow_unsigned,
                           "public_keys": self.public_keys},
            "counts": {k: v for k, v in self.counts.items() if v},
            "findings": [f.to_dict() for f in self.findings],
            "seconds": round(self.elapsed, 3),
        }

    def findings_frame(self):
        """The findings as a pandas DataFrame (``kind``, ``file``, ``detail``)."""
        import pandas as pd

        return pd.DataFrame([f.to_dict() for f in self.findings],
                            columns=["kind", "file", "detail"])

    # --- human output ---------------------------------------------------------------------
    def header(self) -> str:
        """The first line, as validate-logs starts."""
        start = display_time(self.start) if self.start else "the first digest"
        return (f"Validating log files in {shown(self.location, 500)} between {start} and "
                f"{display_time(self.end)}")

    def summary(self) -> str:
        """The closing lines: the range, ``N/M digest files valid``, ``N/M log files valid``."""
        start = display_time(self.start) if self.start else display_time(self.found_start)
        out = [f"Results requested for {start} to {display_time(self.end)}"]
        if not self._seen:
            out.append("No digests found")
            return "\n".join(out)
        if self.found_start and self.found_end:
            out.append(f"Results found for {display_time(self.found_start)} to "
                       f"{display_time(self.found_end)}:")
        else:
            out.append("No valid digests found in range")
        out.append("")
        d = self.digests
        out.append(_ratio(d["valid"], d["invalid"] + d["missing"], "digest"))
        lf = self.log_files
        if lf["valid"] + lf["invalid"] + lf["missing"]:
            out.append(_ratio(lf["valid"], lf["invalid"] + lf["missing"], "log"))
        if lf["unlisted"]:
            out.append(f"{lf['unlisted']} log file(s) in the range listed by no digest")
        if lf["not_checked"]:
            out.append(f"{lf['not_checked']} log file(s) not checked: listed by a digest whose "
                       "signature was not checked")
        if d["unsigned"]:
            out.append(f"{d['unsigned']} digest file(s) without a signature: signatures not "
                       "checked" + ("" if self.allow_unsigned else
                                    " (accept with --allow-unsigned)"))
        return "\n".join(out)

    def text(self) -> str:
        """The whole human output: header, every line in digest order, the summary."""
        return "\n".join([self.header(), "", *(line.text() for line in self.lines), "",
                          self.summary()])

    def __repr__(self) -> str:
        return (f"<ValidationResult {self.location!r} ok={self.ok} digests={self.digests} "
                f"log_files={self.log_files}>")

    def _repr_html_(self) -> str:
        listed = self.findings[:SHOWN]
        rows = "".join(f"<tr><td>{html.escape(f.kind)}</td><td>{html.escape(f.file or '')}"
                       f"</td><td>{html.escape(f.detail)}</td></tr>" for f in listed)
        return (f"<div><b>CloudTrail digests</b>: {html.escape(self.location)}, "
                f"{'valid' if self.ok else 'INVALID'}; digests {self.digests}, log files "
                f"{self.log_files}</div><table>{rows}</table>"
                + cut_note(len(listed), len(self.findings)))


def _ratio(valid: int, invalid: int, name: str) -> str:
    total = valid + invalid
    text = f"{valid}/{total} {name} files valid"
    if invalid:
        text += f", {invalid}/{total} {name} files INVALID"
    return text
