"""Archive verdicts that must be exact: gaps inside files, hidden files, re-runs, malformed rows."""

import json
import os
import resource
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_archive import events, manifest_lines, write

import audit_analytics as aa
from audit_analytics.samples.activity import chain_table, chain_table_from
from audit_analytics.samples.python_seed import compute_hash


@pytest.fixture
def keys(tmp_path, cli):
    assert cli("keygen", "--out", tmp_path / "k").returncode == 0
    return tmp_path / "k.key", tmp_path / "k.pub"


def _doc(done):
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout)


def _kinds(doc) -> list[tuple]:
    return sorted(((f["kind"], f.get("id")) for f in doc["findings"]), key=str)


def _archive(cli, src, target, key, *args):
    done = cli("archive", src, "--to", target, "--key", key, *args, "--json", "-")
    assert done.returncode == 0, done.stderr
    return _doc(done)


def test_a_row_deleted_inside_a_part_file_is_found_by_every_sample_holding_it(
        cli, tmp_path, keys):
    chained = chain_table(events(400, 4))
    src = write(pa.concat_tables([chained.slice(0, 150), chained.slice(151)]),
                tmp_path / "src.parquet")
    _archive(cli, src, tmp_path / "a", keys[0])
    expected = _kinds(_doc(cli("verify", src, "--json", "-")))
    assert expected == [("missing_predecessor", chained.column("id")[151].as_py())]
    assert _kinds(_doc(cli("verify", tmp_path / "a", "--public-key", keys[1], "--json",
                           "-"))) == expected
    holder = "date=2026-01-02/part-000000.parquet"
    held = set()
    for k, seed in [(1, s) for s in range(4)] + [(2, 0), (2, 1), (3, 0), (4, 0)]:
        done = cli("spot-check", tmp_path / "a", "--public-key", keys[1], "--sample", k,
                   "--seed", seed, "--json", "-")
        doc = _doc(done)
        held.add(holder in doc["sampled"])
        if holder in doc["sampled"]:
            assert done.returncode == 1 and _kinds(doc) == expected, (k, seed)
            assert doc["findings"][0]["path"] == holder
        else:
            assert done.returncode == 0 and _kinds(doc) == [], (k, seed)
    assert held == {True, False}  # samples with the file and without it


def test_an_altered_file_is_its_own_tampering_not_a_deleted_predecessor(cli, tmp_path, keys):
    src = write(chain_table(events(400, 4)), tmp_path / "src.parquet")
    _archive(cli, src, tmp_path / "a", keys[0])
    victim = tmp_path / "a" / "date=2026-01-03/part-000000.parquet"
    table = pq.read_table(victim)
    actions = table.column("action").to_pylist()
    actions[0] = "delete"  # the file's first row: its predecessor is in another file
    pq.write_table(table.set_column(table.schema.get_field_index("action"), "action",
                                    pa.array(actions)), victim)
    for seed in range(12):
        doc = _doc(cli("spot-check", tmp_path / "a", "--public-key", keys[1], "--sample", "1",
                       "--seed", seed, "--json", "-"))
        if doc["sampled"] == ["date=2026-01-03/part-000000.parquet"]:
            break
    else:
        pytest.fail("no seed picked the altered file")
    assert {f["kind"] for f in doc["findings"]} == {"file_digest_mismatch", "hash_mismatch"}
    assert doc["links_outside_sample"] == 1


def _forged_after(table: pa.Table, n: int = 1) -> pa.Table:
    rows = table.to_pylist()
    out, prev = [], rows[-1]["hash"]
    for k in range(n):
        row = dict(rows[-1], id=f"forged-{k}", prev_hash=prev)
        row["hash"] = compute_hash(row)
        prev = row["hash"]
        out.append(row)
    return pa.Table.from_pylist(out, schema=table.schema)


@pytest.mark.parametrize("rel", ["date=2026-01-04/.part-000001.parquet",
                                 "_tmp/part-000000.parquet", ".hidden/x.parquet"])
def test_hidden_files_that_readers_read_are_judged(cli, tmp_path, keys, rel):
    chained = chain_table(events(400, 4))
    src = write(chained, tmp_path / "src.parquet")
    _archive(cli, src, tmp_path / "a", keys[0])
    (tmp_path / "a" / rel).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(_forged_after(chained, 3), tmp_path / "a" / rel)
    pub = keys[1]
    for command in (("verify", tmp_path / "a", "--public-key", pub),
                    ("spot-check", tmp_path / "a", "--public-key", pub, "--all"),
                    ("spot-check", tmp_path / "a", "--public-key", pub, "--sample", "1")):
        done = cli(*command, "--json", "-")
        assert done.returncode == 1, command
        assert [f["path"] for f in _doc(done)["findings"]] == [rel]
    checked = _doc(cli("check", tmp_path / "a", "--only", "chain_integrity", "--public-key",
                       pub, "--json", "-"))
    assert checked["checks"][0]["status"] == "fail"
    with aa.open(tmp_path / "a", public_key=pub) as log:
        assert log.sql("SELECT count(*) AS n FROM events")["n"][0] == 403  # read, and judged
        assert [f["kind"] for f in log.verify().findings] == ["unlisted_file"]
    assert not _doc(cli("reconcile", src, tmp_path / "a", "--json", "-"))["same"]


def test_reruns_archive_every_row_exactly_once_whatever_its_values(cli, tmp_path, keys):
    """Rows with a NULL timestamp, a NULL hash or a NULL id; copies; any sequence of runs."""
    first = chain_table(events(200, 2))
    rows = first.to_pylist()
    rows[60]["timestamp"] = None       # belongs to no day
    rows[120]["hash"] = None           # malformed, and the next row links to nothing
    table = pa.Table.from_pylist(rows, schema=first.schema)
    src = tmp_path / "src.parquet"
    write(table, src)
    target = tmp_path / "a"
    assert _archive(cli, src, target, keys[0])["rows"] == 200
    assert _archive(cli, src, target, keys[0])["rows"] == 0   # nothing new: nothing again
    # the source grows: later rows, one more without a timestamp, a second copy of a row
    more, _ = chain_table_from(events(100, 1, first=200), rows[-1]["hash"])
    late = more.to_pylist()
    late[10]["timestamp"] = None
    grown = pa.concat_tables([table, pa.Table.from_pylist(late, schema=first.schema),
                              table.slice(199, 1)])
    write(grown, src)
    assert _archive(cli, src, target, keys[0])["rows"] == 101  # 100 new (one untimed), a copy
    assert _archive(cli, src, target, keys[0])["rows"] == 0
    reconciled = _doc(cli("reconcile", src, target, "--json", "-"))
    assert reconciled["same"], reconciled["differences"][:3]
    assert reconciled["rows_a"] == reconciled["rows_b"] == 301
    source = _kinds(_doc(cli("verify", src, "--json", "-")))
    assert _kinds(_doc(cli("verify", target, "--public-key", keys[1], "--json", "-"))) == source


def test_a_malformed_row_is_archived_and_reported_never_a_broken_manifest(cli, tmp_path, keys):
    chained = chain_table(events(300, 3))
    rows = chained.to_pylist()
    rows[-1]["hash"] = None            # the file's (and the archive's) last row
    rows[99]["id"] = None              # the first day's last row
    src = write(pa.Table.from_pylist(rows, schema=chained.schema), tmp_path / "src.parquet")
    _archive(cli, src, tmp_path / "a", keys[0])
    entries = [json.loads(x) for x in manifest_lines(tmp_path / "a")]
    assert entries[-1]["last_hash"] is None and entries[0]["last_id"] is None
    source = _doc(cli("verify", src, "--json", "-"))
    archived = _doc(cli("verify", tmp_path / "a", "--public-key", keys[1], "--json", "-"))
    assert _kinds(archived) == _kinds(source) and ("malformed", None) in _kinds(source)
    assert archived["rows"] == 300 and archived["manifest"]["signatures"] == 3
    # the folder stays usable: a later run appends
    more, _ = chain_table_from(events(50, 1, first=300), "0" * 64)
    write(pa.concat_tables([pa.Table.from_pylist(rows, schema=chained.schema), more]), src)
    assert _archive(cli, src, tmp_path / "a", keys[0])["rows"] == 50


def test_junk_in_a_manifest_is_counted_not_listed_line_by_line(cli, tmp_path, keys):
    src = write(chain_table(events(100, 2)), tmp_path / "src.parquet")
    _archive(cli, src, tmp_path / "a", keys[0])
    manifest = tmp_path / "a" / "manifest.jsonl"
    junk = b"x\n" * (2 * 1024 * 1024)  # 4 MB of lines that are not JSON
    manifest.write_bytes(manifest.read_bytes() + junk)
    out = tmp_path / "out.json"

    def limit():  # the check must stay within 1.5 GB of address space beyond the interpreter
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    import subprocess
    import sys
    exe = Path(sys.executable).parent / "audit-analytics"
    done = subprocess.run([str(exe), "verify", str(tmp_path / "a"), "--public-key",
                           str(keys[1]), "--json", str(out)], capture_output=True, text=True,
                          timeout=120, preexec_fn=limit, env=os.environ.copy())
    assert done.returncode == 1, done.stderr
    doc = json.loads(out.read_text())
    assert doc["counts"]["manifest_broken"] == 2 * 1024 * 1024
    assert doc["findings_total"] >= 2 * 1024 * 1024
    assert sum(f["kind"] == "manifest_broken" for f in doc["findings"]) == 1000
    assert out.stat().st_size < 2_000_000
    assert "and 2,097" in done.stdout or "more" in done.stdout


def test_an_archive_begun_mid_chain_records_where_it_begins(cli, tmp_path, keys):
    src = write(chain_table(events(400, 4)), tmp_path / "src.parquet")
    _archive(cli, src, tmp_path / "a", keys[0], "--since", "2026-01-03")
    entries = [json.loads(x) for x in manifest_lines(tmp_path / "a")]
    assert entries[0]["first_prev_at"] == "unarchived"
    assert entries[1]["first_prev_at"] == {"seq": 0, "row": entries[0]["rows"] - 1}
    for args in (("--all",), ("--sample", "1", "--seed", "1")):
        assert cli("spot-check", tmp_path / "a", "--public-key", keys[1], *args).returncode == 0
    # a source whose first row was deleted before it was archived: a gap, not a beginning
    rows = pq.read_table(src).slice(1)
    write(rows, tmp_path / "cut.parquet")
    _archive(cli, tmp_path / "cut.parquet", tmp_path / "b", keys[0])
    assert json.loads(manifest_lines(tmp_path / "b")[0])["first_prev_at"] == "missing"
    assert cli("verify", tmp_path / "b", "--public-key", keys[1]).returncode == 1
    shutil.rmtree(tmp_path / "b")


def test_a_log_hashed_by_another_profile_is_counted_not_listed_row_by_row(cli, tmp_path):
    src = write(chain_table(events(30_000, 3)), tmp_path / "src.parquet")
    out = tmp_path / "out.json"
    done = cli("verify", src, "--profile", "node-seed", "--json", out)
    assert done.returncode == 1
    doc = json.loads(out.read_text())
    assert doc["counts"]["hash_mismatch"] == 30_000 and doc["findings_total"] == 30_000
    assert len(doc["findings"]) == 1000 and doc["findings_truncated"] is True
    assert "29,990 more" in done.stdout
    with aa.open(src) as log:
        result = log.verify(profile="node-seed")
        assert result.counts["hash_mismatch"] == 30_000 and len(result.findings) == 1000
        assert not result.ok


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_a_listed_part_that_is_not_a_regular_file_is_unreadable_never_waited_on(
        cli, tmp_path, keys, kind):
    src = write(chain_table(events(300, 3)), tmp_path / "src.parquet")
    _archive(cli, src, tmp_path / "a", keys[0])
    victim = tmp_path / "a" / "date=2026-01-02/part-000000.parquet"
    victim.unlink()
    if kind == "fifo":
        os.mkfifo(victim)
    elif kind == "device":
        victim.symlink_to("/dev/zero")
    else:
        victim.mkdir()
    for args in (("verify", tmp_path / "a"), ("spot-check", tmp_path / "a", "--all")):
        done = cli(*args, "--public-key", keys[1], "--json", "-")
        assert done.returncode == 1, done.stderr
        unreadable = [f for f in _doc(done)["findings"] if f["kind"] == "unreadable_file"]
        assert [f["path"] for f in unreadable] == ["date=2026-01-02/part-000000.parquet"]
