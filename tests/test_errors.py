"""DuckDB's errors surface as the package's own: QueryError in Python, one line and exit 2 on
the command line, never ``duckdb.Error`` or "internal error"."""

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import audit_analytics as aa
from audit_analytics._engine import Engine
from audit_analytics.load import load_into


def _one_line_error(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.fixture
def corrupt(tmp_path, samples):
    """A Parquet file whose footer reads but whose data pages do not decompress."""
    data = bytearray((samples / "python_seed" / "clean.parquet").read_bytes())
    for i in range(2000, 60000, 7):
        data[i] ^= 0x5A
    path = tmp_path / "corrupt.parquet"
    path.write_bytes(bytes(data))
    return path


def test_bad_sql_raises_the_package_error(samples):
    with aa.open(samples / "python_seed" / "clean.parquet", journal=False) as log:
        with pytest.raises(aa.QueryError) as caught:
            log.sql("SELEC nope")
        with pytest.raises(aa.AuditAnalyticsError):
            log.actor_history(1)  # an integer compared with text ids: a conversion error
    err = caught.value
    assert not isinstance(err, duckdb.Error)
    assert err.kind == "ParserException" and err.exit_code == 2
    assert "syntax error" in str(err) and "\n" not in str(err)


def test_every_engine_call_and_reader_batch_is_translated(tmp_path):
    engine = Engine()
    with pytest.raises(aa.QueryError):
        engine.rows("SELECT * FROM no_such_table")
    with pytest.raises(aa.QueryError):
        engine.execute("CREATE TABLE t AS SELECT CAST('x' AS INTEGER) AS v")
    bad = tmp_path / "not.duckdb"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(aa.QueryError):
        Engine(bad)
    # a statement failing mid-stream: DuckDB's error crosses the Arrow stream as OSError
    reader = engine.reader("SELECT CAST(CASE WHEN i = 3000000 THEN 'x' ELSE i::VARCHAR END "
                           "AS INTEGER) AS v FROM range(3000001) t(i)", batch_size=2048)
    first = reader.read_next_batch()
    assert first.num_rows == 2048
    with pytest.raises(aa.QueryError, match="Conversion Error") as caught:
        reader.read_all()
    assert caught.value.kind == "OSError"
    engine.close()


@pytest.mark.parametrize("command", [["check"], ["report", "--period", "2024-01"],
                                     ["verify"], ["load", "--into"]])
def test_cli_on_an_undecodable_parquet_exits_2_with_one_line(cli, corrupt, tmp_path, command):
    args = [*command, corrupt]
    if command[0] == "report":
        args += ["--out", tmp_path / "reports"]
    if command[0] == "load":
        args = ["load", corrupt, "--into", tmp_path / "x.duckdb"]
    proc = cli(*args)
    assert proc.returncode == 2, proc.stderr
    line = _one_line_error(proc)
    assert str(corrupt) in line


def test_load_of_rows_the_table_cannot_hold_exits_2(cli, samples, tmp_path):
    target = tmp_path / "events.duckdb"
    load_into(str(samples / "python_seed" / "clean.parquet"), target)
    rows = pq.read_table(samples / "python_seed" / "clean.parquet").slice(0, 5)
    rows = rows.set_column(0, "id", pa.array([f"new-{i}" for i in range(5)]))
    rows = rows.set_column(1, "timestamp", pa.array(["garbage"] * 5))
    pq.write_table(rows, tmp_path / "text_ts.parquet")
    before = target.read_bytes()
    proc = cli("load", tmp_path / "text_ts.parquet", "--into", target)
    assert proc.returncode == 2, proc.stderr
    line = _one_line_error(proc)
    assert "cannot append the rows of" in line and "Conversion Error" in line
    assert target.read_bytes() == before  # a failed load leaves the file as it was
