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
from .._caps import FindingList
from .._text import shown
from ..chain.anchors import Anchor
from ..chain.profiles import profile_argument
from ..errors import ArchiveError, AuditAnalyticsError, SchemaError, UsageError, first_line
from ..session import AuditLog
from ..sources.parquet import ParquetSource
from ..storage import locate
from .keys import load_public_key
from .links import run_graph, runs_of
from .manifest import Manifest, read_manifest
from .store import MANIFEST, ArchiveStore, is_archive

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
    """The outcome of a spot check (or of ``verify DIR``).

    ``findings`` lists the first :data:`~audit_analytics._caps.LISTED` findings of
    each kind; ``counts`` has the number of every kind found. ``all`` is True when every
    entry of the manifest was checked (``--all``, or a sample as large as the archive).
    """

    archive: str
    partitions: int
    sampled: list[str]
    seed: int | None
    manifest: Manifest
    findings: FindingList = field(default_factory=FindingList)
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
        """Findings of each kind found, listed or not (kinds with none left out)."""
        return dict(self.findings.totals)

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
            "findings": list(self.findings),
            "findings_total": self.findings.total,
            "links_outside_sample": self.outside_sample,
        }
        if self.findings.truncated:
            doc["findings_truncated"] = True
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
        if self.outside_sample:
            lines.append(f"  {self.outside_sample} link(s) to part files outside the sample "
                         "not followed (the signed manifest records where they lead)")
        for kind, n in self.counts.items():
            lines.append(f"  {kind:<22} {n:>6}")
        listed = list(self.findings)
        for f in listed[:limit]:
            where = f.get("path") or ""
            lines.append(f"  - {f['kind']}: {shown(where)} "
                         f"{shown(f.get('reason') or f.get('id') or '')}".rstrip())
        if self.findings.total > limit:
            more = self.findings.total - min(limit, len(listed))
            lines.append(f"  ... and {more} more (use --json: the first {self.findings.per_kind:,}"
                         " of each kind are listed)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        state = "ok" if self.ok else ", ".join(f"{k}={n}" for k, n in self.counts.items())
        return (f"<ArchiveCheck {shown(repr(self.archive))} {len(self.sampled)}/"
                f"{self.partitions} files {state}>")

    def _repr_html_(self) -> str:
        import html

        colour = "#1a7f37" if self.ok else "#cf222e"
        state = "intact" if self.ok else "tampering evident"
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td style='text-align:right'>{n}</td>"
                       "</tr>" for k, n in self.counts.items())
        text = html.escape(self.summary(limit=0).split("\n", 1)[-1])
        return (f"<div><b>{html.escape(shown(self.archive))}</b>: <span style='color:{colour};"
                f"font-weight:bold'>{state}</span></div><pre>{text}</pre>"
                + (f"<table><tr><th>finding</th><th>n</th></tr>{rows}</table>" if rows else ""))


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
                          all=len(chosen) == n)
    findings = manifest.findings.copy()
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
    findings.extend(_boundaries(entries))
    readable = _verifiable(store, entries, readable, profile, findings)
    if readable:
        rows_found, outside, unlisted = _verify_rows(store, entries, readable, set(chosen), intact,
                                           len(chosen) == n, profile, progress,
                                           verify_options, result)
        findings.extend(rows_found)
        findings.totals.update(unlisted)  # found in the files, beyond those listed
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


def _boundaries(entries: list[dict]) -> list[dict]:
    """Each run start that the manifest says links to the end of a run, against that run.

    The manifest alone tells: a run start whose predecessor is recorded as the last row of
    an entry (or of one of its segments) must carry that row's hash as its
    ``first_prev_hash``. An entry written before such records existed links to the
    previous entry's last row.
    """
    ends: dict[tuple[int, int], str | None] = {}
    for e in entries:
        for run in runs_of(e):
            ends[(e["seq"], run.first_row + run.rows - 1)] = run.last_hash
    out = []
    for k, e in enumerate(entries):
        for run in runs_of(e):
            at = run.prev_at
            if at is None and run.first_row == 0 and k > 0:  # an older manifest's line
                at = {"seq": entries[k - 1]["seq"], "row": entries[k - 1]["rows"] - 1}
            if not isinstance(at, dict) or (at["seq"], at["row"]) not in ends:
                continue
            expected = ends[(at["seq"], at["row"])]
            if run.first_prev_hash != expected:
                before = next((x for x in entries if x["seq"] == at["seq"]), None)
                out.append({"kind": "boundary_mismatch", "path": e["path"],
                            "previous_path": before["path"] if before else None,
                            "first_id": run.first_id, "expected": expected,
                            "found": run.first_prev_hash,
                            "reason": "the run's first_prev_hash is not the hash of the row "
                                      "the manifest says it links to"})
    return out


def _verify_rows(store, entries, readable, in_sample, intact, complete, profile, progress,
                 verify_options, result) -> tuple[list[dict], int, dict[str, int]]:
    """Row-level findings of the chosen files, verified together.

    A complete check (every entry chosen) keeps every finding of the verifier, except a
    run that begins the archive after its predecessor (``unarchived``). A sample judges
    what its files show: a run whose predecessor lies in a file outside the sample is
    counted (``links_outside_sample``), never called deleted; a second chain start is
    named from the manifest's tree of runs, which a sample cannot see whole.
    """
    positions = [i for i, _ in readable]
    source = ArchiveFiles(store, [entries[i]["path"] for i in positions],
                          [rows for _, rows in readable])
    chosen_profile = profile or Counter(entries[i]["profile"] for i in positions
                                        ).most_common(1)[0][0]
    anchors = [Anchor(id=entries[i]["last_id"], hash=entries[i]["last_hash"],
                      line=entries[i]["line"]) for i in positions
               if entries[i]["last_hash"] and entries[i]["last_id"] is not None]
    with AuditLog(source, progress=progress) as audit:
        verification = audit.verify(profile=chosen_profile, anchors=anchors, listed=None,
                                    **verify_options)
    result.verification = verification
    by_uri = {locate(store.uri(entries[i]["path"])).url: i for i in positions}
    graph = run_graph(entries)
    recorded = all("first_prev_at" in e for e in entries)  # every line says where runs link
    run_at = {(graph["runs"][k].seq, graph["runs"][k].first_row): k
              for k in range(len(graph["runs"]))}
    # a run whose predecessor is in a chosen entry is judged, even when that entry's file
    # is gone or unreadable: the gap is real
    read = {entries[i]["seq"] for i in in_sample}
    out, outside = [], 0
    for rec in verification.records:
        rec = dict(rec)
        path, _, row = (rec.get("row") or "").rpartition(" row ")
        i = by_uri.get(path)
        rec["path"] = entries[i]["path"] if i is not None else (path or None)
        if rec["kind"] == "extra_genesis" and not complete and recorded:
            continue  # named below, from the manifest's tree of runs
        if rec["kind"] != "missing_predecessor" or i is None or not row.isdigit():
            out.append(rec)
            continue
        k = run_at.get((entries[i]["seq"], int(row)))
        at = graph["runs"][k].prev_at if k is not None else None
        if at is None and "first_prev_at" in entries[i]:
            # not a run the manifest lists: the file's rows are not the ones signed (its
            # file_digest_mismatch says so); only a complete check can name the gap
            if complete:
                out.append(rec)
            else:
                outside += 1
            continue
        if at is None:  # a line written before manifests said where runs link
            if int(row) == 0:
                at = "unarchived" if i == 0 else {"seq": entries[i - 1]["seq"]}
            else:
                at = "missing" if complete else {"seq": None}  # cannot tell: not read
        if at == "unarchived":
            continue  # the archive begins after this run's predecessor
        if isinstance(at, dict) and at["seq"] not in read:
            outside += 1
            continue
        if at == "missing":
            rec["recorded"] = "the source already lacked this predecessor when it was archived"
        out.append(rec)
    if not complete and recorded:
        out += _extra_genesis(graph, entries, positions, intact)
    listed = Counter(rec["kind"] for rec in verification.records)
    unlisted = {k: n - listed[k] for k, n in verification.counts.items() if n > listed[k]}
    return out, outside, unlisted


def _extra_genesis(graph: dict, entries: list[dict], positions: list[int],
                   intact: set[int]) -> list[dict]:
    """The second chain starts among the sampled (intact) files, named from the manifest."""
    by_seq = {entries[i]["seq"]: i for i in positions if i in intact}
    out = []
    for k, run in enumerate(graph["runs"]):
        if (run.prev_at == "genesis" and graph["root"][k] == k and k != graph["primary"]
                and run.seq in by_seq):
            out.append({"kind": "extra_genesis", "id": run.first_id,
                        "path": entries[by_seq[run.seq]]["path"],
                        "reason": "a second chain start: the manifest's largest tree of runs "
                                  "grown from a genesis row is the main chain"})
    return out
