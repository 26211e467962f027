"""Verification semantics: every finding kind at the right event id, clean chains clean."""

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import audit_analytics as aa
from audit_analytics.samples import events, node_seed, python_seed, tamper

ALL_SAMPLES = sorted(
    __import__("json").loads((__import__("pathlib").Path(__file__).parent.parent
                              / "data_samples" / "expected.json").read_text())
)


@pytest.mark.parametrize("rel", ALL_SAMPLES)
def test_committed_sample_findings(samples, expected, rel):
    spec = expected[rel]
    anchors = samples / spec["anchor"] if spec.get("anchor") else None
    with aa.open(samples / rel) as log:
        result = log.verify(profile="auto", anchors=anchors)
    assert result.profile.name == spec["profile"]
    got = Counter((f["kind"], f["id"]) for f in result.records)
    want = Counter((f["kind"], f["id"]) for f in spec["findings"])
    assert got == want
    assert result.ok is spec["ok"]
    assert result.rows == spec["rows"]


def _write(rows, path, row_group_size=None, schema=None):
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


@pytest.fixture(scope="module")
def py_chain():
    return python_seed.chain(events.generate_events(600, seed=11))


def test_shuffled_chain_verifies_clean(tmp_path, py_chain):
    rows = list(py_chain)
    random.Random(3).shuffle(rows)
    with aa.open(_write(rows, tmp_path / "s.parquet", 97)) as log:
        result = log.verify()
    assert result.ok, result.records
    assert result.head["id"] == py_chain[-1]["id"]
    assert len(result.segment_records) == 1 and result.segment_records[0]["rows"] == 600


def test_equal_timestamps_verify_clean(tmp_path):
    moment = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
    evs = events.generate_events(300, seed=5)
    for ev in evs:
        ev["timestamp"] = moment
    chain = python_seed.chain(evs)
    rows = list(chain)
    random.Random(1).shuffle(rows)
    with aa.open(_write(rows, tmp_path / "eq.parquet")) as log:
        result = log.verify(profile="python-seed")
    assert result.ok, result.records
    assert result.head["id"] == chain[-1]["id"]


def test_partitioned_folder_and_glob_verify_clean(tmp_path, py_chain):
    for day in range(3):
        folder = tmp_path / "arch" / f"date=2026-10-0{day + 1}"
        folder.mkdir(parents=True)
        _write(py_chain[day::3], folder / "part-0.parquet")
    with aa.open(tmp_path / "arch") as log:
        assert log.verify().ok
        assert "date" in log.columns  # hive partition column kept as an extra column
    with aa.open(str(tmp_path / "arch" / "*" / "*.parquet")) as log:
        assert log.verify().ok


def test_microsecond_zero_and_text_timestamps(tmp_path):
    evs = events.generate_events(50, seed=2)
    for i, ev in enumerate(evs):
        ev["timestamp"] = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i)
    chain = python_seed.chain(evs)
    assert all(python_seed.render_timestamp(r["timestamp"]).endswith(":00+00:00") or
               "." not in python_seed.render_timestamp(r["timestamp"]) for r in chain)
    with aa.open(_write(chain, tmp_path / "ts.parquet")) as log:
        assert log.verify(profile="python-seed").ok
    as_text = [{**r, "timestamp": python_seed.render_timestamp(r["timestamp"])} for r in chain]
    with aa.open(_write(as_text, tmp_path / "text.parquet")) as log:
        assert log.verify(profile="auto").ok


def test_node_null_fields_hash_as_null_or_omitted(tmp_path):
    evs = events.generate_events(40, seed=4)
    evs[10]["resource_id"] = None  # logged as null: JSON.stringify wrote "resource_id":null
    del evs[20]["resource_id"]  # logged as undefined: JSON.stringify left the key out
    chain = node_seed.chain(evs)
    assert '"resource_id":null' in node_seed.canonical_text(chain[10])
    assert '"resource_id"' not in node_seed.canonical_text(chain[20])
    rows = [{**r, "resource_id": r.get("resource_id")} for r in chain]  # both stored as NULL
    with aa.open(_write(rows, tmp_path / "n.parquet")) as log:
        result = log.verify(profile="node-seed")
    assert result.ok, result.records
    strict = aa.HashProfile(name="node-null-only", key_order="insertion", item_separator=",",
                            key_separator=":", escape="raw", timestamp="js-iso", null="null")
    with aa.open(tmp_path / "n.parquet") as log:
        result = log.verify(profile=strict)
    assert [f["id"] for f in result.records if f["kind"] == "hash_mismatch"] == [chain[20]["id"]]


def test_every_tamper_kind_at_the_right_id(tmp_path, py_chain):
    for kind in tamper.KINDS:
        rows, findings = tamper.tamper(py_chain, kind, python_seed.compute_hash, seed=9)
        anchors = tmp_path / f"{kind}.jsonl"
        anchors.write_text("".join(
            __import__("json").dumps(a) + "\n" for a in tamper.anchors_for(py_chain)))
        with aa.open(_write(rows, tmp_path / f"{kind}.parquet")) as log:
            result = log.verify(profile="python-seed", anchors=anchors)
        got = Counter((f["kind"], f["id"]) for f in result.records)
        assert got == Counter((f["kind"], f["id"]) for f in findings), kind
        assert not result.ok


def test_fork_reports_parent_children_and_segments(tmp_path, py_chain):
    rows, findings = tamper.tamper(py_chain, "fork", python_seed.compute_hash, seed=1)
    with aa.open(_write(rows, tmp_path / "f.parquet")) as log:
        result = log.verify()
    (fork,) = [f for f in result.records if f["kind"] == "fork"]
    assert fork["id"] == findings[0]["id"]
    assert len(fork["children"]) == 2
    kinds = Counter(s["starts_with"] for s in result.segment_records)
    assert kinds == {"genesis": 1, "fork": 2}
    assert result.head["id"] == py_chain[-1]["id"]
    # the main chain runs from genesis through the longer branch to the head
    main = [s for s in result.segment_records if s["main"]]
    assert [s["starts_with"] for s in main] == ["genesis", "fork"]
    assert sum(s["rows"] for s in main) == len(py_chain)
    assert main[-1]["last_id"] == py_chain[-1]["id"]


def test_hash_mismatch_carries_stored_and_computed(tmp_path, py_chain):
    rows, _ = tamper.tamper(py_chain, "alter", python_seed.compute_hash)
    with aa.open(_write(rows, tmp_path / "a.parquet")) as log:
        result = log.verify()
    (f,) = result.records
    assert f["stored_hash"] != f["computed_hash"]
    altered = next(r for r in rows if r["id"] == f["id"])
    assert f["computed_hash"] == python_seed.compute_hash(altered)
    assert f["row"].startswith(str(tmp_path / "a.parquet"))


def test_unprotected_fields_named(samples):
    with aa.open(samples / "python_seed" / "clean.parquet") as log:
        result = log.verify()
    assert set(result.unprotected_fields) >= {"ip_address", "reason", "actor_type"}
    assert "hash" not in result.unprotected_fields
    assert "action" not in result.unprotected_fields


def test_wrong_profile_is_all_mismatch(samples):
    with aa.open(samples / "node_seed" / "clean.parquet") as log:
        result = log.verify(profile="python-seed")
    assert result.counts["hash_mismatch"] == result.rows


def test_custom_toml_profile(tmp_path, samples):
    toml = tmp_path / "mine.toml"
    toml.write_text('name = "mine"\nbased_on = "node-seed"\n')
    with aa.open(samples / "node_seed" / "clean.parquet") as log:
        result = log.verify(profile=toml)
    assert result.ok and result.profile.name == "mine"


def test_auto_detection_names_profile(samples):
    for name in ("python_seed", "node_seed"):
        with aa.open(samples / name / "clean.parquet") as log:
            result = log.verify(profile="auto")
        assert result.profile.name == name.replace("_", "-")
        assert "detected" in result.profile_note


def test_verification_never_writes_to_source(tmp_path, samples):
    import shutil

    src = tmp_path / "copy.parquet"
    shutil.copy(samples / "python_seed" / "tampered" / "all.parquet", src)
    before = (src.read_bytes(), src.stat().st_mtime_ns)
    with aa.open(src) as log:
        log.verify()
    assert (src.read_bytes(), src.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.parquet"]


def test_result_views(samples):
    with aa.open(samples / "python_seed" / "tampered" / "all.parquet") as log:
        result = log.verify()
        events_df = log.sql("SELECT action, count(*) AS n FROM events GROUP BY ALL")
    assert events_df["n"].sum() == result.rows
    html = result._repr_html_()
    assert "tampering evident" in html and "<table>" in html
    assert "VerifyResult" in repr(result)
    assert set(result.findings.columns) >= {"kind", "id", "row"}
    doc = result.to_dict()
    assert set(doc) >= {"ok", "rows", "profile", "counts", "findings", "unprotected_fields"}
