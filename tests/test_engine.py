"""Several audit logs on one engine: each sees its own rows, under the same view names."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import audit_analytics as aa
from audit_analytics._engine import Engine
from audit_analytics.load import load_into
from audit_analytics.samples import events, node_seed, python_seed
from audit_analytics.sources.parquet import ParquetSource


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict:
    """Three logs of different sizes and kinds: Parquet (python-seed), Parquet
    (node-seed) and a DuckDB file."""
    folder = tmp_path_factory.mktemp("logs")
    py = folder / "py.parquet"
    pq.write_table(pa.Table.from_pylist(python_seed.chain(events.generate_events(300, seed=1))),
                   py)
    node = folder / "node.parquet"
    pq.write_table(pa.Table.from_pylist(node_seed.chain(events.generate_events(170, seed=2))),
                   node)
    duck = folder / "big.duckdb"
    rows = python_seed.chain(events.generate_events(450, seed=3))
    pq.write_table(pa.Table.from_pylist(rows), folder / "big.parquet")
    load_into(str(folder / "big.parquet"), duck)
    return {"py": (py, 300, "python-seed"), "node": (node, 170, "node-seed"),
            "duck": (duck, 450, "python-seed")}


def _outcome(checklist) -> dict:
    return {c.name: (c.status, c.metrics.get("findings")) for c in checklist.checks}


def test_logs_sharing_an_engine_see_their_own_data(sources):
    engine = Engine()
    logs = {name: aa.open(str(path), engine=engine) for name, (path, _, _) in sources.items()}
    for name, log in logs.items():
        _, rows, profile = sources[name]
        assert len(log) == rows
        assert log.sql("SELECT count(*) AS n FROM events")["n"][0] == rows
        assert log.arrow("SELECT count(*) AS n FROM raw").column("n")[0].as_py() == rows
        assert log.describe()["rows"] == rows
        result = log.verify()
        assert result.ok and result.rows == rows and result.profile.name == profile
        checked = log.check()  # every check's SQL reads `events`
        assert checked.events == rows
        by_name = {c.name: c for c in checked.checks}
        assert by_name["chain_integrity"].metrics["rows"] == rows
        assert by_name["chain_integrity"].metrics["profile"] == profile
        with aa.open(str(sources[name][0])) as alone:  # the same answers as on its own
            assert _outcome(alone.check()) == _outcome(checked)
    # queries interleaved with the other logs' still see their own rows
    for name, log in logs.items():
        assert len(log) == sources[name][1]
    engine.close()


def test_a_log_names_its_views_for_joins_across_logs(sources):
    engine = Engine()
    a = aa.open(str(sources["py"][0]), engine=engine)
    b = aa.open(str(sources["py"][0]), engine=engine)
    assert a.relation("events") != b.relation("events")
    joined = a.sql(f"SELECT count(*) AS n FROM events JOIN {b.relation('events')} USING (id)")
    assert joined["n"][0] == 300
    with pytest.raises(ValueError, match="events and raw"):
        a.relation("audit_logs")
    engine.close()


def test_two_duckdb_files_on_one_engine(sources, tmp_path):
    other = tmp_path / "other.duckdb"
    pq.write_table(pa.Table.from_pylist(python_seed.chain(events.generate_events(20, seed=9))),
                   tmp_path / "o.parquet")
    load_into(str(tmp_path / "o.parquet"), other)
    engine = Engine()
    big = aa.open(str(sources["duck"][0]), engine=engine)
    small = aa.open(str(other), engine=engine)
    assert (len(big), len(small)) == (450, 20)
    assert big.verify().ok and small.verify().ok
    assert big.verify().rows == 450 and small.verify().rows == 20
    engine.close()


def test_closing_a_log_on_a_shared_engine_leaves_the_others(sources):
    engine = Engine()
    a = aa.open(str(sources["py"][0]), engine=engine)
    b = aa.open(str(sources["node"][0]), engine=engine)
    a.close()
    assert len(b) == 170 and b.verify().ok
    assert engine.scalar("SELECT 1") == 1  # the shared engine stays open
    b.close()
    engine.close()


def test_an_engine_of_its_own_is_closed_with_its_log(sources):
    log = aa.open(str(sources["py"][0]))
    log.close()
    with pytest.raises(Exception, match="closed"):
        log.engine.scalar("SELECT 1")


def test_a_source_attached_to_a_bare_engine_makes_temp_views(sources):
    engine = Engine()
    ParquetSource(str(sources["node"][0])).attach(engine)
    assert engine.scalar("SELECT count(*) FROM raw") == 170
    engine.close()


def _settings(engine: Engine) -> tuple:
    return tuple(engine.scalar(f"SELECT current_setting('{name}')")
                 for name in ("threads", "write_buffer_row_group_count"))


def test_arrow_into_puts_the_engine_settings_back_even_when_the_stream_fails(tmp_path):
    from audit_analytics._engine import arrow_into

    engine = Engine(tmp_path / "x.duckdb", threads=2)
    try:
        before = _settings(engine)
        batch = pa.record_batch({"a": pa.array(range(1000))})

        def lost():
            yield batch
            raise ConnectionError("connection lost")

        engine.execute("CREATE TABLE t (a BIGINT)")
        with pytest.raises(ConnectionError):
            arrow_into(engine, "t", batch.schema, lost(),
                       statement="INSERT INTO t SELECT * FROM __arrow_in")
        assert _settings(engine) == before
        arrow_into(engine, "t", batch.schema, iter([batch, batch]),
                   statement="INSERT INTO t SELECT * FROM __arrow_in")
        assert _settings(engine) == before == (2, 5)
        assert engine.scalar("SELECT count(*) FROM t") == 2000
    finally:
        engine.close()
