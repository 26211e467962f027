"""The review ledger: a tamper-evident record of every periodic review report produced.

Each report written (CLI ``audit-analytics report`` or :meth:`Report.write`) appends one
line to ``ledger.jsonl`` in the toolkit's home folder (``--home``, else
``$AUDIT_ANALYTICS_HOME``, else ``~/.local/share/audit_analytics``). The lines are
hash-chained with the ``python-seed`` profile, the ledger fields mapped onto the seed's::

    id            a fresh UUID
    timestamp     when the report was generated (UTC, ``datetime.isoformat()``)
    actor_id      who ran it (``--actor``, ``$AUDIT_ANALYTICS_ACTOR`` or the OS user)
    action        "review_report"
    resource_type "review_report"
    resource_id   compact JSON of what was reviewed and what came out:
                  {"end", "kind", "period", "sha256", "source", "start", "version"}
    result        "success"

so the period, the (masked) source, the version and the report's SHA-256 are all covered
by the hash; ``files`` (every written file with its own SHA-256), ``status`` and the
tool's version are details beside them. :meth:`Ledger.verify` re-verifies the chain with
the toolkit's own verifier and re-hashes every report file still present.

:func:`review_cadence` reads the ledger and says whether reviews happened on schedule:
daily for PCI DSS (v4.0 requirement 10.4.1: audit logs reviewed at least once daily),
monthly otherwise (SOC 2 CC4.1/CC7.2 and HIPAA 164.308(a)(1)(ii)(D) leave the frequency to
policy; monthly is the default here).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from . import __version__
from ._chainfile import ChainFile, default_home
from .journal import current_actor, mask_source
from .periods import Period, periods_between, resolve_tz

__all__ = ["CADENCE_RULES", "CadenceResult", "Ledger", "LedgerVerification", "review_cadence",
           "sha256_file"]

FILENAME = "ledger.jsonl"
ACTION = "review_report"

# cadence -> (period kind, default grace in days after the period ends, citation)
CADENCE_RULES: dict[str, tuple[str, int, str]] = {
    "daily": ("day", 1, "PCI DSS v4.0 10.4.1: audit logs are reviewed at least once daily"),
    "weekly": ("week", 3, "policy-defined weekly review"),
    "monthly": ("month", 10, "SOC 2 CC4.1/CC7.2, HIPAA 164.308(a)(1)(ii)(D): information "
                "system activity is reviewed regularly; monthly by this policy"),
}
_REGIME_CADENCE = {"pci_dss": "daily"}
_CONTROLS = {"daily": ["PCI DSS 10.4.1"], "weekly": ["SOC 2 CC4.1"],
             "monthly": ["SOC 2 CC4.1", "SOC 2 CC7.2", "HIPAA 164.308(a)(1)(ii)(D)"]}


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class LedgerVerification:
    """The outcome of :meth:`Ledger.verify`.

    Attributes
    ----------
    chain
        The toolkit's :class:`~audit_analytics.results.VerifyResult` for the ledger file
        (``None`` when the ledger is empty).
    entries
        Entries read.
    problems
        Entries whose ``resource_id`` is not the expected JSON, and report files that no
        longer match their recorded SHA-256 (``kind``: ``bad_entry``, ``report_altered``).
    missing
        Report files recorded but no longer present (moved or deleted; not a failure).
    """

    chain: object | None
    entries: int
    problems: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the chain is intact and no recorded report was altered."""
        return (self.chain is None or self.chain.ok) and not self.problems

    def to_dict(self) -> dict:
        """A JSON-able summary."""
        return {"ok": self.ok, "entries": self.entries,
                "chain": self.chain.to_dict() if self.chain is not None else None,
                "problems": self.problems, "missing_files": self.missing}

    def summary(self) -> str:
        """A short human summary."""
        if self.chain is None:
            return "ledger: empty (no report recorded yet)"
        lines = [self.chain.summary()]
        lines += [f"  - {p['kind']}: {p['detail']}" for p in self.problems]
        if self.missing:
            lines.append(f"  {len(self.missing)} recorded report file(s) no longer present")
        return "\n".join(lines)


class Ledger:
    """The review ledger in a home folder.

    Parameters
    ----------
    home
        The toolkit's home folder (default: ``$AUDIT_ANALYTICS_HOME`` or
        ``~/.local/share/audit_analytics``).
    """

    def __init__(self, home: str | os.PathLike | None = None) -> None:
        from .journal import _context

        self.home = default_home(home or _context["home"])
        self.path = self.home / FILENAME
        self._file = ChainFile(self.path, "ledger")

    def record(self, *, period: Period, source: object, sha256: str, version: int,
               files: dict[str, dict] | None = None, status: str | None = None,
               actor: str | None = None, replaced: bool = False) -> dict:
        """Append one report to the ledger and return the entry."""
        key = {"period": period.label, "kind": period.kind, "start": period.start.isoformat(),
               "end": period.end.isoformat(), "source": mask_source(source),
               "version": int(version), "sha256": sha256}
        return self._file.append(
            {"actor_id": current_actor(actor), "action": ACTION, "resource_type": ACTION,
             "resource_id": json.dumps(key, sort_keys=True, separators=(",", ":")),
             "result": "success"},
            {"files": files or {}, "status": status, "replaced": replaced,
             "tool": f"audit_analytics {__version__}"},
        )

    def entries(self) -> pd.DataFrame:
        """One row per recorded report: who, when, period, source, version, SHA-256, files."""
        rows = []
        for entry in self._file.read():
            key = _key(entry)
            if key is None:
                continue
            rows.append({"id": entry.get("id"), "timestamp": entry.get("timestamp"),
                         "actor_id": entry.get("actor_id"), **key,
                         "status": entry.get("status"), "replaced": entry.get("replaced"),
                         "files": entry.get("files") or {}, "line": entry["__line"]})
        columns = ["id", "timestamp", "actor_id", "period", "kind", "start", "end", "source",
                   "version", "sha256", "status", "replaced", "files", "line"]
        frame = pd.DataFrame.from_records(rows, columns=columns)
        for name in ("timestamp", "start", "end"):
            frame[name] = pd.to_datetime(frame[name], utc=True, errors="coerce",
                                         format="ISO8601")
        return frame

    def verify(self, check_files: bool = True) -> LedgerVerification:
        """Re-verify the chain and, with ``check_files``, re-hash recorded report files."""
        entries = self._file.read()
        chain = self._file.verify()
        out = LedgerVerification(chain=chain, entries=len(entries))
        for entry in entries:
            if "__line_error" in entry:
                continue  # the verifier reports it as malformed
            key = _key(entry)
            if key is None and entry.get("action") == ACTION:
                out.problems.append({"kind": "bad_entry", "line": entry["__line"],
                                     "detail": f"{self.path} line {entry['__line']}: "
                                               "resource_id is not a report key"})
                continue
            if not check_files or key is None:
                continue
            for fmt, info in (entry.get("files") or {}).items():
                path = Path(str(info.get("path", "")))
                recorded = key["sha256"] if info.get("primary") else info.get("sha256")
                if not path.is_file():
                    out.missing.append(str(path))
                elif recorded and sha256_file(path) != recorded:
                    out.problems.append({
                        "kind": "report_altered", "line": entry["__line"],
                        "detail": f"{path} ({fmt}) no longer matches the SHA-256 recorded "
                                  f"at {self.path} line {entry['__line']}"})
        return out

    def __len__(self) -> int:
        return len(self._file.read())


def _key(entry: dict) -> dict | None:
    if entry.get("action") != ACTION:
        return None
    try:
        key = json.loads(entry.get("resource_id") or "")
    except ValueError:
        return None
    if not isinstance(key, dict) or not {"period", "start", "end", "sha256"} <= set(key):
        return None
    return key


# --- review cadence -------------------------------------------------------------------------
@dataclass
class CadenceResult:
    """The ``review_cadence`` evaluation, shaped like a checklist ``CheckResult``.

    Attributes
    ----------
    status
        ``pass`` (every due period reviewed on time), ``warn`` (reviewed, but late) or
        ``fail`` (a due period was never reviewed, or no review is recorded at all).
    findings
        One row per due period not reviewed on time: ``period``, ``start``, ``end``,
        ``due``, ``state`` (``missed`` or ``late``), ``reviewed_at``.
    """

    name: str
    title: str
    status: str
    controls: list[str]
    summary: str
    findings: pd.DataFrame
    metrics: dict

    def to_dict(self) -> dict:
        """JSON-able form, as in the checklist's ``to_dict``."""
        return {"name": self.name, "title": self.title, "status": self.status,
                "controls": self.controls, "summary": self.summary,
                "findings": json.loads(self.findings.to_json(orient="records",
                                                             date_format="iso")),
                "metrics": self.metrics}


def _policy_review(policy) -> tuple[str, int | None]:
    settings = getattr(policy, "settings", {}) or {}
    review = settings.get("review") or {}
    cadence = review.get("cadence")
    if not cadence:
        regime = (settings.get("retention") or {}).get("regime")
        cadence = _REGIME_CADENCE.get(regime, "monthly")
    if cadence not in CADENCE_RULES:
        from .errors import PolicyError

        raise PolicyError(f"unknown review cadence {cadence!r} (expected "
                          f"{', '.join(CADENCE_RULES)})", key="review.cadence")
    return cadence, review.get("grace_days")


def review_cadence(ledger: Ledger | None = None, policy=None, until: datetime | None = None, *,
                   since: datetime | None = None, source: object | None = None,
                   cadence: str | None = None, grace_days: int | None = None) -> CadenceResult:
    """Evaluate whether the periodic reviews were done on schedule.

    Parameters
    ----------
    ledger
        The review ledger (default: the one in the toolkit's home).
    policy
        The policy: its ``[review] cadence`` / ``grace_days`` if present, else daily for
        the PCI DSS retention regime and monthly otherwise. Its time zone draws the days.
    until
        Evaluate periods that ended before this instant (default: now).
    since
        The first period to expect (default: the period of the first recorded review at
        this cadence or finer, else of the first review at all).
    source
        Only reviews of this source (masked label); default: every source.
    cadence, grace_days
        Override the policy's cadence (``daily``, ``weekly``, ``monthly``) and the days
        after a period's end by which its review is due.

    Returns
    -------
    CadenceResult
        ``pass``/``warn``/``fail`` with the missed and late periods as findings.
    """
    ledger = ledger or Ledger()
    if cadence is not None and cadence not in CADENCE_RULES:
        from .errors import PolicyError

        raise PolicyError(f"unknown review cadence {cadence!r} (expected "
                          f"{', '.join(CADENCE_RULES)})", key="review.cadence")
    if cadence is None:
        cadence, policy_grace = _policy_review(policy)
        grace_days = grace_days if grace_days is not None else policy_grace
    kind, default_grace, citation = CADENCE_RULES[cadence]
    grace = timedelta(days=default_grace if grace_days is None else grace_days)
    tz = getattr(policy, "timezone", None) or "UTC"
    until = until or datetime.now(UTC)
    until = until if until.tzinfo else until.replace(tzinfo=UTC)
    frame = ledger.entries()
    if source is not None:
        frame = frame[frame["source"] == mask_source(source)]
    columns = ["period", "start", "end", "due", "state", "reviewed_at"]
    title = f"Reviews performed {cadence}"
    controls = list(_CONTROLS[cadence])
    if frame.empty and since is None:
        return CadenceResult(
            "review_cadence", title, "fail", controls,
            f"no review recorded in the ledger {ledger.path}; {citation}",
            pd.DataFrame(columns=columns),
            {"cadence": cadence, "expected": None, "reviewed": 0, "missed": None, "late": 0})
    if since is None:  # the first review at this cadence (or finer) starts the schedule
        spans = frame["end"] - frame["start"]
        fine = frame[spans <= timedelta(days={"day": 1, "week": 7, "month": 31}[kind],
                                        hours=1)]
        since = (fine if not fine.empty else frame)["start"].min().to_pydatetime()
    start = since
    zone = resolve_tz(tz)
    rows, expected, reviewed_on_time = [], 0, 0
    for period in periods_between(kind, start, until, tz):
        due = period.end + grace
        if due > until:
            continue  # not yet due
        expected += 1
        covering = _covering_review(frame, period, zone)
        if covering is None:
            rows.append([period.label, period.start, period.end, due, "missed", None])
        elif covering > due:
            rows.append([period.label, period.start, period.end, due, "late", covering])
        else:
            reviewed_on_time += 1
    findings = pd.DataFrame(rows, columns=columns)
    missed = int((findings["state"] == "missed").sum())
    late = int((findings["state"] == "late").sum())
    status = "fail" if missed else "warn" if late else "pass"
    summary = (f"{reviewed_on_time}/{expected} {kind}ly review(s) on time"
               if kind != "day" else f"{reviewed_on_time}/{expected} daily review(s) on time")
    if missed:
        labels = findings.loc[findings["state"] == "missed", "period"].head(5).tolist()
        summary += f"; {missed} missed ({', '.join(labels)}{', ...' if missed > 5 else ''})"
    if late:
        summary += f"; {late} late"
    summary += f". {citation}"
    return CadenceResult("review_cadence", title, status, controls, summary, findings,
                         {"cadence": cadence, "grace_days": grace.days, "expected": expected,
                          "reviewed": reviewed_on_time, "missed": missed, "late": late})


def _covering_review(frame: pd.DataFrame, period: Period, zone) -> datetime | None:
    """When ``period`` was fully covered by reviews no coarser than it (else ``None``).

    Every calendar day of the period must lie in some review's period whose length does
    not exceed the period's own; the answer is the latest of the earliest such reviews.
    """
    if frame.empty:
        return None
    span = period.end - period.start
    fits = frame[(frame["end"] - frame["start"] <= span + timedelta(hours=1))
                 & (frame["start"] < period.end) & (frame["end"] > period.start)]
    if fits.empty:
        return None
    latest = None
    day = period.start
    while day < period.end:
        covers = fits[(fits["start"] <= day) & (fits["end"] > day)]
        if covers.empty:
            return None
        first = covers["timestamp"].min().to_pydatetime()
        latest = first if latest is None or first > latest else latest
        local = day.astimezone(zone)
        day = datetime(local.year, local.month, local.day, tzinfo=zone) + timedelta(days=1)
        day = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    return latest
