"""Tests of the sample producers (audit_analytics/samples) and the committed samples' build.

The samples package is loaded from its files under a private name, so these tests do not
depend on the state of ``audit_analytics/__init__.py``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import re
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "audit_analytics" / "samples"
_PKG = "_aa_samples_under_test"


def _load(name: str):
    if _PKG not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            _PKG, SAMPLES_DIR / "__init__.py", submodule_search_locations=[str(SAMPLES_DIR)]
        )
        pkg = importlib.util.module_from_spec(spec)
        sys.modules[_PKG] = pkg
        spec.loader.exec_module(pkg)
    return importlib.import_module(f"{_PKG}.{name}")


events = _load("events")
python_seed = _load("python_seed")
node_seed = _load("node_seed")
tamper = _load("tamper")
build = _load("build")

HAS_NODE = shutil.which("node") is not None
needs_node = pytest.mark.skipif(not HAS_NODE, reason="node is not installed")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
PROFILES = {"python_seed": python_seed, "node_seed": node_seed}


# --- a small reference verifier: the semantics the expected findings encode ------------
def _ts(v):
    return v if isinstance(v, datetime) else datetime.fromisoformat(v)


def reference_verify(rows, compute_hash, anchors=()):
    """Return sorted findings [{"kind", "id"}] for ``rows`` in any order."""
    findings = set()
    ids: dict[str, int] = {}
    for r in rows:
        ids[r["id"]] = ids.get(r["id"], 0) + 1
    findings |= {("duplicate_id", i) for i, c in ids.items() if c > 1}
    good = []
    for r in rows:
        prev_ok = r["prev_hash"] == "GENESIS" or (
            isinstance(r["prev_hash"], str) and HEX64.match(r["prev_hash"])
        )
        if not (isinstance(r["hash"], str) and HEX64.match(r["hash"])) or not prev_ok:
            findings.add(("malformed", r["id"]))
        else:
            good.append(r)
    by_hash = {}
    for r in good:  # exact copies collapse to one node
        by_hash.setdefault(r["hash"], r)
        if compute_hash(r) != r["hash"]:
            findings.add(("hash_mismatch", r["id"]))
    children: dict[str, set] = {}
    geneses = []
    for h, r in by_hash.items():
        if r["prev_hash"] == "GENESIS":
            geneses.append(r)
            continue
        parent = by_hash.get(r["prev_hash"])
        if parent is None:
            findings.add(("missing_predecessor", r["id"]))
            continue
        children.setdefault(parent["hash"], set()).add(h)
        if _ts(r["timestamp"]) < _ts(parent["timestamp"]):
            findings.add(("timestamp_regression", r["id"]))
    for h, kids in children.items():
        if len(kids) > 1:
            findings.add(("fork", by_hash[h]["id"]))
    geneses.sort(key=lambda r: _ts(r["timestamp"]))
    findings |= {("extra_genesis", r["id"]) for r in geneses[1:]}
    for a in anchors:
        same = [r for r in rows if r["id"] == a["id"]]
        if not same:
            findings.add(("truncated", a["id"]))
        elif all(r["hash"] != a["hash"] for r in same):
            findings.add(("anchor_mismatch", a["id"]))
    return [{"kind": k, "id": i} for k, i in sorted(findings)]


# --- fixtures ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def evs():
    return events.generate_events(600, seed=7)


@pytest.fixture(scope="module")
def edge_events():
    """Hand-made events with the awkward characters, null and a missing key."""
    base = events.generate_events(1, seed=3)[0]
    texts = [
        "José 中文 😀",
        'quote " and backslash \\ and slash /',
        "tab\t newline\n cr\r bs\b ff\f",
        "controls \x01\x02\x1b\x1f",
        "u2028\u2028 u2029\u2029 del\x7f nbsp\xa0",
        "lone surrogate \ud800 end",
        "",
    ]
    out = []
    for i, t in enumerate(texts):
        e = dict(base, id=f"00000000-0000-4000-8000-{i:012d}", resource_id=t, actor_id=t or None)
        out.append(e)
    missing = dict(base, id="00000000-0000-4000-8000-999999999999")
    del missing["resource_type"]  # undefined in JS: the key is omitted from the hash
    out.append(missing)
    return out


# --- events --------------------------------------------------------------------------
def test_events_are_deterministic_and_plausible(evs):
    again = events.generate_events(600, seed=7)
    assert again == evs
    assert events.generate_events(600, seed=8) != evs
    assert all(tuple(e) == events.EVENT_COLUMNS for e in evs)
    ts = [e["timestamp"] for e in evs]
    assert all(a <= b for a, b in zip(ts, ts[1:]))
    assert any(a == b for a, b in zip(ts, ts[1:])), "some equal consecutive timestamps"
    assert any(t.microsecond == 0 for t in ts)
    assert all(t.tzinfo is not None and t.utcoffset().total_seconds() == 0 for t in ts)
    assert {e["actor_type"] for e in evs} == {"user", "service", "system", "anonymous"}
    assert {e["result"] for e in evs} == {"success", "failure", "denied"}
    assert sum(e["result"] == "success" for e in evs) > 0.8 * len(evs)
    assert len({e["id"] for e in evs}) == len(evs)
    text = "".join(str(e["resource_id"]) + str(e["actor_id"]) for e in evs)
    for ch in ("é", "中", "😀", '"', "\\", "\t", "\n", "\x01", "\u2028", "\x7f"):
        assert ch in text, repr(ch)


# --- python-seed ---------------------------------------------------------------------
def test_python_seed_hash_matches_independent_computation(evs):
    entries = python_seed.chain(evs)
    prev = "GENESIS"
    for e in entries:
        assert e["prev_hash"] == prev
        data = {
            k: e[k]
            for k in (
                "id",
                "actor_id",
                "action",
                "resource_type",
                "resource_id",
                "result",
                "prev_hash",
            )
        }
        data["timestamp"] = e["timestamp"].isoformat()
        want = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        assert e["hash"] == want == python_seed.compute_hash(e)
        prev = e["hash"]


def test_python_seed_canonical_text_literal():
    entry = {
        "id": "11111111-1111-4111-8111-111111111111",
        "timestamp": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "actor_id": "u-josé😀",
        "action": "read",
        "resource_type": "report",
        "resource_id": 'a"b\\c/\t\x01\x7f\u2028',
        "result": "success",
        "prev_hash": "GENESIS",
    }
    want = (
        '{"action": "read", "actor_id": "u-jos\\u00e9\\ud83d\\ude00", '
        '"id": "11111111-1111-4111-8111-111111111111", "prev_hash": "GENESIS", '
        '"resource_id": "a\\"b\\\\c/\\t\\u0001\\u007f\\u2028", "resource_type": "report", '
        '"result": "success", "timestamp": "2024-01-02T03:04:05+00:00"}'
    )
    assert python_seed.canonical_text(entry) == want
    assert python_seed.compute_hash(entry) == hashlib.sha256(want.encode()).hexdigest()
    with_us = dict(entry, timestamp=datetime(2024, 1, 2, 3, 4, 5, 120, tzinfo=UTC))
    assert '"timestamp": "2024-01-02T03:04:05.000120+00:00"' in python_seed.canonical_text(with_us)


def test_python_seed_logger_keeps_last_hash(evs):
    logger = python_seed.PythonSeedLogger()
    a = logger.append(evs[0])
    b = logger.append(evs[1])
    assert a["prev_hash"] == "GENESIS" and b["prev_hash"] == a["hash"] != b["hash"]
    assert logger._last_hash == b["hash"]
    assert "hash" not in evs[0]  # events are not modified


def test_seed_verify_chain_baseline(evs):
    chain = python_seed.chain(evs)
    assert python_seed.seed_verify_chain(chain) == 0
    altered, _ = tamper.tamper(chain, "alter", python_seed.compute_hash)
    assert python_seed.seed_verify_chain(altered) == 1
    deleted, _ = tamper.tamper(chain, "delete", python_seed.compute_hash)
    assert python_seed.seed_verify_chain(deleted) > 0
    # text timestamps are hashed as stored
    as_text = [dict(r, timestamp=r["timestamp"].isoformat()) for r in chain]
    assert python_seed.seed_verify_chain(as_text) == 0


def test_seed_verify_chain_misreads_ties_in_file_order(evs):
    """The seed's timestamp ordering breaks on equal timestamps in shuffled files."""
    chain = python_seed.chain(evs)
    shuffled = build._shuffled(chain, "ties")
    assert reference_verify(shuffled, python_seed.compute_hash) == []
    assert python_seed.seed_verify_chain(shuffled) > 0


# --- node-seed -----------------------------------------------------------------------
def test_node_port_escaping_literal():
    entry = {
        "id": "x",
        "timestamp": datetime(2024, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC),
        "actor_id": None,
        "action": "read",
        "resource_type": "report",
        "resource_id": 'é中😀"\\/\t\n\x01\x1f\x7f\u2028\ud800',
        "result": "success",
        "prev_hash": "GENESIS",
    }
    want = (
        '{"id":"x","timestamp":"2024-01-02T03:04:05.678Z","actor_id":null,"action":"read",'
        '"resource_type":"report","resource_id":"é中😀\\"\\\\/\\t\\n\\u0001\\u001f\x7f\u2028'
        '\\ud800","result":"success","prev_hash":"GENESIS"}'
    )
    assert node_seed.canonical_text(entry) == want
    del entry["actor_id"]
    assert '"actor_id"' not in node_seed.canonical_text(entry)


def test_node_port_chain_truncates_to_milliseconds(evs):
    entries = node_seed.chain(evs)
    assert entries[0]["prev_hash"] == "GENESIS"
    for e, ev in zip(entries, evs):
        assert e["timestamp"].microsecond % 1000 == 0
        assert timedelta(0) <= ev["timestamp"] - e["timestamp"] < timedelta(milliseconds=1)
        assert node_seed.render_timestamp(e["timestamp"]).endswith("Z")
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(entries, entries[1:]))


@needs_node
def test_node_port_equals_real_javascript(evs):
    js = node_seed.run_node(evs)
    port = node_seed.chain(evs)
    assert len(js) == len(port) == len(evs)
    for j, p, ev in zip(js, port, evs):
        assert j["timestamp"] == node_seed.render_timestamp(p["timestamp"])
        assert j["timestamp"] == node_seed.render_timestamp(node_seed.to_datetime(ev["timestamp"]))
        assert j["prev_hash"] == p["prev_hash"]
        assert j["hash"] == p["hash"] == node_seed.compute_hash(p)
        for k in events.EVENT_COLUMNS:
            if k != "timestamp":
                assert j[k] == ev[k]


@needs_node
def test_node_port_equals_real_javascript_on_edge_text(edge_events):
    js = node_seed.run_node(edge_events)
    port = node_seed.chain(edge_events)
    assert [j["hash"] for j in js] == [p["hash"] for p in port]
    assert js[0]["resource_id"] == "José 中文 😀"
    assert "resource_type" not in js[-1]


def test_run_node_without_node_raises(evs, monkeypatch):
    monkeypatch.setattr(node_seed.shutil, "which", lambda name: None)
    with pytest.raises(node_seed.NodeNotFoundError):
        node_seed.run_node(evs[:2])


# --- tampering -----------------------------------------------------------------------
@pytest.fixture(scope="module", params=sorted(PROFILES))
def profile_chain(request, evs):
    mod = PROFILES[request.param]
    return mod, mod.chain(evs[:300])


def _by_id(rows):
    out: dict[str, list] = {}
    for r in rows:
        out.setdefault(r["id"], []).append(r)
    return out


def _diff(clean, rows):
    """Return (removed clean rows, added rows, {id: (clean, new)} changed in place)."""
    clean_keys = {json.dumps(r, default=str, sort_keys=True) for r in clean}
    new_keys = {json.dumps(r, default=str, sort_keys=True) for r in rows}
    removed = [r for r in clean if json.dumps(r, default=str, sort_keys=True) not in new_keys]
    added = [r for r in rows if json.dumps(r, default=str, sort_keys=True) not in clean_keys]
    return removed, added


@pytest.mark.parametrize("kind", tamper.KINDS)
def test_tamper_kind_matches_reference_verifier(profile_chain, kind):
    mod, chain = profile_chain
    rows, findings = tamper.tamper(chain, kind, mod.compute_hash)
    anchors = tamper.anchors_for(chain)
    assert reference_verify(rows, mod.compute_hash, anchors) == findings
    assert reference_verify(chain, mod.compute_hash, anchors) == []
    assert findings and all(
        f["kind"]
        in {
            "hash_mismatch",
            "missing_predecessor",
            "fork",
            "extra_genesis",
            "duplicate_id",
            "timestamp_regression",
            "truncated",
            "anchor_mismatch",
            "malformed",
        }
        for f in findings
    )


def test_tamper_does_not_modify_input(profile_chain):
    mod, chain = profile_chain
    snapshot = [dict(r) for r in chain]
    for kind in tamper.KINDS:
        tamper.tamper(chain, kind, mod.compute_hash)
    tamper.tamper_many(chain, tamper.COMBINED_KINDS, mod.compute_hash)
    assert chain == snapshot


def test_tamper_rows_differ_exactly_as_described(profile_chain):
    mod, chain = profile_chain
    h = mod.compute_hash
    n = len(chain)
    at = {k: int(n * f) for k, f in tamper.POSITIONS.items()}
    head = chain[-1]

    rows, f = tamper.tamper(chain, "alter", h)
    removed, added = _diff(chain, rows)
    old = chain[at["alter"]]
    assert removed == [old] and len(added) == 1 and len(rows) == n
    new = added[0]
    assert {k for k in old if old[k] != new[k]} == {"action"}
    assert new["hash"] == old["hash"] != h(new)
    assert f == [{"kind": "hash_mismatch", "id": old["id"]}]

    rows, f = tamper.tamper(chain, "delete", h)
    removed, added = _diff(chain, rows)
    assert removed == [chain[at["delete"]]] and added == [] and len(rows) == n - 1
    assert f == [{"kind": "missing_predecessor", "id": chain[at["delete"] + 1]["id"]}]

    rows, f = tamper.tamper(chain, "insert", h)
    removed, added = _diff(chain, rows)
    parent = chain[at["insert"]]
    assert removed == [] and len(added) == 1
    (forged,) = added
    assert forged["prev_hash"] == parent["hash"] and forged["hash"] == h(forged)
    assert forged["timestamp"] >= parent["timestamp"]
    assert forged["id"] not in {r["id"] for r in chain}
    assert f == [{"kind": "fork", "id": parent["id"]}]

    rows, f = tamper.tamper(chain, "fork", h)
    removed, added = _diff(chain, rows)
    parent, sibling = chain[at["fork"]], chain[at["fork"] + 1]
    assert removed == [] and len(added) == 3
    assert added[0]["prev_hash"] == parent["hash"]
    assert added[0]["timestamp"] == sibling["timestamp"]
    assert [a["prev_hash"] for a in added[1:]] == [a["hash"] for a in added[:-1]]
    assert all(a["hash"] == h(a) for a in added)
    assert f == [{"kind": "fork", "id": parent["id"]}]

    rows, f = tamper.tamper(chain, "extra_genesis", h)
    removed, added = _diff(chain, rows)
    assert removed == [] and len(added) == 1
    (g,) = added
    assert g["prev_hash"] == "GENESIS" and g["hash"] == h(g)
    assert 0 < rows.index(g) < len(rows) - 1
    assert f == [{"kind": "extra_genesis", "id": g["id"]}]

    rows, f = tamper.tamper(chain, "duplicate_id", h)
    removed, added = _diff(chain, rows)
    victim = chain[at["duplicate_id"]]
    assert removed == [] and len(added) == 1
    (d,) = added
    assert d["id"] == victim["id"] and d["hash"] == h(d) != victim["hash"]
    assert d["prev_hash"] == head["hash"] and rows[-1] is d
    assert f == [{"kind": "duplicate_id", "id": victim["id"]}]

    rows, f = tamper.tamper(chain, "duplicate_copy", h)
    victim = chain[at["duplicate_copy"]]
    assert len(rows) == n + 1 and rows[:n] == chain and rows[-1] == victim
    assert f == [{"kind": "duplicate_id", "id": victim["id"]}]

    rows, f = tamper.tamper(chain, "timestamp_regression", h)
    removed, added = _diff(chain, rows)
    assert removed == [] and len(added) == 1
    (r,) = added
    assert r["prev_hash"] == head["hash"] and r["hash"] == h(r)
    assert r["timestamp"] < head["timestamp"]
    assert f == [{"kind": "timestamp_regression", "id": r["id"]}]

    rows, f = tamper.tamper(chain, "truncated", h)
    assert rows == chain[:-5]
    assert f == [{"kind": "truncated", "id": head["id"]}]

    rows, f = tamper.tamper(chain, "rewrite_suffix", h)
    assert rows[: n - 4] == chain[: n - 4] and len(rows) == n
    assert [r["id"] for r in rows] == [r["id"] for r in chain]
    assert all(r["hash"] == h(r) for r in rows)
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(rows, rows[1:]))
    assert all(a["hash"] != b["hash"] for a, b in zip(rows[n - 4 :], chain[n - 4 :]))
    assert f == [{"kind": "anchor_mismatch", "id": head["id"]}]

    rows, f = tamper.tamper(chain, "malformed", h)
    removed, added = _diff(chain, rows)
    assert removed == [] and len(added) == 2
    bad, null = added
    assert bad["prev_hash"] == head["hash"]
    assert len(bad["hash"]) == 64 and not HEX64.match(bad["hash"])
    assert null["prev_hash"] == bad["hash"] and null["hash"] is None
    assert f == sorted(
        [{"kind": "malformed", "id": bad["id"]}, {"kind": "malformed", "id": null["id"]}],
        key=lambda x: x["id"],
    )


def test_tamper_all_combines_findings(profile_chain):
    mod, chain = profile_chain
    rows, findings = tamper.tamper_many(chain, tamper.COMBINED_KINDS, mod.compute_hash)
    singles = []
    for kind in tamper.COMBINED_KINDS:
        singles += [x["kind"] for x in tamper.tamper(chain, kind, mod.compute_hash)[1]]
    assert sorted(x["kind"] for x in findings) == sorted(singles)
    assert reference_verify(rows, mod.compute_hash, tamper.anchors_for(chain)) == findings
    with pytest.raises(ValueError):
        tamper.tamper_many(chain, ["truncated", "rewrite_suffix"], mod.compute_hash)
    with pytest.raises(ValueError):
        tamper.tamper(chain, "nope", mod.compute_hash)


# --- the build -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    a = tmp_path_factory.mktemp("samples_a")
    b = tmp_path_factory.mktemp("samples_b")
    assert build.main([str(a)]) == 0
    assert build.main([str(b)]) == 0
    return a, b


def _files(root: Path):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_build_is_deterministic(built):
    a, b = built
    assert _files(a) == _files(b)
    assert (a / "expected.json").read_bytes() == (b / "expected.json").read_bytes()
    for rel in _files(a):
        if rel.endswith(".parquet"):
            assert pq.read_table(a / rel).equals(pq.read_table(b / rel)), rel
        else:
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert not [p for p in a.rglob("*.tmp")]
    assert all((a / rel).stat().st_mode & 0o044 == 0o044 for rel in _files(a))


def test_build_layout_and_size(built):
    out, _ = built
    expected = json.loads((out / "expected.json").read_text())
    total = sum((out / f).stat().st_size for f in _files(out))
    assert total < 5_000_000
    assert (out / "README.md").exists()
    for prof in PROFILES:
        for kind in (*tamper.KINDS, "all"):
            assert f"{prof}/tampered/{kind}.parquet" in expected
        assert expected[f"{prof}/clean.parquet"]["ok"] is True
        md = pq.ParquetFile(out / prof / "clean.parquet").metadata
        assert md.num_rows == build.N_CLEAN and md.num_row_groups == build.N_CLEAN // 500
        table = pq.read_table(out / prof / "clean.parquet")
        assert table.column_names == list(events.COLUMNS)
        assert str(table.schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
        parts = sorted((out / prof / "clean_text_ts").glob("date=*/part-0.parquet"))
        assert len(parts) > 1
        assert sum(pq.ParquetFile(p).metadata.num_rows for p in parts) == build.N_CLEAN
        anchors = [json.loads(x) for x in (out / prof / "anchors.jsonl").read_text().splitlines()]
        assert len(anchors) == 2 and all(set(a) == {"id", "hash"} for a in anchors)
    producer = expected["node_seed/clean.parquet"]["producer"]
    assert producer.startswith("node_seed.js" if HAS_NODE else "node_seed.py")


def _read_rows(path: Path):
    if path.is_dir():
        rows = []
        for part in sorted(path.glob("date=*/*.parquet")):
            rows += pq.read_table(part).to_pylist()
        return rows
    return pq.read_table(path).to_pylist()


def test_built_samples_match_expected(built):
    out, _ = built
    expected = json.loads((out / "expected.json").read_text())
    for rel, exp in expected.items():
        mod = {"python-seed": python_seed, "node-seed": node_seed}[exp["profile"]]
        rows = _read_rows(out / rel)
        assert len(rows) == exp["rows"], rel
        anchors = []
        if exp["anchor"]:
            anchors = [json.loads(x) for x in (out / exp["anchor"]).read_text().splitlines()]
        assert reference_verify(rows, mod.compute_hash, anchors) == exp["findings"], rel
        assert exp["ok"] is (not exp["findings"])


def test_built_clean_is_shuffled_and_text_ts_is_producer_text(built):
    out, _ = built
    for prof, mod in PROFILES.items():
        rows = pq.read_table(out / prof / "clean.parquet").to_pylist()
        chained = sorted(rows, key=lambda r: r["timestamp"])
        assert [r["id"] for r in rows] != [r["id"] for r in chained]
        text_rows = _read_rows(out / prof / "clean_text_ts")
        by_id = {r["id"]: r for r in rows}
        for t in text_rows:
            assert t["timestamp"] == mod.render_timestamp(by_id[t["id"]]["timestamp"])
    text = [r["timestamp"] for r in _read_rows(out / "python_seed" / "clean_text_ts")]
    assert any(re.search(r"T\d\d:\d\d:\d\d\+00:00$", t) for t in text)  # microsecond 0
    assert any(re.search(r"T\d\d:\d\d:\d\d\.\d{6}\+00:00$", t) for t in text)
    assert all(
        t.endswith("Z")
        for t in (r["timestamp"] for r in _read_rows(out / "node_seed" / "clean_text_ts"))
    )


def test_node_samples_without_node_fall_back_to_the_port(monkeypatch):
    evs = events.generate_events(120, seed=5)
    real, producer = build.node_chain(evs)
    assert producer.startswith("node_seed.js" if HAS_NODE else "node_seed.py")
    monkeypatch.setattr(node_seed.shutil, "which", lambda name: None)
    port, producer = build.node_chain(evs)
    assert producer.startswith("node_seed.py")
    assert port == real
