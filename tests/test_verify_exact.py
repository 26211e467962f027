"""Links, copies and anchors are confirmed on the whole digest, never on a prefix of it.

Each chain here is made with the python-seed producer and then altered so that a digest
shares its first 128 bits (32 hex digits) with another and differs after them.
"""

import json
import random
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import audit_analytics as aa
from audit_analytics.chain import scan as scan_module
from audit_analytics.samples import events, python_seed

ROWS = 60
AT = 23  # the altered row


def _flip_tail(digest: str) -> str:
    """The same first 32 hex digits, every later digit different."""
    return digest[:32] + "".join("0" if c != "0" else "1" for c in digest[32:])


def _rechain_from(rows: list[dict], start: int) -> None:
    """Recompute the hashes from ``start`` on, as a producer rewriting a suffix would."""
    for i in range(start, len(rows)):
        if i > start:
            rows[i]["prev_hash"] = rows[i - 1]["hash"]
        rows[i]["hash"] = python_seed.compute_hash(rows[i])


@pytest.fixture
def chain() -> list[dict]:
    return [dict(r) for r in python_seed.chain(events.generate_events(ROWS, seed=23))]


@pytest.fixture
def near_link(chain) -> list[dict]:
    """Row AT names, as its predecessor, a digest that agrees with row AT-1's on 128 bits."""
    chain[AT]["prev_hash"] = _flip_tail(chain[AT - 1]["hash"])
    _rechain_from(chain, AT)
    return chain


def _write(rows, path, row_group_size=None):
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)
    return path


def _kinds(result) -> Counter:
    return Counter((f["kind"], f["id"]) for f in result.records)


def _assert_missing_at(result, rows):
    assert not result.ok
    assert _kinds(result) == Counter({("missing_predecessor", rows[AT]["id"]): 1})


def test_in_order_link_is_confirmed_on_the_whole_digest(tmp_path, near_link):
    with aa.open(_write(near_link, tmp_path / "c.parquet")) as log:
        _assert_missing_at(log.verify(profile="python-seed"), near_link)


def test_joined_link_is_confirmed_on_the_whole_digest(tmp_path, near_link):
    rows = list(near_link)
    random.Random(5).shuffle(rows)
    with aa.open(_write(rows, tmp_path / "s.parquet")) as log:
        _assert_missing_at(log.verify(profile="python-seed"), near_link)


def test_link_across_a_file_boundary_is_confirmed(tmp_path, near_link):
    folder = tmp_path / "arch"
    folder.mkdir()
    _write(near_link[:AT], folder / "a.parquet")
    _write(near_link[AT:], folder / "b.parquet")
    with aa.open(folder) as log:
        _assert_missing_at(log.verify(profile="python-seed"), near_link)


def test_link_across_a_batch_boundary_is_confirmed(tmp_path, near_link, monkeypatch):
    monkeypatch.setattr(scan_module, "BATCH_ROWS", AT)  # row AT opens the second batch
    with aa.open(_write(near_link, tmp_path / "c.parquet", row_group_size=AT)) as log:
        _assert_missing_at(log.verify(profile="python-seed"), near_link)
    monkeypatch.setattr(scan_module, "BATCH_ROWS", 7)
    with aa.open(_write(near_link, tmp_path / "d.parquet", row_group_size=7)) as log:
        _assert_missing_at(log.verify(profile="python-seed"), near_link)


def test_exact_links_still_verify_across_batches_and_files(tmp_path, chain, monkeypatch):
    monkeypatch.setattr(scan_module, "BATCH_ROWS", 7)
    folder = tmp_path / "arch"
    folder.mkdir()
    for k, start in enumerate(range(0, ROWS, 25)):
        _write(chain[start:start + 25], folder / f"p{k}.parquet", row_group_size=7)
    with aa.open(folder) as log:
        result = log.verify(profile="python-seed")
    assert result.ok, result.records
    assert result.head["id"] == chain[-1]["id"]


def test_cli_reports_the_near_link_and_exits_1(tmp_path, near_link, cli):
    path = _write(near_link, tmp_path / "c.parquet")
    run = cli("verify", path, "--json", "-")
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    assert [(f["kind"], f["id"]) for f in doc["findings"]] == [
        ("missing_predecessor", near_link[AT]["id"])]
    run = cli("verify", path)
    assert run.returncode == 1 and "missing_predecessor" in run.stdout


def test_a_hash_sharing_128_bits_with_another_is_no_copy(tmp_path, chain):
    """Row AT stores a digest that agrees with row 5's on 128 bits; its successor follows.

    Were the two taken for copies of one row, AT+1 would hang off row 5 (a false fork).
    """
    fake = _flip_tail(chain[5]["hash"])
    chain[AT]["hash"] = fake
    chain[AT + 1]["prev_hash"] = fake
    with aa.open(_write(chain, tmp_path / "c.parquet")) as log:
        result = log.verify(profile="python-seed")
    assert _kinds(result) == Counter({("hash_mismatch", chain[AT]["id"]): 1,
                                      ("hash_mismatch", chain[AT + 1]["id"]): 1})
    assert len(result.segment_records) == 1


def test_exact_copies_still_collapse(tmp_path, chain):
    rows = [*chain, dict(chain[AT])]
    with aa.open(_write(rows, tmp_path / "c.parquet")) as log:
        result = log.verify(profile="python-seed")
    assert _kinds(result) == Counter({("duplicate_id", chain[AT]["id"]): 1})
    assert len(result.segment_records) == 1


def _anchor_file(path, anchor):
    path.write_text(json.dumps(anchor) + "\n")
    return path


def test_an_anchor_is_confirmed_on_the_whole_digest(tmp_path, chain):
    data = _write(chain, tmp_path / "c.parquet")
    near = {"id": chain[AT]["id"], "hash": _flip_tail(chain[AT]["hash"])}
    with aa.open(data) as log:
        result = log.verify(profile="python-seed", anchors=_anchor_file(tmp_path / "a", near))
    assert not result.ok
    assert _kinds(result) == Counter({("anchor_mismatch", chain[AT]["id"]): 1})
    assert [a["status"] for a in result.to_dict()["anchors"]] == ["mismatch"]

    absent = {"id": "no-such-event", "hash": _flip_tail(chain[AT]["hash"])}
    with aa.open(data) as log:
        result = log.verify(profile="python-seed", anchors=_anchor_file(tmp_path / "b", absent))
    assert _kinds(result) == Counter({("truncated", "no-such-event"): 1})

    exact = {"id": chain[AT]["id"], "hash": chain[AT]["hash"]}
    with aa.open(data) as log:
        result = log.verify(profile="python-seed", anchors=_anchor_file(tmp_path / "c", exact))
    assert result.ok, result.records
