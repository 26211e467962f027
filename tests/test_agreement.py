"""Every path that gives a verdict agrees with every other, over one corpus of tamperings.

The corpus (:mod:`tamper_corpus`) holds a source and a signed archive per case. Over each
case this runs every path that judges the data: ``verify SOURCE``, ``verify DIR``,
``spot-check --all``, ``spot-check --sample K`` for every K, ``reconcile`` of source and
archive, ``check --only chain_integrity`` and the report's integrity section (of the source
and of the archive folder), and the Python API; each through the function the command calls
(a few cases go through the real CLI at the end). Then:

- complete paths over the same data give the same verdict and the same findings;
- the archive of a tampered source reports what ``verify SOURCE`` reports, and reconcile
  finds the two the same; damage done to an archive is reported by every archive path, and
  a reconcile that finds the events changed never meets an intact archive;
- a sample (K of N files) claims nothing a complete check refutes, reports everything the
  manifest and the listing show (read whole whatever K), and every finding local to a file
  it read; it is intact only when it found nothing, and says how many links it could not
  follow;
- each case's complete verdict is the one expected of it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tamper_corpus import build

import audit_analytics as aa
from audit_analytics.archive.spotcheck import check_archive

ROW_KINDS = {"hash_mismatch", "missing_predecessor", "fork", "extra_genesis", "duplicate_id",
             "timestamp_regression", "anchor_mismatch", "malformed"}
#: what the manifest and the folder's listing show: read whole by every archive path
WHOLE_ARCHIVE = {"manifest_broken", "bad_signature", "truncated", "unlisted_file",
                 "boundary_mismatch"}
#: what one file shows by itself
FILE_LOCAL = {"file_digest_mismatch", "missing_file", "unreadable_file", "hash_mismatch",
              "malformed"}
NOW = datetime(2026, 2, 1, tzinfo=UTC)


@dataclass
class Verdict:
    path: str
    ok: bool
    findings: set = field(default_factory=set)
    located: set = field(default_factory=set)   # (kind, key, file) for findings in a file
    complete: bool = True
    sampled: set = field(default_factory=set)


def _key(f: dict) -> tuple:
    kind = f["kind"]
    if kind in ROW_KINDS:
        return kind, f.get("id")
    if kind == "manifest_broken":
        return kind, f.get("line")
    return kind, f.get("id") or f.get("path")


def _verdict(name: str, ok: bool, records, **extra) -> Verdict:
    records = list(records)
    return Verdict(name, ok, {_key(f) for f in records},
                   {(*_key(f), f.get("path")) for f in records if f.get("path")}, **extra)


def _archive_verdict(name: str, result) -> Verdict:
    return _verdict(name, result.ok, result.findings, complete=result.all,
                    sampled=set(result.sampled))


def _check(log) -> Verdict:
    result = log.check(only=["chain_integrity"])
    check = result.checks[0]
    records = check.findings.to_dict("records")
    return _verdict("check --only chain_integrity", check.status != "fail",
                    [{k: v for k, v in r.items() if v == v} for r in records])


def _report(log) -> Verdict:
    report = aa.build_report(log, "2026-01", now=NOW)
    integrity = report.integrity
    assert integrity["findings_total"] == sum(integrity["counts"].values())
    return _verdict("report integrity", integrity["ok"], integrity["findings"])


def judge(case) -> dict[str, list[Verdict]]:
    """Every path's verdict on the case: ``{"source": [...], "archive": [...], ...}``."""
    out: dict[str, list] = {"source": [], "archive": [], "partial": []}
    with aa.open(case.source) as log:
        out["source"].append(_verdict("verify SOURCE", *_plain(log.verify())))
        out["source"].append(_check(log))
        out["source"].append(_report(log))
    options = {"public_key": case.public_key, "expect_head": case.head}
    out["archive"].append(_archive_verdict("verify DIR", check_archive(
        case.archive, case.public_key, everything=True, expect_head=case.head)))
    n = len((case.archive / "manifest.jsonl").read_bytes().splitlines())
    for k in range(1, n + 1):
        result = check_archive(case.archive, case.public_key, sample=k, seed=k,
                               expect_head=case.head)
        out["archive" if k == n else "partial"].append(
            _archive_verdict(f"spot-check --sample {k}", result))
    try:
        log = aa.open(case.archive, **options)
    except aa.SourceError as exc:  # no readable part file left: nothing to read as events
        out["archive_unreadable"] = str(exc)
    else:
        with log:
            out["archive"].append(_archive_verdict("API open(DIR).verify()", log.verify()))
            out["archive"].append(_check(log))
            out["archive"].append(_report(log))
    out["reconcile"] = aa.reconcile(case.source, case.archive).same
    return out


def _plain(result):
    return result.ok, result.records


def assert_agree(case, verdicts: dict) -> None:
    where = f"{case.profile}/{case.name}"
    source, archive, partial = verdicts["source"], verdicts["archive"], verdicts["partial"]
    for group in (source, archive):
        first = group[0]
        for other in group[1:]:
            assert (other.ok, other.findings) == (first.ok, first.findings), (
                f"{where}: {other.path} says {other.ok} {sorted(other.findings)}, "
                f"{first.path} says {first.ok} {sorted(first.findings)}")
    truth = archive[0]
    row_findings = {f for f in truth.findings if f[0] in ROW_KINDS}
    if case.level == "row":
        assert source[0].ok == case.expect_ok, f"{where}: {sorted(source[0].findings)}"
        assert case.expect_kinds <= {k for k, _ in source[0].findings}, where
        assert row_findings == source[0].findings, (
            f"{where}: archive {sorted(truth.findings)} vs source {sorted(source[0].findings)}")
        assert truth.ok == source[0].ok, where
        assert verdicts["reconcile"], f"{where}: the archive does not hold the source's events"
    else:
        assert source[0].ok, where
        assert not truth.ok, f"{where}: damage to the archive not seen"
        assert case.expect_kinds <= {k for k, _ in truth.findings}, (
            f"{where}: {sorted(truth.findings)}")
        assert verdicts["reconcile"] == case.same_events, where
    if not verdicts["reconcile"]:
        assert not truth.ok, f"{where}: reconcile finds other events, the archive is intact"
    for sample in partial:
        label = f"{where} {sample.path}"
        assert sample.findings <= truth.findings, (
            f"{label} claims {sorted(sample.findings - truth.findings)} that the complete "
            f"check does not")
        whole = {f for f in truth.findings if f[0] in WHOLE_ARCHIVE
                 and not (f[0] == "truncated" and f[1] != "manifest.jsonl")}
        assert whole <= sample.findings, f"{label} misses {sorted(whole - sample.findings)}"
        gaps = _recorded_gaps(case.archive)  # gaps the source had: local to their file
        local = {(kind, key) for kind, key, path in truth.located
                 if path in sample.sampled and (kind in FILE_LOCAL or (
                     kind == "missing_predecessor" and (path, key) in gaps))}
        assert local <= sample.findings, f"{label} misses {sorted(local - sample.findings)}"
        assert sample.ok == (not sample.findings), label


def _recorded_gaps(archive) -> set:
    """``(path, first_id)`` of each run the manifest records as linking to no row."""
    out = set()
    for line in (archive / "manifest.jsonl").read_bytes().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        runs = entry.get("segments") or [{**entry, "prev_at": entry.get("first_prev_at")}]
        out |= {(entry.get("path"), r.get("first_id")) for r in runs
                if isinstance(r, dict) and r.get("prev_at") == "missing"}
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build(tmp_path_factory.mktemp("corpus"))


def test_the_corpus_covers_every_kind_of_tampering(corpus):
    names = {(c.level, c.name) for c in corpus}
    for name in ("alter", "delete_first", "delete_middle", "delete_last", "insert", "fork",
                 "duplicate_copy", "duplicate_id", "re_genesis", "rehash_suffix", "reorder",
                 "null_id", "null_hash", "null_timestamp", "null_prev_hash"):
        assert ("row", name) in names
    for name in ("file_altered", "file_row_deleted", "file_deleted", "file_replaced",
                 "hidden_file", "underscore_folder", "manifest_line_removed",
                 "manifest_lines_reordered", "manifest_line_duplicated",
                 "manifest_resigned", "tail_truncated"):
        assert ("archive", name) in names
    assert {c.profile for c in corpus if c.level == "row"} == {"python-seed", "node-seed"}


def test_every_path_agrees_on_every_case(corpus):
    # the cases are independent: judged on every core (fresh processes, as the CLI would)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1),
                             mp_context=context) as pool:
        judged = list(pool.map(judge, corpus))
    failures = []
    for case, verdicts in zip(corpus, judged):
        try:
            assert_agree(case, verdicts)
        except AssertionError as exc:
            failures.append(" ".join(str(exc).split())[:600])
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", ["delete_middle", "hidden_file", "manifest_line_removed",
                                  "clean"])
def test_the_cli_gives_the_same_verdicts(corpus, cli, name):
    case = next(c for c in corpus if c.name == name and c.profile == "python-seed")
    verdicts = judge(case)
    truth = verdicts["archive"][0]
    pub, head = case.public_key, case.head
    runs = {
        "verify DIR": cli("verify", case.archive, "--public-key", pub, "--expect-head", head,
                          "--json", "-"),
        "spot-check --all": cli("spot-check", case.archive, "--public-key", pub, "--all",
                                "--expect-head", head, "--json", "-"),
    }
    for label, done in runs.items():
        doc = json.loads(done.stdout)
        assert done.returncode == (0 if truth.ok else 1), (label, done.stderr)
        assert {_key(f) for f in doc["findings"]} == truth.findings, label
    done = cli("verify", case.source, "--json", "-")
    assert done.returncode == (0 if verdicts["source"][0].ok else 1)
    assert {_key(f) for f in json.loads(done.stdout)["findings"]} == verdicts["source"][0].findings
    checked = cli("check", case.archive, "--only", "chain_integrity", "--public-key", pub,
                  "--expect-head", head, "--json", "-")
    status = json.loads(checked.stdout)["checks"][0]["status"]
    assert status == ("pass" if truth.ok else "fail"), checked.stderr
    reconciled = cli("reconcile", case.source, case.archive, "--json", "-")
    assert json.loads(reconciled.stdout)["same"] == verdicts["reconcile"]


# --- property: random damage, random samples ------------------------------------------------
def _damage(rows: list[dict], ops: list[tuple[str, int]], rng_seed: int) -> list[dict]:
    """Apply ``ops`` (kind, position) to a python-seed chain; returns the stored rows."""
    import random
    from datetime import timedelta

    from audit_analytics.samples.python_seed import compute_hash

    rng = random.Random(rng_seed)
    rows = [dict(r) for r in rows]
    for kind, at in ops:
        at %= len(rows)
        if kind == "delete" and len(rows) > 2:
            del rows[at]
        elif kind == "alter":
            rows[at]["resource_id"] = f"r-{rng.randint(0, 10**6)}"
        elif kind == "fork":
            forged = dict(rows[at], id=f"forged-{rng.randint(0, 10**9)}",
                          prev_hash=rows[at]["hash"],
                          timestamp=rows[at]["timestamp"] + timedelta(hours=rng.randint(0, 30)))
            forged["hash"] = compute_hash(forged)
            rows.append(forged)
        elif kind == "null_hash":
            rows[at]["hash"] = None
    return rows


@given(n=st.integers(20, 70), days=st.integers(1, 5),
       ops=st.lists(st.tuples(st.sampled_from(["delete", "alter", "fork", "null_hash"]),
                              st.integers(0, 10**6)), max_size=3),
       k=st.integers(1, 6), seed=st.integers(0, 10**6))
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_a_sample_never_contradicts_a_full_check(tmp_path_factory, n, days, ops, k, seed):
    import pyarrow.parquet as pq
    from tamper_corpus import to_table
    from test_archive import events

    from audit_analytics.archive.keys import generate_keys
    from audit_analytics.archive.writer import archive_source
    from audit_analytics.samples.activity import chain_table

    folder = tmp_path_factory.mktemp("prop")
    key, pub, _ = generate_keys(folder / "k")
    rows = _damage(chain_table(events(n, days)).to_pylist(), ops, seed)
    pq.write_table(to_table(rows), folder / "src.parquet")
    head = archive_source(folder / "src.parquet", str(folder / "a"), str(key),
                          progress=False).manifest_head
    with aa.open(folder / "src.parquet") as log:
        source = {_key(f) for f in log.verify().records}
    full = check_archive(folder / "a", pub, everything=True, expect_head=head)
    assert {f for f in map(_key, full.findings) if f[0] in ROW_KINDS} == source
    sample = check_archive(folder / "a", pub, sample=k, seed=seed, expect_head=head)
    claimed = {_key(f) for f in sample.findings}
    assert claimed <= {_key(f) for f in full.findings}
    gaps = _recorded_gaps(folder / "a")
    must = {_key(f) for f in full.findings
            if f.get("path") in sample.sampled and (
                f["kind"] in FILE_LOCAL or (f["kind"] == "missing_predecessor"
                                            and (f["path"], f.get("id")) in gaps))}
    assert must <= claimed
