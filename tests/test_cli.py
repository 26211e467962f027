"""The verify command's contract: exit codes, JSON keys, one-line errors."""

import json

import pytest

from audit_analytics.chain.results import FINDING_KINDS


def _one_line_error(proc):
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_intact_exit_0_and_json(cli, samples):
    proc = cli("verify", samples / "python_seed" / "clean.parquet", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert {"ok", "rows", "profile", "counts", "findings", "unprotected_fields"} <= set(doc)
    assert doc["ok"] is True and doc["rows"] == 2000 and doc["profile"] == "python-seed"
    assert set(doc["counts"]) == set(FINDING_KINDS) and not any(doc["counts"].values())
    assert doc["findings"] == []


def test_tampered_exit_1_with_every_kind(cli, samples, expected):
    rel = "python_seed/tampered/all.parquet"
    proc = cli("verify", samples / rel, "--anchor", samples / expected[rel]["anchor"],
               "--profile", "python-seed", "--json", "-")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False
    assert sorted((f["kind"], f["id"]) for f in doc["findings"]) == sorted(
        (f["kind"], f["id"]) for f in expected[rel]["findings"])
    for f in doc["findings"]:
        assert {"kind", "id"} <= set(f)


def test_human_summary_and_json_file(cli, samples, tmp_path):
    out = tmp_path / "r.json"
    proc = cli("verify", samples / "node_seed" / "tampered" / "alter.parquet", "--json", out)
    assert proc.returncode == 1
    assert "hash_mismatch" in proc.stdout and "TAMPERING" in proc.stdout
    assert json.loads(out.read_text())["counts"]["hash_mismatch"] == 1


def _made(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make_bad, pattern", [
    (lambda p: p / "missing.parquet", "not found"),
    (lambda p: _made(p / "empty.parquet", b""), "empty"),
    (lambda p: _made(p / "junk.parquet", b"hello, world" * 10), "not a readable Parquet"),
    (lambda p: p, "no Parquet files"),
])
def test_bad_sources_exit_2(cli, tmp_path, make_bad, pattern):
    proc = cli("verify", make_bad(tmp_path))
    assert proc.returncode == 2
    assert pattern in _one_line_error(proc)


def test_truncated_parquet_exit_2(cli, tmp_path, samples):
    data = (samples / "python_seed" / "clean.parquet").read_bytes()
    bad = tmp_path / "cut.parquet"
    bad.write_bytes(data[: len(data) // 2])
    proc = cli("verify", bad)
    assert proc.returncode == 2
    assert "Parquet" in _one_line_error(proc)


def test_missing_columns_and_wrong_types_exit_2(cli, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["a"], "hash": ["b"]}), tmp_path / "few.parquet")
    for profile in ("python-seed", "auto"):
        proc = cli("verify", tmp_path / "few.parquet", "--profile", profile)
        assert proc.returncode == 2
        message = _one_line_error(proc)
        assert "lacks column(s)" in message and "prev_hash" in message
        assert "__rk" not in message
    cols = {f: ["x"] for f in ("id", "timestamp", "actor_id", "action", "resource_type",
                               "resource_id", "result", "prev_hash")}
    cols["hash"] = [42]
    pq.write_table(pa.table(cols), tmp_path / "types.parquet")
    proc = cli("verify", tmp_path / "types.parquet", "--profile", "python-seed")
    assert proc.returncode == 2
    assert "'hash'" in _one_line_error(proc)
    pq.write_table(pa.table(cols).slice(0, 0), tmp_path / "none_typed.parquet")
    proc = cli("verify", tmp_path / "none_typed.parquet")  # the type is wrong, rows or not
    assert proc.returncode == 2
    assert "'hash'" in _one_line_error(proc)
    pq.write_table(pa.table({**cols, "hash": ["x"]}).slice(0, 0), tmp_path / "none.parquet")
    proc = cli("verify", tmp_path / "none.parquet")
    assert proc.returncode == 2
    assert "no events" in _one_line_error(proc)


def test_unknown_profile_and_usage_errors_exit_2(cli, samples, tmp_path):
    clean = samples / "python_seed" / "clean.parquet"
    proc = cli("verify", clean, "--profile", "cobol-seed")
    assert proc.returncode == 2 and "unknown profile" in _one_line_error(proc)
    proc = cli("verify", clean, "--no-such-flag")
    assert proc.returncode == 2 and "no-such-flag" in _one_line_error(proc)
    proc = cli("verify")
    assert proc.returncode == 2 and "SOURCE" in _one_line_error(proc)
    bad_anchor = tmp_path / "a.jsonl"
    bad_anchor.write_text("{not json\n")
    proc = cli("verify", clean, "--anchor", bad_anchor)
    assert proc.returncode == 2 and "line 1" in _one_line_error(proc)


def test_undetectable_profile_exit_2(cli, tmp_path, samples):
    import pyarrow.parquet as pq

    table = pq.read_table(samples / "python_seed" / "clean.parquet")
    table = table.set_column(table.schema.get_field_index("hash"), "hash",
                             table.column("prev_hash"))
    pq.write_table(table, tmp_path / "scrambled.parquet")
    proc = cli("verify", tmp_path / "scrambled.parquet")
    assert proc.returncode == 2
    assert "no known hash profile" in _one_line_error(proc)


def test_json_to_unwritable_path_exit_2(cli, samples, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    proc = cli("verify", samples / "python_seed" / "clean.parquet", "--json",
               blocker / "x.json")
    assert proc.returncode == 2
    assert "cannot write" in _one_line_error(proc)
    assert blocker.read_text() == "a file, not a folder"
