"""Verification part by part gives what one pass over the same rows gives.

Each tampered chain is written once as one Parquet file and once cut into several files,
rows in the same order: the damage then sits across file boundaries (a fork whose
branches land in different files, a duplicate id across files, a row deleted at a
boundary, a cycle through three files). The findings, segments, head and anchors must be
the same, apart from where a row is (``row`` names a file); with the pure-Python kernel
too, and with the map on a pool of two processes.
"""

import json
import pickle
import random
from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import audit_analytics as aa
from audit_analytics.chain import _pykernel, kernel
from audit_analytics.chain.profiles import BUILTIN_PROFILES
from audit_analytics.chain.scan import PartTask, scan_part
from audit_analytics.samples import events, python_seed, tamper
from audit_analytics.sources import ScanPart

ROWS = 240
PROFILE = "python-seed"


@pytest.fixture(scope="module")
def chain():
    return [dict(r) for r in python_seed.chain(events.generate_events(ROWS, seed=31))]


def _forged(prev: dict, row_id: str, ts=None) -> dict:
    row = dict(prev)
    row.update(id=row_id, prev_hash=prev["hash"], action="export",
               timestamp=ts or prev["timestamp"] + timedelta(seconds=1))
    row["hash"] = python_seed.compute_hash(row)
    return row


def _fork_across(chain):
    """A 3-row branch from row 50 (inside the first file), written in the last file."""
    rows = [dict(r) for r in chain]
    branch = [_forged(rows[50], "branch-0")]
    for k in (1, 2):
        branch.append(_forged(branch[-1], f"branch-{k}"))
    return rows + branch


def _duplicate_id_across(chain):
    rows = [dict(r) for r in chain]
    rows.append(_forged(rows[-1], rows[10]["id"]))  # another event reusing row 10's id
    return rows


def _delete_at_boundary(chain):
    rows = [dict(r) for r in chain]
    del rows[ROWS // 3]  # the first row of the second file
    return rows


def _copy_across(chain):
    rows = [dict(r) for r in chain]
    rows.insert(ROWS - 20, dict(rows[30]))  # an exact copy of row 30, in the last file
    return rows


def _cycle_across(chain):
    rows = [dict(r) for r in chain]
    rows[100]["prev_hash"] = rows[-1]["hash"]  # row 100 (second file) names the head
    return rows


def _regression_at_boundary(chain):
    rows = [dict(r) for r in chain]
    at = ROWS // 3
    rows[at]["timestamp"] = rows[at - 1]["timestamp"] - timedelta(minutes=5)
    rows[at]["hash"] = python_seed.compute_hash(rows[at])
    for i in range(at + 1, len(rows)):
        rows[i]["prev_hash"] = rows[i - 1]["hash"]
        rows[i]["hash"] = python_seed.compute_hash(rows[i])
    return rows


def _shuffled(chain):
    rows = _fork_across(chain)
    random.Random(4).shuffle(rows)
    return rows


def _combined(chain):
    rows, _ = tamper.tamper(chain, "rewrite_suffix", python_seed.compute_hash, seed=3)
    rows = _copy_across(_fork_across(rows))
    del rows[2 * ROWS // 3]
    return rows


CASES = {
    "fork_across": _fork_across,
    "duplicate_id_across": _duplicate_id_across,
    "delete_at_boundary": _delete_at_boundary,
    "copy_across": _copy_across,
    "cycle_across": _cycle_across,
    "regression_at_boundary": _regression_at_boundary,
    "shuffled": _shuffled,
    "combined": _combined,
    **{f"tamper_{kind}": (lambda c, kind=kind: tamper.tamper(
        c, kind, python_seed.compute_hash, seed=9)[0]) for kind in tamper.KINDS},
}


def _write(rows, folder, cuts):
    folder.mkdir(parents=True)
    bounds = [0, *cuts, len(rows)]
    for k in range(len(bounds) - 1):
        pq.write_table(pa.Table.from_pylist(rows[bounds[k]:bounds[k + 1]]),
                       folder / f"part-{k}.parquet", row_group_size=17)
    return folder


def _anchors(tmp_path, chain):
    path = tmp_path / "anchors.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in tamper.anchors_for(chain)))
    return path


def _placeless(doc: dict) -> dict:
    """The result without what depends on the file layout: where rows are, the source."""
    doc = json.loads(json.dumps(doc, default=str))
    for key in ("seconds", "source"):
        doc.pop(key)
    for f in doc["findings"]:
        f.pop("row", None)
        f.pop("children_rows", None)
        if f["kind"] == "duplicate_id":
            f.pop("rows")
    if doc["head"]:
        doc["head"].pop("row")
    return doc


def _verify(path, anchors, workers=1) -> dict:
    with aa.open(path) as log:
        return log.verify(profile=PROFILE, anchors=anchors, workers=workers).to_dict()


@pytest.fixture(params=["native", "python"])
def kernel_impl(request, monkeypatch):
    if request.param == "python":
        monkeypatch.setattr(kernel, "_impl", _pykernel)
        monkeypatch.setenv(kernel.KERNEL_ENV, "python")  # worker processes too
    return request.param


@pytest.mark.parametrize("case", sorted(CASES))
def test_parts_give_the_one_pass_result(tmp_path, chain, case, kernel_impl):
    rows = CASES[case](chain)
    anchors = _anchors(tmp_path, chain)
    one = _verify(_write(rows, tmp_path / "one", []), anchors)
    n = len(rows)
    many = _verify(_write(rows, tmp_path / "many", [n // 3, 2 * n // 3, n - 3]), anchors)
    assert not one["ok"]
    assert _placeless(many) == _placeless(one)


def test_fork_across_files_names_both_branches(tmp_path, chain):
    rows = _fork_across(chain)
    doc = _verify(_write(rows, tmp_path / "many", [80, 160]), None)
    (fork,) = [f for f in doc["findings"] if f["kind"] == "fork"]
    assert fork["id"] == chain[50]["id"]
    assert fork["children"] == [chain[51]["id"], "branch-0"]
    assert fork["children_rows"][1].startswith(str(tmp_path / "many" / "part-2.parquet"))
    assert [s["starts_with"] for s in doc["segments"]] == ["genesis", "fork", "fork"]
    assert doc["head"]["id"] == chain[-1]["id"]


@pytest.mark.parametrize("case", ["combined", "shuffled", "cycle_across", "tamper_malformed"])
def test_two_workers_give_the_serial_result(tmp_path, chain, case, kernel_impl):
    rows = CASES[case](chain)
    anchors = _anchors(tmp_path, chain)
    n = len(rows)
    folder = _write(rows, tmp_path / "many", [n // 4, n // 2, 3 * n // 4])
    serial, pooled = _verify(folder, anchors), _verify(folder, anchors, workers=2)
    serial.pop("seconds")
    pooled.pop("seconds")
    assert pooled == serial


def test_cli_workers(tmp_path, chain, cli):
    rows = _combined(chain)
    folder = _write(rows, tmp_path / "many", [60, 120, 180])
    runs = [cli("--no-progress", "verify", folder, "--profile", PROFILE, "--json", "-",
                "--workers", w) for w in ("1", "2")]
    assert [r.returncode for r in runs] == [1, 1], runs[1].stderr
    docs = [json.loads(r.stdout) for r in runs]
    for doc in docs:
        doc.pop("seconds")
    assert docs[0] == docs[1]
    bad = cli("verify", folder, "--workers", "0")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_workers_must_be_a_positive_whole_number(samples):
    with aa.open(samples / "python_seed" / "clean.parquet") as log:
        for bad in (0, -1, 1.5, True):
            with pytest.raises(ValueError, match="workers"):
                log.verify(workers=bad)


def test_the_map_takes_and_gives_small_picklable_data(tmp_path, chain):
    path = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist(chain), path)
    part = ScanPart.parquet(str(path), 7 << 40, len(chain))
    task = PartTask(part=part, profile=BUILTIN_PROFILES[PROFILE], index=0)
    assert pickle.loads(pickle.dumps(task)).part == part
    result = scan_part(pickle.loads(pickle.dumps(task)))
    assert result.rows == len(chain) and not result.findings
    assert len(result.nodes["start"]) == 1  # one run: the whole intact chain
    assert result.rk_first == 7 << 40 and result.rks is None
    # per row: two 64-bit hashes; the rest is per run or per named row
    assert len(pickle.dumps(result)) < 16 * len(chain) + 3_000
