"""PostgreSQL sources against a real server the suite starts (see ``tests/pgserver.py``)."""

import hashlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pgserver import free_port, start_server

import audit_analytics as aa
from audit_analytics._engine import Engine
from audit_analytics.cli import main as cli_main
from audit_analytics.load import load_into
from audit_analytics.samples.load_postgres import load_samples
from audit_analytics.samples.python_seed import compute_hash
from audit_analytics.sources import snapshot
from audit_analytics.sources.postgres import PostgresSource, mask_url, parse_table

pytestmark = pytest.mark.postgres

ROLE, ROLE_PASSWORD = "auditor", "s3cr3t-Pw-7781"


@pytest.fixture(scope="session")
def pg():
    server = start_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def db(pg, samples):
    """A database with both sample chains and a read-only role ``auditor``."""
    url = pg.create_database("aa_test")
    load_samples(url, samples)
    with pg.connect("aa_test") as con:
        con.execute(f"DROP ROLE IF EXISTS {ROLE}")
        con.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{ROLE_PASSWORD}'")
        for schema in ("public", "python_seed", "node_seed"):
            con.execute(f"GRANT USAGE ON SCHEMA {schema} TO {ROLE}")
            con.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
                        f"GRANT SELECT ON TABLES TO {ROLE}")
            con.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {ROLE}")
    return {"url": url, "ro": pg.url("aa_test", user=ROLE, password=ROLE_PASSWORD)}


@pytest.fixture
def clone(pg, db, request):
    """Copy a sample table (with the seed's trigger) into a fresh schema of its own."""
    made = []

    def make(producer="python_seed", *, trigger=True, where="true"):
        schema = f"t_{uuid.uuid4().hex[:10]}"
        with pg.connect("aa_test") as con:
            con.execute(f"CREATE SCHEMA {schema}")
            con.execute(f"GRANT USAGE ON SCHEMA {schema} TO {ROLE}")
            con.execute(f"CREATE TABLE {schema}.audit_logs "
                        f"(LIKE {producer}.audit_logs INCLUDING ALL)")
            con.execute(f"INSERT INTO {schema}.audit_logs SELECT * FROM "
                        f"{producer}.audit_logs WHERE {where}")
            con.execute(f"GRANT SELECT ON {schema}.audit_logs TO {ROLE}")
            if trigger:
                con.execute(f"CREATE TRIGGER audit_logs_immutable BEFORE UPDATE OR DELETE ON "
                            f"{schema}.audit_logs FOR EACH ROW EXECUTE FUNCTION "
                            f"{producer}.prevent_audit_modification()")
        made.append(schema)
        return f"{schema}.audit_logs"

    yield make
    with pg.connect("aa_test") as con:
        for schema in made:
            con.execute(f"DROP SCHEMA {schema} CASCADE")


def _sql(pg, *statements, params=None):
    with pg.connect("aa_test") as con:
        for statement in statements:
            con.execute(statement, params)


def _rows(pg, query, params=None):
    with pg.connect("aa_test") as con:
        return con.execute(query, params).fetchall()


def _run(capsys, *args) -> tuple[int, str, str]:
    """Run the CLI in-process (so test seams apply); return code, stdout, stderr."""
    with pytest.raises(SystemExit) as stop:
        cli_main(["--no-progress", *map(str, args)])
    out = capsys.readouterr()
    return stop.value.code, out.out, out.err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --- helpers ------------------------------------------------------------------------
def test_mask_url_and_table_names():
    assert mask_url("postgresql://u:pw@h:5/d") == "postgresql://u:***@h:5/d"
    assert mask_url("postgresql+psycopg://u:p%40w@h/d?sslmode=require") == (
        "postgresql+psycopg://u:***@h/d?sslmode=require")
    assert mask_url("postgresql://h/d") == "postgresql://h/d"
    assert str(parse_table("Audit.Audit_Logs")) == "audit.audit_logs"
    assert parse_table('"My ""S"""."T.x"').sql == '"My ""S"""."T.x"'
    with pytest.raises(aa.SourceError):
        parse_table("a.b.c")


# --- verification through PostgreSQL ---------------------------------------------------
@pytest.mark.parametrize("producer", ["python_seed", "node_seed"])
def test_profiles_verify_clean_through_postgres(db, pg, producer):
    # the sample chains hold the cases the rendering must get right
    ts0, u2028, astral = _rows(pg, (
        f"SELECT count(*) FILTER (WHERE extract(microseconds FROM timestamp)::int % 1000000 = 0),"
        f" count(*) FILTER (WHERE actor_id || resource_id || action LIKE '%' || chr(8232) || '%'),"
        f" count(*) FILTER (WHERE actor_id || resource_id || action ~ '[\\U00010000-\\U0010FFFF]')"
        f" FROM {producer}.audit_logs"))[0]
    assert ts0 and u2028 and astral
    with aa.open(db["ro"], table=f"{producer}.audit_logs") as log:
        assert log.columns["timestamp"] == "TIMESTAMP WITH TIME ZONE"
        assert log.columns["id"] == "VARCHAR" and log.columns["ip_address"] == "VARCHAR"
        result = log.verify()
        assert result.ok, result.summary()
        assert result.rows == 2000 and result.profile.name == producer.replace("_", "-")
        # INET comes back as the producer stored it, without a /32 or /128
        assert not log.sql("SELECT * FROM events WHERE ip_address LIKE '%/%'").shape[0]
    assert "***" in result.source and ROLE_PASSWORD not in result.source


def _middle(pg, table, offset=1000):
    return _rows(pg, f"SELECT id::text, hash FROM {table} ORDER BY timestamp, id "
                     f"OFFSET {offset} LIMIT 1")[0]


def _child_of(pg, table, parent_hash):
    return _rows(pg, f"SELECT id::text FROM {table} WHERE prev_hash = %s", [parent_hash])[0][0]


def _forge(pg, table, parent, *, ts_shift=timedelta(0), prev=None, action="export"):
    """Insert a correctly hashed python-seed row chained to ``parent`` (an id)."""
    (p_hash, p_ts), = _rows(pg, f"SELECT hash, timestamp FROM {table} WHERE id = %s", [parent])
    entry = {"id": str(uuid.uuid4()), "timestamp": p_ts + ts_shift, "actor_id": "u-evil",
             "action": action, "resource_type": "invoice", "resource_id": "inv-1",
             "result": "success", "prev_hash": prev or p_hash}
    entry["hash"] = compute_hash(entry)
    _sql(pg, f"INSERT INTO {table} (id, timestamp, actor_id, action, resource_type, "
             "resource_id, result, prev_hash, hash) VALUES (%(id)s, %(timestamp)s, "
             "%(actor_id)s, %(action)s, %(resource_type)s, %(resource_id)s, %(result)s, "
             "%(prev_hash)s, %(hash)s)", params=entry)
    return entry["id"]


def _head(pg, table):
    return _rows(pg, f"SELECT id::text FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM {table} c "
                     "WHERE c.prev_hash = t.hash) ORDER BY timestamp DESC LIMIT 1")[0][0]


def _tamper(pg, table, kind):
    """Make one kind of damage with SQL; return the (kind, id) the verifier must report."""
    _sql(pg, f"ALTER TABLE {table} DISABLE TRIGGER audit_logs_immutable")
    rid, rhash = _middle(pg, table)
    if kind == "hash_mismatch":
        _sql(pg, f"UPDATE {table} SET action = 'delete' || chr(8232) || '😀' WHERE id = %s",
             params=[rid])
        return kind, rid
    if kind == "missing_predecessor":
        child = _child_of(pg, table, rhash)
        _sql(pg, f"DELETE FROM {table} WHERE id = %s", params=[rid])
        return kind, child
    if kind == "fork":
        _forge(pg, table, rid)
        return kind, rid
    if kind == "extra_genesis":
        return kind, _forge(pg, table, rid, prev="GENESIS")
    if kind == "timestamp_regression":
        return kind, _forge(pg, table, _head(pg, table), ts_shift=timedelta(minutes=-5))
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["hash_mismatch", "missing_predecessor", "fork",
                                  "extra_genesis", "timestamp_regression"])
def test_tampering_made_in_sql_is_found(db, pg, clone, kind):
    table = clone()
    expected = _tamper(pg, table, kind)
    with aa.open(db["ro"], table=table) as log:
        result = log.verify(profile="python-seed")
    found = [(f["kind"], f["id"]) for f in result.to_dict()["findings"]]
    assert found == [expected], result.summary()
    assert f"{table} row " in result.to_dict()["findings"][0]["row"]


def test_verify_cli_on_a_url_keeps_the_json_contract(db, pg, clone, cli, samples, capsys):
    parquet = json.loads(_run(capsys, "verify", samples / "python_seed" / "clean.parquet",
                              "--json", "-")[1])
    proc = cli("verify", db["ro"], "--table", "python_seed.audit_logs", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) == set(parquet)
    assert doc["ok"] is True and doc["rows"] == 2000 and doc["counts"] == parquet["counts"]
    assert doc["head"]["id"] == parquet["head"]["id"]
    assert ROLE_PASSWORD not in proc.stdout + proc.stderr
    table = clone()
    _tamper(pg, table, "hash_mismatch")
    code, out, err = _run(capsys, "verify", db["ro"], "--table", table, "--json", "-")
    assert code == 1, err
    assert json.loads(out)["counts"]["hash_mismatch"] == 1


def test_verify_since_until_pushed_down(db, pg):
    since, until = "2024-01-16T00:00:00Z", "2024-01-17T00:00:00+00:00"
    (n,), = _rows(pg, "SELECT count(*) FROM python_seed.audit_logs WHERE timestamp >= %s "
                      "AND timestamp < %s", [since, until])
    with aa.open(db["ro"], table="python_seed.audit_logs", since=since, until=until) as log:
        assert len(log) == n and 0 < n < 2000
        # the window's first row links to a row that exists before it: a boundary, not a gap
        result = log.verify()
    assert result.ok, result.summary()
    assert [s["starts_with"] for s in result.segment_records] == ["window_start"]


def test_deletion_inside_a_window_is_still_found(db, pg, clone):
    table = clone()
    kind, child = _tamper(pg, table, "missing_predecessor")
    with aa.open(db["ro"], table=table, since="2024-01-15T00:00:00Z") as log:
        result = log.verify(profile="python-seed")
    assert [(f["kind"], f["id"]) for f in result.records] == [(kind, child)]


def test_since_on_parquet_is_bad_input(capsys, samples):
    code, out, err = _run(capsys, "verify", samples / "python_seed" / "clean.parquet",
                          "--since", "2024-01-16")
    assert code == 2 and "PostgreSQL" in _one_line(err)


# --- loading into a DuckDB file --------------------------------------------------------
def test_incremental_load_appends_only_new_rows(db, pg, clone, tmp_path, capsys):
    table = clone(where="timestamp < (SELECT percentile_disc(0.75) WITHIN GROUP "
                        "(ORDER BY timestamp) FROM python_seed.audit_logs)")
    target = tmp_path / "events.duckdb"
    code, out, err = _run(capsys, "load", db["ro"], "--table", table, "--into", target,
                          "--json", "-")
    assert code == 0, err
    first = json.loads(out)
    assert first["rows_appended"] == first["rows_total"] < 2000 and first["run"] == 1
    assert ROLE_PASSWORD not in out and "***" in first["source"]
    _sql(pg, f"INSERT INTO {table} SELECT * FROM python_seed.audit_logs "
             f"WHERE id NOT IN (SELECT id FROM {table})")
    code, out, err = _run(capsys, "load", db["ro"], "--table", table, "--into", target,
                          "--json", "-")
    assert code == 0, err
    second = json.loads(out)
    assert second["rows_appended"] == 2000 - first["rows_total"]
    assert second["rows_read"] >= second["rows_appended"]  # the boundary is read again
    assert second["rows_total"] == 2000 and second["continues_previous_head"] is True
    code, out, err = _run(capsys, "load", db["ro"], "--table", table, "--into", target,
                          "--json", "-")
    assert code == 0 and json.loads(out)["rows_appended"] == 0
    code, out, err = _run(capsys, "verify", target, "--json", "-")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["ok"] and doc["rows"] == 2000 and doc["head"]["id"] == second["head"]["id"]


def test_incremental_load_catches_late_rows_with_earlier_timestamps(db, pg, clone, tmp_path,
                                                                    capsys):
    table = clone()
    target = tmp_path / "events.duckdb"
    code, out, err = _run(capsys, "load", db["ro"], "--table", table, "--into", target,
                          "--json", "-")
    assert code == 0, err
    total = json.loads(out)["rows_total"]
    # a slow writer's row lands after the load, stamped 10 minutes before the head
    late = _forge(pg, table, _head(pg, table), ts_shift=timedelta(minutes=-10))
    code, out, err = _run(capsys, "load", db["ro"], "--table", table, "--into", target,
                          "--json", "-")
    assert code == 0, err
    second = json.loads(out)
    assert second["rows_appended"] == 1 and second["rows_total"] == total + 1
    with aa.open(target) as log:
        assert log.sql("SELECT count(*) AS n FROM events WHERE id = ?", [late])["n"][0] == 1
    code, out, err = _run(capsys, "load", db["ro"], "--table", table, "--into", target,
                          "--overlap", "0", "--json", "-")
    assert code == 0 and json.loads(out)["rows_appended"] == 0


@pytest.fixture(scope="session")
def big_table(pg, db):
    """120k rows of the seed's table (not a valid chain: only the transfer matters)."""
    _sql(pg, "CREATE TABLE public.big (LIKE python_seed.audit_logs INCLUDING ALL)",
         "INSERT INTO public.big SELECT gen_random_uuid(), timestamp '2024-02-01 00:00:00+00' "
         "+ g * interval '1 millisecond', 'u-' || g % 997, 'user', 'read', 'patient_record', "
         "'pr-' || g, 'success', '10.0.0.1', repeat('x', 120), md5(g::text), NULL, NULL, NULL, "
         "md5((g - 1)::text) || md5((g - 1)::text), md5(g::text) || md5(g::text) "
         "FROM generate_series(1, 120000) g",
         f"GRANT SELECT ON public.big TO {ROLE}")
    return "public.big"


def test_connection_killed_mid_load_leaves_the_file_unchanged(db, pg, big_table, tmp_path,
                                                              capsys, monkeypatch):
    target = tmp_path / "events.duckdb"
    code, out, err = _run(capsys, "load", db["ro"], "--table", big_table, "--into", target,
                          "--until", "2024-02-01T00:00:05Z")
    assert code == 0, err
    before = hashlib.sha256(target.read_bytes()).hexdigest()
    killed = []

    def kill(rows):
        if not killed:
            killed.append(rows)
            _sql(pg, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE application_name = 'audit_analytics' AND usename = %s", params=[ROLE])
            time.sleep(0.3)

    monkeypatch.setattr(PostgresSource, "on_batch", staticmethod(kill))
    monkeypatch.setattr(PostgresSource, "batch_size_hint_bytes", 256 << 10)
    code, out, err = _run(capsys, "load", db["ro"], "--table", big_table, "--into", target)
    assert killed and code == 2
    line = _one_line(err)
    assert "lost during the transfer" in line and "***" in line and ROLE_PASSWORD not in line
    assert hashlib.sha256(target.read_bytes()).hexdigest() == before
    assert [p.name for p in tmp_path.iterdir()] == ["events.duckdb"]


def test_load_api_into_a_new_file_in_a_new_folder(db, tmp_path):
    result = load_into(db["ro"], tmp_path / "sub" / "n.duckdb", source_table="node_seed.audit_logs")
    assert result.rows_appended == 2000 and result.head["id"]
    assert "appended 2,000" in result.summary()
    with aa.open(str(tmp_path / "sub" / "n.duckdb")) as log:
        assert log.verify().ok
        tags = log.engine.scalar("SELECT tags FROM duckdb_databases() WHERE database_name = "
                                 "'aa_store'")
        assert tags["storage_version"].startswith("v2.")  # written by DuckDB 2.x


# --- protections -----------------------------------------------------------------------
def _items(doc):
    return {i["name"]: i["status"] for i in doc["items"]}


def test_protections_of_the_seed_table(db, capsys):
    code, out, err = _run(capsys, "protections", db["ro"], "--table", "python_seed.audit_logs",
                          "--json", "-")
    assert code == 1, err
    items = _items(json.loads(out))
    assert items["blocks UPDATE"] == items["blocks DELETE"] == "pass"
    assert items["blocks TRUNCATE"] == "fail"
    assert items["connected role cannot bypass triggers"] == "pass"
    assert ROLE_PASSWORD not in out + err


def test_protections_without_trigger_and_with_truncate_guard(db, pg, clone):
    bare = clone(trigger=False)
    report = aa.open(db["ro"], table=bare).protections()
    items = _items(report.to_dict())
    assert items["blocks UPDATE"] == items["blocks DELETE"] == "fail" and not report.ok
    guarded = clone()
    schema = guarded.split(".")[0]
    _sql(pg, f"CREATE TRIGGER no_truncate BEFORE TRUNCATE ON {guarded} FOR EACH STATEMENT "
             "EXECUTE FUNCTION python_seed.prevent_audit_modification()")
    report = aa.open(db["ro"], table=guarded).protections()
    assert report.ok, report.summary()
    assert _items(report.to_dict())["blocks TRUNCATE"] == "pass"
    assert "<table>" in report._repr_html_() and schema in report.summary()
    _sql(pg, f"ALTER TABLE {guarded} DISABLE TRIGGER audit_logs_immutable")
    as_super = aa.open(db["url"], table=guarded).protections()
    items = _items(as_super.to_dict())
    assert items["blocks UPDATE"] == "fail" and items["triggers enabled"] == "fail"
    assert items["connected role cannot bypass triggers"] == "warn"


# --- bad input ---------------------------------------------------------------------------
def _refused_url(pg):
    return f"postgresql://{ROLE}:{ROLE_PASSWORD}@127.0.0.1:{free_port()}/aa_test"


_PATTERNS = {"refused": "connection refused", "password": "login rejected",
             "database": "does not exist", "table": "not found",
             "columns": "lacks column(s) hash"}


@pytest.mark.parametrize("command, case", [
    *[("verify", case) for case in _PATTERNS],
    ("load", "password"), ("load", "columns"), ("protections", "refused"),
    ("protections", "table"),
])
def test_bad_postgres_input_exit_2_masked(db, pg, capsys, tmp_path, case, command):
    pattern = _PATTERNS[case]
    url, table = db["ro"], "python_seed.audit_logs"
    if case == "refused":
        url = _refused_url(pg)
    elif case == "password":
        url = pg.url("aa_test", user=ROLE, password=ROLE_PASSWORD + "-wrong")
    elif case == "database":
        url = pg.url("nope", user=ROLE, password=ROLE_PASSWORD)
    elif case == "table":
        table = "python_seed.nope"
    else:
        _sql(pg, "CREATE TABLE IF NOT EXISTS public.no_hash AS SELECT id, timestamp, prev_hash "
                 "FROM python_seed.audit_logs",
             f"GRANT SELECT ON public.no_hash TO {ROLE}")
        table = "no_hash"
    extra = ["--into", tmp_path / "x.duckdb"] if command == "load" else []
    code, out, err = _run(capsys, command, url, "--table", table, *extra)
    assert code == 2, out + err
    line = _one_line(err)
    assert pattern in line
    assert ROLE_PASSWORD not in out + err
    if case in ("refused", "password", "database"):
        assert "***" in line
    if command == "load":
        assert not Path(tmp_path / "x.duckdb").exists()


def test_load_after_a_load_that_found_nothing(tmp_path, capsys, samples):
    import pyarrow.parquet as pq

    empty = tmp_path / "empty.parquet"
    pq.write_table(pq.read_table(samples / "python_seed" / "clean.parquet").slice(0, 0), empty)
    target = tmp_path / "events.duckdb"
    for run in (1, 2):
        code, out, err = _run(capsys, "load", empty, "--into", target, "--json", "-")
        assert code == 0, err
        doc = json.loads(out)
        assert doc["rows_appended"] == 0 and doc["run"] == run


def test_a_future_stamped_row_does_not_stall_later_loads(db, pg, clone, tmp_path, capsys,
                                                         caplog):
    table = clone()
    target = tmp_path / "events.duckdb"
    head = _head(pg, table)
    (head_ts,), = _rows(pg, f"SELECT timestamp FROM {table} WHERE id = %s", [head])
    future = _forge(pg, table, head, ts_shift=timedelta(days=365 * 50))
    code, out, err = _run(capsys, "load", db["ro"], "--table", table, "--into", target,
                          "--json", "-")
    assert code == 0, err
    now = datetime.now(UTC)
    fresh = _forge(pg, table, future, ts_shift=(now - head_ts) - timedelta(days=365 * 50))
    code, out, err = _run(capsys, "load", db["ro"], "--table", table, "--into", target,
                          "--json", "-")
    assert code == 0, err
    assert json.loads(out)["rows_appended"] == 1
    assert "stamped in the future" in caplog.text
    with aa.open(target) as log:
        assert log.sql("SELECT count(*) AS n FROM events WHERE id = ?", [fresh])["n"][0] == 1


def test_a_future_stamped_row_does_not_hide_rows_stamped_before_it(db, pg, clone, tmp_path,
                                                                    cli):
    table = clone()
    target = tmp_path / "events.duckdb"
    head = _head(pg, table)
    future = _forge(pg, table, head, ts_shift=timedelta(days=365 * 50))
    load = ("load", db["ro"], "--table", table, "--into", target, "--json", "-")
    first = cli(*load)
    assert first.returncode == 0, first.stderr
    # written after the load, stamped a minute after the last ordinary event (long ago)
    ordinary = _forge(pg, table, future, ts_shift=timedelta(minutes=1) - timedelta(days=365 * 50))
    second = cli(*load)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["rows_appended"] == 1
    with aa.open(target) as log:
        assert log.sql("SELECT count(*) AS n FROM events WHERE id = ?", [ordinary])["n"][0] == 1


def test_two_postgres_logs_and_a_parquet_log_share_one_engine(db, clone, samples):
    from audit_analytics._engine import Engine

    fewer = clone("node_seed", where="timestamp < (SELECT min(timestamp) + interval '1 day' "
                                      "FROM node_seed.audit_logs)")
    engine = Engine()
    logs = [aa.open(db["ro"], table=clone(where="id::text < '8'"), engine=engine),
            aa.open(db["ro"], table=fewer, engine=engine),
            aa.open(str(samples / "node_seed" / "clean.parquet"), engine=engine)]
    sizes = [log.source.rows for log in logs]
    assert len(set(sizes)) == 3
    for log, rows in zip(logs, sizes):
        assert len(log) == rows
        assert log.sql("SELECT count(*) AS n FROM events")["n"][0] == rows
        assert log.verify().rows == rows
        assert log.check(only=["required_fields"]).events == rows
    for log in logs:
        log.close()
    engine.close()


# --- one snapshot read on several connections --------------------------------------------
def _comparable(result) -> dict:
    doc = result.to_dict()
    return {k: v for k, v in doc.items() if k not in ("elapsed", "seconds", "rows_per_second")}


@pytest.mark.parametrize("kind", ["hash_mismatch", "missing_predecessor", "fork"])
def test_several_connections_find_what_one_finds(db, pg, clone, kind, monkeypatch):
    monkeypatch.setattr(snapshot, "MIN_BLOCKS_PER_STREAM", 1)  # the sample is a few blocks
    table = clone()
    expected = _tamper(pg, table, kind)
    results = {}
    for streams in (1, 3):
        with aa.open(db["ro"], table=table, streams=streams) as log:
            results[streams] = log.verify(profile="python-seed")
    found = [(f["kind"], f["id"]) for f in results[3].to_dict()["findings"]]
    assert found == [expected]
    assert _comparable(results[3]) == _comparable(results[1])


def _read(url: str, table: str, streams: int):
    import pyarrow as pa

    source = PostgresSource(url, table, progress=False, streams=streams)
    with source.batches() as (schema, batches):
        return pa.Table.from_batches(list(batches), schema=schema)


def test_several_connections_read_at_once_in_block_order(db, pg, big_table, monkeypatch):
    seen = []

    def count_sessions(rows):
        if not seen:
            seen.append(_rows(pg, "SELECT count(*) FROM pg_stat_activity WHERE "
                                  "application_name = 'audit_analytics' AND usename = %s",
                              [ROLE])[0][0])

    one = _read(db["ro"], big_table, 1)
    monkeypatch.setattr(snapshot, "MIN_BLOCKS_PER_STREAM", 64)
    monkeypatch.setattr(PostgresSource, "on_batch", staticmethod(count_sessions))
    three = _read(db["ro"], big_table, 3)
    assert seen == [3]
    assert three.num_rows == 120_000 and three.equals(one)


def test_several_connections_share_one_snapshot(db, pg, monkeypatch):
    """Rows deleted and added after the export are seen by none of the connections."""
    _sql(pg, "CREATE TABLE public.snap AS SELECT * FROM public.big",
         f"GRANT SELECT ON public.snap TO {ROLE}")
    try:
        before = _read(db["ro"], "public.snap", 1)
        changed = []

        def change(snapshot_id):  # committed before the other connections adopt the snapshot
            _sql(pg, "DELETE FROM public.snap WHERE resource_id IN ('pr-60000', 'pr-119999')",
                 "INSERT INTO public.snap SELECT * FROM public.big LIMIT 10")
            changed.append(snapshot_id)

        monkeypatch.setattr(snapshot, "MIN_BLOCKS_PER_STREAM", 64)
        monkeypatch.setattr(PostgresSource, "on_snapshot", staticmethod(change))
        during = _read(db["ro"], "public.snap", 3)
        assert changed and during.equals(before)
        monkeypatch.setattr(PostgresSource, "on_snapshot", None)
        assert _read(db["ro"], "public.snap", 3).num_rows == 120_000 - 2 + 10
    finally:
        _sql(pg, "DROP TABLE public.snap")


@pytest.mark.parametrize("kind", ["hash_mismatch", "missing_predecessor", "fork",
                                  "extra_genesis", "timestamp_regression"])
def test_a_loaded_file_holds_the_rows_read_and_verifies_like_the_table(db, pg, clone, tmp_path,
                                                                      kind, monkeypatch):
    """Read on several connections and stored with the digests uncompressed: same rows,
    same types, same findings."""
    monkeypatch.setattr(snapshot, "MIN_BLOCKS_PER_STREAM", 1)  # the sample is a few blocks
    table = clone()
    expected = _tamper(pg, table, kind)
    with aa.open(db["ro"], table=table, streams=1) as log:
        direct = log.verify(profile="python-seed")
        types = dict(log.columns)
    target = tmp_path / "events.duckdb"
    result = load_into(PostgresSource(db["ro"], table, progress=False, streams=3), target)
    assert result.rows_appended == direct.rows
    with aa.open(target) as log:
        loaded = log.verify(profile="python-seed")
        assert {k: v for k, v in log.columns.items() if k != "__load_batch"} == types
    assert [(f["kind"], f["id"]) for f in loaded.records] == [expected]
    assert [(f["kind"], f["id"]) for f in loaded.records] == [
        (f["kind"], f["id"]) for f in direct.records]
    assert loaded.counts == direct.counts and loaded.head["id"] == direct.head["id"]
    read = _read(db["ro"], table, 1)
    engine = Engine(target, read_only=True)
    try:
        stored = engine.arrow("SELECT * EXCLUDE (__load_batch) FROM events ORDER BY rowid")
        storage = dict(engine.rows(
            "SELECT column_name, list(DISTINCT compression ORDER BY compression) "
            "FROM pragma_storage_info('events') WHERE segment_type = 'VARCHAR' GROUP BY 1"))
    finally:
        engine.close()
    assert stored.column_names == read.column_names
    assert stored.to_pylist() == read.to_pylist()
    assert storage["hash"] == storage["prev_hash"] == storage["id"] == ["Uncompressed"]
    assert "Uncompressed" not in storage["actor_id"] + storage["action"]
