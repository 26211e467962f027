"""Stored timestamps of every unit: seconds, milliseconds, microseconds and nanoseconds.

pandas writes a ``datetime64[ns, UTC]`` column as Parquet ``timestamp[ns, UTC]`` (DuckDB's
TIMESTAMPTZ_NS). A producer's text holds at most microseconds (python-isoformat) or
milliseconds (js-iso): a stored timestamp with digits below that is not the value that was
hashed, whatever the rest of the row says, and is a ``hash_mismatch`` on exactly that row.
"""

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import audit_analytics as aa
from audit_analytics.samples import events, node_seed, python_seed


@pytest.fixture(scope="module")
def py_chain():
    return python_seed.chain(events.generate_events(120, seed=23))


def _pandas_file(rows, path, unit="ns", nudge=None):
    """``rows`` written by pandas with the timestamp in ``unit``; ``nudge`` adds 1 ns to it."""
    frame = pd.DataFrame(rows)
    frame["timestamp"] = frame["timestamp"].astype(f"datetime64[{unit}, UTC]")
    if nudge is not None:
        frame.loc[nudge, "timestamp"] += pd.Timedelta(1, "ns")
    frame.to_parquet(path)
    return path


def test_pandas_writes_nanoseconds_with_a_zone(tmp_path, py_chain):
    path = _pandas_file(py_chain, tmp_path / "ns.parquet")
    assert pq.read_schema(path).field("timestamp").type == pa.timestamp("ns", "UTC")


def test_clean_pandas_chain_is_intact(tmp_path, cli, py_chain):
    path = _pandas_file(py_chain, tmp_path / "ns.parquet")
    with aa.open(path) as log:
        result = log.verify()
    assert result.ok, result.records
    assert result.profile.name == "python-seed" and result.rows == len(py_chain)
    done = cli("verify", path, "--json", "-")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True


def test_one_nanosecond_more_is_a_mismatch_on_that_row(tmp_path, cli, py_chain):
    path = _pandas_file(py_chain, tmp_path / "ns1.parquet", nudge=37)
    done = cli("verify", path, "--profile", "python-seed", "--json", "-")
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert [(f["kind"], f["id"]) for f in doc["findings"]] == [
        ("hash_mismatch", py_chain[37]["id"])]
    finding = doc["findings"][0]
    stamp = py_chain[37]["timestamp"].strftime("%Y-%m-%dT%H:%M:%S.%f") + "001+00:00"
    assert stamp in finding["reason"] and "nanosecond" in finding["reason"]
    assert finding["stored_hash"] == py_chain[37]["hash"]
    assert "computed_hash" not in finding  # no text the producer could write holds it
    with aa.open(path) as log:  # the profile detected on the sample is the same
        result = log.verify()
    assert [(f["kind"], f["id"]) for f in result.records] == [
        ("hash_mismatch", py_chain[37]["id"])]


def test_pure_python_kernel_agrees(tmp_path, cli, py_chain):
    path = _pandas_file(py_chain, tmp_path / "ns1.parquet", nudge=5)
    done = cli("verify", path, "--json", "-", env={"AUDIT_ANALYTICS_KERNEL": "python"})
    assert done.returncode == 1, done.stderr
    assert [(f["kind"], f["id"]) for f in json.loads(done.stdout)["findings"]] == [
        ("hash_mismatch", py_chain[5]["id"])]


@pytest.mark.parametrize("unit, zone", [("s", None), ("ms", None), ("us", None),
                                        ("ns", None), ("s", "UTC"), ("ms", "UTC"),
                                        ("ns", "UTC")])
def test_every_unit_with_or_without_zone_verifies(tmp_path, cli, unit, zone):
    # whole seconds: every unit holds them exactly
    evs = events.generate_events(60, seed=4)
    for ev in evs:
        ev["timestamp"] = ev["timestamp"].replace(microsecond=0)
    chain = python_seed.chain(evs)
    table = pa.Table.from_pylist(chain)
    index = table.schema.get_field_index("timestamp")
    stamps = table.column("timestamp").cast(pa.timestamp("us")).cast(pa.timestamp(unit, zone))
    path = tmp_path / f"{unit}-{zone}.parquet"
    pq.write_table(table.set_column(index, "timestamp", stamps), path)
    done = cli("verify", path, "--profile", "python-seed", "--json", "-")
    assert done.returncode == 0, done.stderr


def test_microseconds_under_js_iso_are_a_mismatch(tmp_path, cli):
    chain = node_seed.chain(events.generate_events(40, seed=8))
    table = pa.Table.from_pylist(chain)
    index = table.schema.get_field_index("timestamp")
    stamps = table.column("timestamp").cast(pa.timestamp("us", "UTC")).to_pylist()
    path = tmp_path / "clean.parquet"
    pq.write_table(table.set_column(index, "timestamp", pa.array(stamps, pa.timestamp(
        "us", "UTC"))), path)
    assert cli("verify", path, "--profile", "node-seed").returncode == 0
    stamps[9] = stamps[9].replace(microsecond=stamps[9].microsecond + 1)
    path = tmp_path / "us.parquet"
    pq.write_table(table.set_column(index, "timestamp", pa.array(stamps, pa.timestamp(
        "us", "UTC"))), path)
    done = cli("verify", path, "--profile", "node-seed", "--json", "-")
    assert done.returncode == 1, done.stderr
    findings = json.loads(done.stdout)["findings"]
    assert [(f["kind"], f["id"]) for f in findings] == [("hash_mismatch", chain[9]["id"])]
    assert "millisecond" in findings[0]["reason"]


def test_check_report_archive_load_and_profile_test_read_it(tmp_path, cli, py_chain):
    path = _pandas_file(py_chain, tmp_path / "ns.parquet")
    day = py_chain[0]["timestamp"].strftime("%Y-%m")
    done = cli("check", path, "--json", "-")
    assert done.returncode in (0, 1), done.stderr
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert "timestamp:missing" not in checks["required_fields"]["summary"]
    done = cli("report", path, "--period", day, "--out", tmp_path / "reports")
    assert done.returncode in (0, 1), done.stderr
    assert cli("keygen", "--out", tmp_path / "k").returncode == 0
    done = cli("archive", path, "--to", tmp_path / "arch", "--key", tmp_path / "k.key",
               "--json", "-")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == len(py_chain)
    assert cli("verify", tmp_path / "arch").returncode == 0
    assert cli("reconcile", path, tmp_path / "arch").returncode == 0
    done = cli("load", path, "--into", tmp_path / "db.duckdb", "--json", "-")
    assert done.returncode == 0, done.stderr
    assert cli("verify", tmp_path / "db.duckdb").returncode == 0
    done = cli("profile", "test", path, "--profile", "python-seed", "--rows", "3")
    assert done.returncode == 0, done.stderr


def test_nanoseconds_survive_load_and_archive_as_findings(tmp_path, cli, py_chain):
    path = _pandas_file(py_chain, tmp_path / "ns1.parquet", nudge=11)
    done = cli("load", path, "--into", tmp_path / "db.duckdb", "--json", "-")
    assert done.returncode == 0, done.stderr
    done = cli("verify", tmp_path / "db.duckdb", "--json", "-")
    assert done.returncode == 1, done.stderr
    assert [(f["kind"], f["id"]) for f in json.loads(done.stdout)["findings"]] == [
        ("hash_mismatch", py_chain[11]["id"])]


def test_nanoseconds_loaded_after_microseconds_are_kept(tmp_path, cli, py_chain):
    first = tmp_path / "us.parquet"
    pd.DataFrame(py_chain[:60]).to_parquet(first)  # microseconds: the file's column
    assert pq.read_schema(first).field("timestamp").type == pa.timestamp("us", "UTC")
    later = _pandas_file(py_chain, tmp_path / "ns1.parquet", nudge=80)
    target = tmp_path / "db.duckdb"
    assert cli("load", first, "--into", target).returncode == 0
    done = cli("load", later, "--into", target, "--json", "-")
    assert done.returncode == 0, done.stderr
    done = cli("verify", target, "--json", "-")
    assert done.returncode == 1, done.stderr
    assert [(f["kind"], f["id"]) for f in json.loads(done.stdout)["findings"]] == [
        ("hash_mismatch", py_chain[80]["id"])]
    clean = _pandas_file(py_chain, tmp_path / "ns.parquet")  # nothing finer: column kept
    target = tmp_path / "db2.duckdb"
    assert cli("load", first, "--into", target).returncode == 0
    assert cli("load", clean, "--into", target).returncode == 0
    assert cli("verify", target).returncode == 0


def test_nanoseconds_a_column_cannot_take_are_refused(tmp_path, cli, py_chain):
    far = [dict(row, timestamp=row["timestamp"].replace(year=2400)) for row in py_chain[:5]]
    first = tmp_path / "far.parquet"
    pd.DataFrame(far).to_parquet(first)  # microseconds past 2262: no nanosecond type holds it
    target = tmp_path / "db.duckdb"
    assert cli("load", first, "--into", target).returncode == 0
    before = target.read_bytes()
    done = cli("load", _pandas_file(py_chain, tmp_path / "ns1.parquet", nudge=80),
               "--into", target)
    assert done.returncode == 2, done.stderr
    error = done.stderr.strip().splitlines()[-1]  # after a warning: stamped in the future
    assert "cannot hold" in error and "Traceback" not in done.stderr
    assert target.read_bytes() == before


def test_profile_test_shows_why_the_row_does_not_match(tmp_path, cli, py_chain):
    path = _pandas_file(py_chain[:3], tmp_path / "ns1.parquet", nudge=1)
    done = cli("profile", "test", path, "--profile", "python-seed", "--rows", "3",
               "--json", "-")
    assert done.returncode == 1, done.stderr
    rows = json.loads(done.stdout)["rows"]
    assert [r["match"] for r in rows] == [True, False, True]
    assert rows[1]["computed"] is None and "nanoseconds" in rows[1]["reason"]
    assert "reason" not in rows[0]
    text = cli("profile", "test", path, "--profile", "python-seed", "--rows", "3").stdout
    assert "nanoseconds below the microsecond" in text
