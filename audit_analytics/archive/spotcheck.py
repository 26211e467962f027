"""``spot-check`` and ``verify DIR``: an archive proved from its manifest and K of its files.

The whole manifest is checked (cheap): every line's form, the chain of ``prev_entry``
digests, every signature, and the expected head when one is given. Then K entries chosen
at random (seeded: the same seed picks the same entries), or all of them: each file's
bytes against the signed SHA-256, its rows' chains (the verifier, over the chosen files
together, with each entry's last event and hash as a trusted anchor) and its boundaries
against the neighbouring entries (``first_prev_hash`` must be the previous entry's
``last_hash``). Nothing else is read, whatever the archive's size: a spot check of K files
costs K files and the manifest, plus one listing of the folder (for ``unlisted_file``).

A tampered file escapes a sample of K of N with probability 1 - K/N: the result states
K/N and the K needed for 95% and 99%.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections import Counter
from dataclasses import dataclass, field

import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .. import _args
from .._text import shown
from ..chain.anchors import Anchor
from ..chain.profiles import profile_argument
from ..errors import ArchiveError, AuditAnalyticsError, SchemaError, UsageError, first_line
from ..session import AuditLog
from ..sources.parquet import ParquetSource
from ..storage import locate
from .keys import load_public_key
from .manifest import Manifest, read_manifest
from .store import MANIFEST, ArchiveStore

__all__ = ["ARCHIVE_FINDING_KINDS", "ArchiveCheck", "ArchiveFiles", "check_archive",
           "choose", "is_archive"]

log = logging.getLogger("audit_analytics")

#: Findings about the archive itself (row-level kinds are the verifier's).
ARCHIVE_FINDING_KINDS = ("missing_file", "unlisted_file", "file_digest_mismatch",
                         "unreadable_file", "bad_signature", "manifest_broken",
                         "boundary_mismatch", "truncated")
DEFAULT_SAMPLE = 10


class ArchiveFiles(ParquetSource):
    """Some part files of an archive, as a Parquet source for the verifier."""

    def __init__(self, store: ArchiveStore, paths: list[str], rows: list[int]) -> None:
        super(ParquetSource, self).__init__(label=store.label, kind="parquet")
        self.locations = [locate(store.uri(p)) for p in paths]
        self.files = [loc.url for loc in self.locations]
        self.hive = True
        self.file_rows = list(rows)
        self.rows = sum(rows)


@dataclass
class ArchiveCheck:
    """The outcome of a spot check (or of ``verify DIR``)."""

    archive: str
    partitions: int
    sampled: list[str]
    seed: int | None
    manifest: Manifest
    findings: list[dict] = field(default_factory=list)
    verification: object = None  # the VerifyResult of the chosen files' rows
    all: bool = False
    outside_sample: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing at all was found."""
        return not self.findings

    @property
    def detection_probability(self) -> float:
        """The chance that the sample holds a given tampered file: K/N."""
        return len(self.sampled) / self.partitions if self.partitions else 1.0

    def sample_needed(self, confidence: float) -> int:
        """The K for which K/N reaches ``confidence``."""
        return min(self.partitions, math.ceil(confidence * self.partitions - 1e-9))

    @property
    def counts(self) -> dict[str, int]:
        """Findings of each kind found (kinds with none left out)."""
        return dict(Counter(f["kind"] for f in self.findings))

    def to_dict(self) -> dict:
        """The JSON ``spot-check --json`` prints."""
        doc = {
            "ok": self.ok,
            "archive": self.archive,
            "partitions": self.partitions,
            "sampled": self.sampled,
            "seed": self.seed,
            "detection_probability": self.detection_probability,
            "sample_for_95": self.sample_needed(0.95),
            "sample_for_99": self.sample_needed(0.99),
            "manifest": self.manifest.summary(),
            "counts": self.counts,
            "findings": self.findings,
            "links_outside_sample": self.outside_sample,
        }
        if self.verification is not None:
            v = self.verification
            doc.update(rows=v.rows, profile=v.profile.name, segments=v.segment_records,
                       head=v.head, anchors=v.anchors,
                       unprotected_fields=v.unprotected_fields)
        return doc

    def summary(self, limit: int = 10) -> str:
        """A short human summary."""
        _args.count(limit, "limit")
        state = "INTACT" if self.ok else "TAMPERING EVIDENT"
        m = self.manifest
        sig = (f"{m.signatures}/{len(m.entries)} signatures valid" if m.signatures_checked
               else "signatures NOT checked (no --public-key)")
        lines = [f"{shown(self.archive)}: {state}: {len(self.sampled)} of {self.partitions} "
                 f"part files checked; manifest {len(m.entries)} entries, {sig}",
                 f"  manifest head: {m.head}"]
        if not self.all:
            lines.append(f"  a given tampered file is in this sample with probability "
                         f"{self.detection_probability:.3f}; K for 95%: "
                         f"{self.sample_needed(0.95)}, for 99%: {self.sample_needed(0.99)}"
                         + (f" (seed {self.seed})" if self.seed is not None else ""))
        if self.verification is not None:
            lines.append(f"  rows verified: {self.verification.rows:,}")
        for kind, n in self.counts.items():
            lines.append(f"  {kind:<22} {n:>6}")
        for f in self.findings[:limit]:
            where = f.get("path") or ""
            lines.append(f"  - {f['kind']}: {shown(where)} "
                         f"{shown(f.get('reason') or f.get('id') or '')}".rstrip())
        if len(self.findings) > limit:
            lines.append(f"  ... and {len(self.findings) - limit} more (use --json for all)")
        return "\n".join(lines)


def check_archive(location, public_key=None, *, sample: int | None = None,
                  everything: bool = False, seed: int | None = None,
                  expect_head: str | None = None, profile: str | None = None,
                  progress: bool | None = None, **verify_options) -> ArchiveCheck:
    """Check an archive's manifest and ``sample`` of its part files (all: ``everything``).

    Parameters
    ----------
    location
        The archive folder (local, or a pyarrow.fs URI).
    public_key
        The ``PREFIX.pub`` file (or a loaded key); ``None`` leaves signatures unchecked.
    sample
        How many part files to check (default :data:`DEFAULT_SAMPLE`, at most all).
    seed
        Seeds the choice; ``None`` draws one (reported, so the check can be repeated).
    expect_head
        The manifest head kept from an earlier ``archive`` run.
    profile
        The hash profile (default: the one the manifest records).

    Raises
    ------
    ArchiveError
        No archive folder, no manifest, a key file that is not a key.
    """
    _args.path(location, "location", expected="an archive folder (a path or s3:// URL)")
    if public_key is None or isinstance(public_key, Ed25519PublicKey):
        public = public_key
    else:
        public = load_public_key(_args.path(public_key, "public_key",
                                            expected="a public key file (PREFIX.pub)"))
    _args.count(sample, "sample", minimum=1, optional=True)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise UsageError(f"seed must be a whole number, not {shown(repr(seed), 80)}",
                         argument="seed")
    _args.flag(everything, "everything")
    profile_argument(profile, optional=True)
    _args.flag(progress, "progress", optional=True)
    if expect_head is not None and (not isinstance(expect_head, str)
                                    or not _is_hex64(expect_head)):
        raise ArchiveError(f"--expect-head must be 64 lowercase hex digits, not "
                           f"{shown(repr(expect_head), 80)}")
    unknown = sorted(set(verify_options) - {"workers", "runner", "scheduler"})
    if unknown:
        raise UsageError(f"unknown option {unknown[0]!r} for check_archive (known besides "
                         "its own: workers, runner, scheduler)", argument=unknown[0])
    store = ArchiveStore(location)
    if not store.is_folder():
        message = (f"archive folder not found: {store.label}" if not store.found() else
                   f"not an archive folder: {store.label} is a file (an archive is the "
                   f"folder holding {MANIFEST})")
        raise ArchiveError(message, path=store.label)
    data = store.manifest()
    if data is None:
        raise ArchiveError(f"{store.label} has no {MANIFEST}: not an archive written by "
                           "audit-analytics archive", path=store.label)
    manifest = read_manifest(data, public, expect_head)
    entries = manifest.entries
    n = len(entries)
    if everything:
        chosen = list(range(n))
    else:
        k = DEFAULT_SAMPLE if sample is None else sample
        if k < 1:
            raise ArchiveError("--sample must be at least 1")
        if seed is None:
            seed = secrets.randbelow(2**31)
        chosen = choose(n, k, seed)
    result = ArchiveCheck(archive=store.label, partitions=n,
                          sampled=[entries[i]["path"] for i in chosen],
                          seed=None if everything else seed, manifest=manifest,
                          all=everything)
    findings = list(manifest.findings)
    listed = {e["path"] for e in entries}
    for rel in store.part_files():
        if rel not in listed:
            findings.append({"kind": "unlisted_file", "path": rel,
                             "reason": "a Parquet file that no manifest entry lists"})
    readable: list[tuple[int, int]] = []
    intact: set[int] = set()
    for i in chosen:
        e = entries[i]
        if not store.exists(e["path"]):
            findings.append({"kind": "missing_file", "path": e["path"], "line": e["line"],
                             "reason": "the manifest lists it; it is not there"})
            continue
        try:
            digest, size = store.digest(e["path"])
        except ArchiveError as exc:  # a folder in its place, an unreadable object
            findings.append({"kind": "unreadable_file", "path": e["path"], "line": e["line"],
                             "reason": str(exc)})
            continue
        if digest != e["sha256"] or size != e["bytes"]:
            findings.append({"kind": "file_digest_mismatch", "path": e["path"],
                             "expected_sha256": e["sha256"], "sha256": digest,
                             "expected_bytes": e["bytes"], "bytes": size,
                             "reason": "the file's bytes are not the ones signed"})
        else:
            intact.add(i)
        rows = _parquet_rows(store, e["path"], findings)
        if rows is not None:
            readable.append((i, rows))
    findings += _boundaries(entries, chosen)
    readable = _verifiable(store, entries, readable, profile, findings)
    if readable:
        rows_found, outside = _verify_rows(store, entries, readable, set(chosen), intact,
                                           everything, profile, progress, verify_options,
                                           result)
        findings += rows_found
        result.outside_sample = outside
    result.findings = findings
    return result


def choose(n: int, k: int, seed: int) -> list[int]:
    """The entries (positions, ascending) a spot check of ``k`` of ``n`` with ``seed`` reads.

    Python's ``random.Random(seed).sample(range(n), min(k, n))``, sorted: the same seed
    always picks the same entries of a manifest of the same length.
    """
    import random

    return sorted(random.Random(seed).sample(range(n), min(k, n)))


def is_archive(location) -> bool:
    """Whether ``location`` is a folder holding an archive manifest.

    Anything that is not a local or object-storage folder (a database URL, a glob, a
    missing path) is not one; what it is, its own source says.
    """
    text = str(location)
    if "://" in text and not text.startswith(("file://", "s3://")):
        return False
    try:
        store = ArchiveStore(location)
        return store.is_folder() and store.exists(MANIFEST)
    except AuditAnalyticsError:
        return False


def _is_hex64(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def _parquet_rows(store: ArchiveStore, rel: str, findings: list) -> int | None:
    try:
        with store.fs.open_input_file(store.path(rel)) as handle:
            return pq.ParquetFile(handle).metadata.num_rows
    except Exception as exc:  # not Parquet, a corrupt footer: a finding, not a crash
        findings.append({"kind": "unreadable_file", "path": rel,
                         "reason": f"not a readable Parquet file ({first_line(exc)})"})
        return None


def _verifiable(store, entries, readable, profile, findings) -> list[tuple[int, int]]:
    """The readable files whose rows the verifier can read (each opened on its own).

    A file without the columns a chain needs (rewritten with other columns, say) is an
    ``unreadable_file`` finding, not an error that would stop the whole check.
    """
    keep = []
    for i, rows in readable:
        rel = entries[i]["path"]
        try:
            source = ArchiveFiles(store, [rel], [rows])
            with AuditLog(source, journal=False) as audit:
                missing = [c for c in ("id", "prev_hash", "hash") if c not in audit.columns]
                if missing:
                    raise SchemaError(f"lacks the column {missing[0]}")
        except AuditAnalyticsError as exc:
            findings.append({"kind": "unreadable_file", "path": rel,
                             "reason": f"its rows cannot be verified ({exc})"})
            continue
        keep.append((i, rows))
    return keep


def _boundaries(entries: list[dict], chosen: list[int]) -> list[dict]:
    """Each chosen entry's first_prev_hash against the previous entry, and the next's."""
    pairs = sorted({(i - 1, i) for i in chosen if i > 0}
                   | {(i, i + 1) for i in chosen if i + 1 < len(entries)})
    out = []
    for a, b in pairs:
        before, after = entries[a], entries[b]
        if after["first_prev_hash"] != before["last_hash"]:
            out.append({"kind": "boundary_mismatch", "path": after["path"],
                        "previous_path": before["path"],
                        "expected": before["last_hash"], "found": after["first_prev_hash"],
                        "reason": "first_prev_hash is not the previous part's last_hash"})
    return out


def _verify_rows(store, entries, readable, in_sample, intact, everything, profile, progress,
                 verify_options, result) -> tuple[list[dict], int]:
    """Row-level findings of the chosen files, verified together."""
    positions = [i for i, _ in readable]
    source = ArchiveFiles(store, [entries[i]["path"] for i in positions],
                          [rows for _, rows in readable])
    chosen_profile = profile or Counter(entries[i]["profile"] for i in positions
                                        ).most_common(1)[0][0]
    anchors = [Anchor(id=entries[i]["last_id"], hash=entries[i]["last_hash"],
                      line=entries[i]["line"]) for i in positions if entries[i]["last_hash"]]
    with AuditLog(source, progress=progress) as audit:
        verification = audit.verify(profile=chosen_profile, anchors=anchors,
                                    **verify_options)
    result.verification = verification
    by_uri = {locate(store.uri(entries[i]["path"])).url: entries[i]["path"] for i in positions}
    # a file's first row links to the entry before it: the boundary check covers that
    # link when the previous entry was not chosen (and at the archive's start); a chosen
    # previous entry whose file is gone leaves a real gap
    first_ids = {}
    for i in positions:
        if i in intact and (i == 0 or (i - 1) not in in_sample):
            first_ids[entries[i]["first_id"]] = entries[i]["path"]
    segment_starts = {}
    if not everything:
        for i in positions:
            if i in intact:
                for seg in entries[i].get("segments") or ():
                    if isinstance(seg, dict):
                        segment_starts[seg.get("first_id")] = entries[i]["path"]
    out, outside = [], 0
    for rec in verification.records:
        rec = dict(rec)
        where = rec.get("row") or ""
        path, _, _ = where.rpartition(" row ")
        rec["path"] = by_uri.get(path, path or None)
        if rec["kind"] == "missing_predecessor" and (
                first_ids.get(rec["id"]) == rec["path"]
                or segment_starts.get(rec["id"]) == rec["path"]):
            outside += 1
            continue
        out.append(rec)
    return out, outside
