"""What a verification found, for people (summary, HTML) and for programs (JSON)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .. import _args
from .._caps import LISTED, cap, cut_note
from .._text import shown
from .profiles import HashProfile

if TYPE_CHECKING:  # pandas loads lazily: the CLI starts faster without it
    import pandas as pd

__all__ = ["FINDING_KINDS", "VerifyResult"]

FINDING_KINDS = (
    "hash_mismatch",
    "missing_predecessor",
    "fork",
    "extra_genesis",
    "duplicate_id",
    "timestamp_regression",
    "truncated",
    "anchor_mismatch",
    "malformed",
)

DESCRIPTIONS = {
    "hash_mismatch": "the row's content no longer matches its stored hash (altered)",
    "missing_predecessor": "prev_hash points at no row: the predecessor was deleted",
    "fork": "two or more rows chain to the same predecessor (inserted row or writer race)",
    "extra_genesis": "a second chain start (prev_hash = genesis) besides the real one",
    "duplicate_id": "the same event id appears on more than one row",
    "timestamp_regression": "a row is older than the row it chains to",
    "truncated": "a trusted anchor's event is absent: the log stops short of it",
    "anchor_mismatch": "the anchored event's hash differs from the trusted anchor",
    "malformed": "a row lacks a value the chain needs, or holds an invalid digest",
}


def _safe_frame(frame):
    """``frame`` with its text cells escaped and clipped for display."""
    return frame.map(lambda v: shown(v) if isinstance(v, str) else v)


def _iso(us: int | None) -> str | None:
    if us is None or us == -(2**63):
        return None
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).isoformat()


@dataclass
class VerifyResult:
    """The outcome of verifying one source.

    Attributes
    ----------
    ok
        True when nothing at all was found.
    rows
        Rows verified.
    profile
        The hash profile used (detected, when ``auto`` was asked for).
    findings
        A DataFrame, one row per finding listed: ``kind``, ``id``, ``row`` (where it is)
        and the details of that kind. The first :data:`~audit_analytics._caps.LISTED`
        findings of each kind are listed; ``counts`` has them all.
    segments
        A DataFrame of the chain's unbranched runs: first and last event, rows, how the
        run starts (``genesis``, ``missing_predecessor``, ``fork``...).
    head
        The last event of the main chain (``id``, ``row``, ``timestamp``).
    unprotected_fields
        Present columns the hash does not cover: they can change without detection.
    """

    source: str
    profile: HashProfile
    rows: int
    records: list[dict]
    segment_records: list[dict]
    head: dict | None
    unprotected_fields: list[str]
    anchors: list[dict] = field(default_factory=list)
    profile_note: str | None = None
    elapsed: float = 0.0
    #: Findings of each kind, listed or not (``None``: every finding is in ``records``).
    totals: dict[str, int] | None = None

    # --- construction ---------------------------------------------------------------
    @classmethod
    def build(cls, *, source, profile, profile_note, rows, findings, segments, head,
              names, unprotected, anchors, elapsed, unlisted=None,
              listed: int | None = LISTED) -> VerifyResult:
        """Resolve row positions into event ids and locations.

        ``names`` gives the id, row key and timestamp of every position the findings,
        segments and head name (a :class:`~audit_analytics.chain.link.RowNames`).
        ``unlisted`` counts findings of each kind found but not passed on; ``listed``
        keeps the first findings of each kind (``None``: all of them).
        """

        def ident(at: int):
            return names.id(at) if 0 <= at < rows else None

        def where(at: int) -> str | None:
            return source.locate(names.row_key(at)) if 0 <= at < rows else None

        def stamp(at: int) -> str | None:
            return _iso(names.timestamp(at))

        order = {k: i for i, k in enumerate(FINDING_KINDS)}
        totals = dict.fromkeys(FINDING_KINDS, 0)
        for kind, n in (unlisted or {}).items():
            totals[kind] += n
        kept, listed_of = [], dict.fromkeys(FINDING_KINDS, 0)
        for f in sorted(findings, key=lambda f: (order[f["kind"]], f["position"])):
            totals[f["kind"]] += 1
            if listed is None or listed_of[f["kind"]] < listed:
                listed_of[f["kind"]] += 1
                kept.append(f)
        records = []
        for f in kept:
            at = f.pop("position")
            rec = {"kind": f.pop("kind"), "id": f.pop("id_override", None) or ident(at)}
            if at >= 0:
                rec["row"] = where(at)
            if rec["kind"] == "fork":
                kids = f.pop("children")
                rec["children"] = [ident(c) for c in kids]
                rec["children_rows"] = [where(c) for c in kids]
            elif rec["kind"] == "timestamp_regression":
                p = f.pop("predecessor")
                rec["predecessor_id"] = ident(p)
                rec["timestamp"] = _iso(f.pop("timestamp_us"))
                rec["predecessor_timestamp"] = _iso(f.pop("predecessor_timestamp_us"))
            elif rec["kind"] == "duplicate_id":
                rec["rows"] = [where(p) for p in f.pop("positions")]
                f.pop("rows", None)
            rec.update({k: v for k, v in f.items() if v is not None})
            records.append(rec)
        segs = []
        for s in segments:
            segs.append({
                "first_id": ident(s["start"]),
                "last_id": ident(s["tail"]),
                "rows": s["rows"],
                "starts_with": s["start_kind"],
                "forks_from": ident(s["parent"]) if s["parent"] is not None else None,
                "main": s["main"],
                "first_timestamp": stamp(s["start"]),
                "last_timestamp": stamp(s["tail"]),
            })
        segs.sort(key=lambda s: (not s["main"], s["first_timestamp"] or "", -s["rows"]))
        head_rec = None
        if head is not None:
            head_rec = {"id": ident(head), "row": where(head), "timestamp": stamp(head)}
        return cls(source=source.label, profile=profile, rows=rows, records=records,
                   segment_records=segs, head=head_rec, unprotected_fields=unprotected,
                   anchors=anchors, profile_note=profile_note, elapsed=elapsed,
                   totals=totals)

    # --- views ----------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        """True when the chain is intact: no finding of any kind."""
        return not any(self.counts.values())

    @property
    def counts(self) -> dict[str, int]:
        """Number of findings of each kind, listed or not (every kind, zeros included)."""
        if self.totals is not None:
            return {k: self.totals.get(k, 0) for k in FINDING_KINDS}
        counts = dict.fromkeys(FINDING_KINDS, 0)
        for rec in self.records:
            counts[rec["kind"]] += 1
        return counts

    def add_finding(self, record: dict) -> None:
        """Add a finding found outside the verifier (listed, and counted)."""
        self.records.append(record)
        if self.totals is not None:
            self.totals[record["kind"]] = self.totals.get(record["kind"], 0) + 1

    @property
    def findings_total(self) -> int:
        """Every finding, listed or not."""
        return sum(self.counts.values())

    @property
    def findings(self) -> pd.DataFrame:
        """One row per finding."""
        import pandas as pd

        frame = pd.DataFrame.from_records(self.records)
        if frame.empty:
            frame = pd.DataFrame(columns=["kind", "id", "row"])
        return frame

    @property
    def segments(self) -> pd.DataFrame:
        """The chain's unbranched runs, the main one first."""
        import pandas as pd

        return pd.DataFrame.from_records(
            self.segment_records,
            columns=["first_id", "last_id", "rows", "starts_with", "forks_from", "main",
                     "first_timestamp", "last_timestamp"],
        )

    def to_dict(self) -> dict:
        """The JSON document ``audit-analytics verify --json`` prints.

        ``findings`` holds the first :data:`~audit_analytics._caps.LISTED` findings of
        each kind (``findings_total``, and ``findings_truncated`` when some are not
        listed), ``segments`` the first ``LISTED`` segments (``segments_total``).
        """
        return {
            "ok": self.ok,
            "rows": self.rows,
            "profile": self.profile.name,
            "counts": self.counts,
            **cap({}, "findings", self.records, total=self.findings_total,
                  limit=len(self.records)),
            "unprotected_fields": self.unprotected_fields,
            "source": self.source,
            **cap({}, "segments", self.segment_records),
            "head": self.head,
            "anchors": self.anchors,
            "profile_detection": self.profile_note,
            "seconds": round(self.elapsed, 3),
        }

    def summary(self, limit: int = 10) -> str:
        """A short human summary; values from the log shown escaped and clipped."""
        _args.count(limit, "limit")
        state = "INTACT" if self.ok else "TAMPERING EVIDENT"
        lines = [f"{shown(self.source)}: {state}: {self.rows:,} rows, profile "
                 f"{shown(self.profile.name)}"
                 + (" (detected)" if self.profile_note else "")]
        for kind, n in self.counts.items():
            if n:
                lines.append(f"  {kind:<22} {n:>6}  {DESCRIPTIONS[kind]}")
        main = sum(s["rows"] for s in self.segment_records if s["main"])
        lines.append(f"  segments: {len(self.segment_records)}"
                     + (f" (main chain {main:,} rows)" if main else ""))
        if self.head:
            lines.append(f"  head: {shown(self.head['id'])} at {self.head['timestamp']}")
        if self.anchors:
            confirmed = sum(a["status"] == "confirmed" for a in self.anchors)
            lines.append(f"  anchors: {confirmed}/{len(self.anchors)} confirmed")
        if self.unprotected_fields:
            lines.append("  not covered by the hash: "
                         + ", ".join(shown(f) for f in self.unprotected_fields))
        for rec in self.records[:limit]:
            extra = shown(rec.get("row") or "")
            lines.append(f"  - {rec['kind']}: id {shown(rec['id'])} {extra}".rstrip())
        if self.findings_total > limit:
            lines.append(f"  ... and {self.findings_total - min(limit, len(self.records)):,} "
                         f"more (--json lists the first {LISTED:,} of each kind)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        state = "ok" if self.ok else ", ".join(f"{k}={n}" for k, n in self.counts.items() if n)
        name = self.profile.name
        return (f"<VerifyResult {shown(repr(self.source))} rows={self.rows} "
                f"profile={shown(name)} {state}>")

    def _repr_html_(self) -> str:
        def esc(value) -> str:
            return html.escape(shown(value))

        colour = "#1a7f37" if self.ok else "#cf222e"
        state = "intact" if self.ok else "tampering evident"
        rows = "".join(
            f"<tr><td>{esc(k)}</td><td style='text-align:right'>{n}</td>"
            f"<td>{esc(DESCRIPTIONS[k])}</td></tr>"
            for k, n in self.counts.items() if n
        )
        parts = [
            f"<div><b>{esc(self.source)}</b>: <span style='color:{colour};font-weight:bold'>"
            f"{state}</span>, {self.rows:,} rows, profile <code>{esc(self.profile.name)}</code>"
            f", {len(self.segment_records)} segment(s)</div>"
        ]
        if rows:
            parts.append(f"<table><tr><th>finding</th><th>n</th><th>meaning</th></tr>{rows}"
                         "</table>")
        if self.head:
            parts.append(f"<div>head: <code>{esc(str(self.head['id']))}</code> at "
                         f"{esc(str(self.head['timestamp']))}</div>")
        if self.unprotected_fields:
            parts.append("<div>not covered by the hash: "
                         f"{', '.join(esc(f) for f in self.unprotected_fields)}</div>")
        if self.records:
            parts.append(_safe_frame(self.findings.head(20)).to_html(escape=True, index=False)
                         + cut_note(min(20, len(self.records)), len(self.records)))
        if len(self.segment_records) > 1:
            parts.append("<div>segments</div>" + _safe_frame(self.segments.head(20)).to_html(
                escape=True, index=False)
                + cut_note(min(20, len(self.segment_records)), len(self.segment_records)))
        return "\n".join(parts)
