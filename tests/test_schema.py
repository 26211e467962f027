"""Sources of the wrong shape: refused in one line (exit 2) naming the column and its type."""

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import audit_analytics as aa
from audit_analytics.chain.schema import classify
from audit_analytics.samples import events, python_seed


@pytest.fixture(scope="module")
def base() -> pa.Table:
    return pa.Table.from_pylist(python_seed.chain(events.generate_events(40, seed=3)))


def _with(table: pa.Table, column: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(column), column, values)


# (column, values for 40 rows, DuckDB's name for the type)
BAD_TYPES = [
    ("hash", lambda t: pa.array([[h] for h in t.column("hash").to_pylist()]), "VARCHAR[]"),
    ("hash", lambda t: pa.array([{"h": h} for h in t.column("hash").to_pylist()]),
     "STRUCT(h VARCHAR)"),
    ("hash", lambda t: pa.array([h.encode() for h in t.column("hash").to_pylist()], pa.binary()),
     "BLOB"),
    ("hash", lambda t: pa.array([True] * t.num_rows), "BOOLEAN"),
    ("prev_hash", lambda t: pa.array([[h] for h in t.column("prev_hash").to_pylist()]),
     "VARCHAR[]"),
    ("timestamp", lambda t: pa.array(range(t.num_rows), pa.int64()), "BIGINT"),
    ("timestamp", lambda t: pa.array([float(i) for i in range(t.num_rows)]), "DOUBLE"),
    ("timestamp", lambda t: pa.array([dt.date(2024, 1, 1)] * t.num_rows), "DATE"),
    ("timestamp", lambda t: pa.array([True] * t.num_rows), "BOOLEAN"),
    ("id", lambda t: pa.array([[1]] * t.num_rows), "BIGINT[]"),
    ("actor_id", lambda t: pa.array([["a"]] * t.num_rows), "VARCHAR[]"),
    ("actor_type", lambda t: pa.array([["user"]] * t.num_rows), "VARCHAR[]"),
    ("result", lambda t: pa.array([{"a": 1}] * t.num_rows), "STRUCT(a BIGINT)"),
    ("ip_address", lambda t: pa.array([b"\x7f\0\0\1"] * t.num_rows), "BLOB"),
]


@pytest.mark.parametrize(("column", "make", "dtype"), BAD_TYPES,
                         ids=[f"{c}-{d}" for c, _, d in BAD_TYPES])
def test_a_column_of_the_wrong_type_is_refused_by_name(tmp_path, base, column, make, dtype):
    path = tmp_path / "bad.parquet"
    pq.write_table(_with(base, column, make(base)), path)
    with pytest.raises(aa.SchemaError) as err:
        aa.open(path)
    assert err.value.column == column
    assert f"column {column!r}" in str(err.value) and dtype in str(err.value)


@pytest.mark.parametrize(("column", "make", "dtype"), [BAD_TYPES[0], BAD_TYPES[5]],
                         ids=["hash-list", "timestamp-integer"])
@pytest.mark.parametrize("command", ["verify", "check"])
def test_cli_says_which_column_in_one_line(tmp_path, base, cli, command, column, make, dtype):
    path = tmp_path / "bad.parquet"
    pq.write_table(_with(base, column, make(base)), path)
    run = cli(command, path)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and f"column {column!r}" in lines[0] and dtype in lines[0]
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr


def _not_an_audit_log(tmp_path):
    path = tmp_path / "sales.parquet"
    pq.write_table(pa.table({"region": ["n", "s"], "amount": [3, 4]}), path)
    return path


def test_a_table_without_event_columns_is_not_an_audit_log(tmp_path):
    with pytest.raises(aa.SchemaError, match="is not an audit log"):
        aa.open(_not_an_audit_log(tmp_path))


@pytest.mark.parametrize("command", [
    ("verify",), ("check",), ("report", "--period", "2024-01", "--out", "{tmp}/r")])
def test_cli_says_the_source_is_not_an_audit_log(tmp_path, cli, command):
    path = _not_an_audit_log(tmp_path)
    run = cli(command[0], path, *(a.format(tmp=tmp_path) for a in command[1:]))
    assert run.returncode == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not an audit log" in lines[0] and "region" in lines[0]
    assert "no events in the window" not in run.stdout


def test_checks_without_a_timestamp_column_say_so(tmp_path, base, cli):
    path = tmp_path / "no_ts.parquet"
    pq.write_table(base.drop_columns(["timestamp"]), path)
    run = cli("check", path)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "lacks column(s) timestamp" in run.stderr
    assert "no events in the window" not in run.stdout


def test_columns_of_nulls_only_are_accepted(tmp_path, base):
    path = tmp_path / "nulls.parquet"
    table = _with(base, "reason", pa.nulls(base.num_rows))
    table = _with(table, "session_id", pa.nulls(base.num_rows))
    pq.write_table(table, path)
    with aa.open(path) as log:
        assert log.columns["reason"].strip('"') == "NULL"
        assert log.verify(profile="python-seed").ok
        assert log.sql("SELECT count(*) AS n FROM events WHERE reason IS NULL")["n"][0] == 40
        assert log.check(only=["required_fields"]).checks[0].status in ("pass", "warn", "fail")


def test_classify_reads_exact_type_names():
    assert classify("VARCHAR") == "text" and classify("JSON") == "text"
    assert classify("VARCHAR[]") == "other" and classify("VARCHAR[3]") == "other"
    assert classify("TIMESTAMP WITH TIME ZONE") == "timestamp"
    assert classify("TIMESTAMP_NS") == "timestamp" and classify("TIMESTAMP[]") == "other"
    assert classify("STRUCT(h VARCHAR)") == "other" and classify("MAP(VARCHAR, VARCHAR)") == "other"
    assert classify("ENUM('a', 'b')") == "enum" and classify('"NULL"') == "null"
