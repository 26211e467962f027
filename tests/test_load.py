"""``load --into``: staging never follows links, stale staging is cleaned, loads take turns."""

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, SAMPLES

from audit_analytics._engine import Engine
from audit_analytics.errors import OutputError
from audit_analytics.load import load_into

PY_CLEAN = SAMPLES / "python_seed" / "clean.parquet"
NODE_CLEAN = SAMPLES / "node_seed" / "clean.parquet"


def _rows(path: Path) -> set[str]:
    engine = Engine(path, read_only=True)
    try:
        return {r[0] for r in engine.rows("SELECT id FROM events")}
    finally:
        engine.close()


def _ids(source: Path) -> set[str]:
    return set(pq.read_table(source, columns=["id"])["id"].to_pylist())


def _big(source: Path, out: Path, tag: str, copies: int) -> Path:
    """``copies`` renamed copies of a sample (distinct ids and hashes): a slower load."""
    table = pq.read_table(source)
    parts = []
    for k in range(copies):
        suffix = pa.scalar(f"-{tag}{k}")
        part = table
        for name in ("id", "hash"):
            index = part.schema.get_field_index(name)
            part = part.set_column(index, name,
                                   pc.binary_join_element_wise(part[name], suffix, ""))
        parts.append(part)
    pq.write_table(pa.concat_tables(parts), out)
    return out


def _popen(*args) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "audit-analytics"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "audit_analytics"]
    return subprocess.Popen([*cmd, *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _staging(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".loading" in p.name)


# --- staging files are created exclusively ---------------------------------------------
@pytest.mark.parametrize("existing", [False, True])
def test_planted_symlinks_at_the_old_staging_names_are_not_followed(tmp_path, existing):
    target = tmp_path / "t.duckdb"
    if existing:
        load_into(NODE_CLEAN, target)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    wal_victim = tmp_path / "wal_victim.txt"
    wal_victim.write_text("also precious\n")
    planted = tmp_path / f".t.duckdb.{os.getpid()}.loading"
    planted.symlink_to(victim)
    Path(str(planted) + ".wal").symlink_to(wal_victim)

    result = load_into(PY_CLEAN, target)

    assert victim.read_text() == "precious\n"
    assert wal_victim.read_text() == "also precious\n"
    assert target.is_file() and not target.is_symlink()
    assert result.rows_appended == 2000
    assert _ids(PY_CLEAN) <= _rows(target)
    assert planted.is_symlink()  # not ours to remove


def test_a_target_symlink_stays_a_link_and_its_file_is_replaced(tmp_path):
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "events.duckdb"
    link = tmp_path / "events.duckdb"
    link.symlink_to(real)
    load_into(PY_CLEAN, link)
    load_into(NODE_CLEAN, link)
    assert link.is_symlink() and real.is_file() and not real.is_symlink()
    assert _rows(real) == _ids(PY_CLEAN) | _ids(NODE_CLEAN)
    assert _staging(tmp_path) == [] and _staging(tmp_path / "real") == []


def test_a_planted_lock_symlink_is_refused(tmp_path, cli):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / ".t.duckdb.lock").symlink_to(victim)
    done = cli("load", PY_CLEAN, "--into", tmp_path / "t.duckdb")
    assert done.returncode == 2
    assert "lock file" in done.stderr and "symbolic link" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "t.duckdb").exists()


@pytest.mark.parametrize("target", ["-", "fifo", "folder"])
def test_load_into_what_is_not_a_regular_file_is_exit_2(tmp_path, cli, target):
    path = tmp_path / target
    if target == "fifo":
        os.mkfifo(path)
    elif target == "folder":
        path.mkdir()
    done = cli("load", PY_CLEAN, "--into", "-" if target == "-" else path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("audit-analytics: error: cannot load into")
    if target == "fifo":
        assert path.is_fifo()


# --- stale staging copies ----------------------------------------------------------------
def test_stale_staging_of_dead_loads_is_removed_and_nothing_else(tmp_path):
    target = tmp_path / "t.duckdb"
    load_into(PY_CLEAN, target)
    dead = _dead_pid()
    legacy = tmp_path / f".t.duckdb.{dead}.loading"
    legacy.write_bytes(b"x" * 4096)
    legacy_wal = tmp_path / f".t.duckdb.{dead}.loading.wal"
    legacy_wal.write_bytes(b"w" * 512)
    folder = tmp_path / f".t.duckdb.{dead}.k2j4_x9q.loading"
    folder.mkdir(mode=0o700)
    (folder / "t.duckdb").write_bytes(b"y" * 4096)
    (folder / "t.duckdb.wal").write_bytes(b"z" * 64)
    running = tmp_path / f".t.duckdb.{os.getpid()}.loading"  # a live process: kept
    running.write_bytes(b"live")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    linked = tmp_path / f".t.duckdb.{dead}.aaaa1111.loading"  # a link: not ours
    linked.symlink_to(tmp_path / "victim_dir", target_is_directory=True)
    (tmp_path / "victim_dir").mkdir()
    (tmp_path / "victim_dir" / "keep.txt").write_text("keep\n")
    other = tmp_path / f".other.duckdb.{dead}.loading"  # another target's: kept
    other.write_bytes(b"o")

    load_into(NODE_CLEAN, target)

    assert not legacy.exists() and not legacy_wal.exists() and not folder.exists()
    assert running.read_bytes() == b"live"
    assert linked.is_symlink() and (tmp_path / "victim_dir" / "keep.txt").exists()
    assert victim.read_text() == "precious\n" and other.exists()
    assert _rows(target) == _ids(PY_CLEAN) | _ids(NODE_CLEAN)


def test_a_load_killed_mid_way_leaves_staging_that_the_next_load_removes(tmp_path, cli):
    target = tmp_path / "t.duckdb"
    assert cli("load", NODE_CLEAN, "--into", target).returncode == 0
    before = target.read_bytes()
    big = _big(PY_CLEAN, tmp_path / "big.parquet", "k", 100)
    for _attempt in range(3):
        proc = _popen("load", big, "--into", target)
        deadline = time.monotonic() + 60
        while not _staging(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            break
        proc.communicate()
        target.write_bytes(before)  # it finished before it could be killed: try again
    else:
        pytest.skip("the load always finished before it could be killed")
    assert _staging(tmp_path), "a killed load leaves its staging copy"
    assert target.read_bytes() == before

    done = cli("load", PY_CLEAN, "--into", target)
    assert done.returncode == 0, done.stderr
    assert _staging(tmp_path) == []
    assert _rows(target) == _ids(PY_CLEAN) | _ids(NODE_CLEAN)


# --- loads of one file take turns --------------------------------------------------------
def test_two_concurrent_loads_keep_every_row(tmp_path):
    target = tmp_path / "t.duckdb"
    first = _big(PY_CLEAN, tmp_path / "a.parquet", "a", 40)
    second = _big(NODE_CLEAN, tmp_path / "b.parquet", "b", 40)
    procs = [_popen("load", src, "--into", target, "--json", "-") for src in (first, second)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    assert _rows(target) == _ids(first) | _ids(second)
    engine = Engine(target, read_only=True)
    try:
        runs = engine.rows("SELECT run, rows_appended FROM load_runs ORDER BY run")
    finally:
        engine.close()
    assert runs == [(1, 80_000), (2, 80_000)]
    assert _staging(tmp_path) == []
    assert not (tmp_path / ".t.duckdb.lock").exists()  # the lock file goes with the lock


def test_a_load_that_cannot_get_the_lock_in_time_is_exit_2(tmp_path, cli):
    target = tmp_path / "t.duckdb"
    assert cli("load", NODE_CLEAN, "--into", target).returncode == 0
    before = target.read_bytes()
    fd = os.open(tmp_path / ".t.duckdb.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"4242\n", 0)
        started = time.monotonic()
        done = cli("load", PY_CLEAN, "--into", target, "--wait", "1")
        assert time.monotonic() - started < 30
    finally:
        os.close(fd)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"audit-analytics: error: {target} is being loaded by "
                                   "process 4242 (waited 1 s); try again later")
    assert target.read_bytes() == before


def test_a_waiting_load_goes_ahead_when_the_lock_is_released(tmp_path):
    target = tmp_path / "t.duckdb"
    load_into(NODE_CLEAN, target)
    fd = os.open(tmp_path / ".t.duckdb.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    proc = _popen("load", PY_CLEAN, "--into", target, "--wait", "60")
    time.sleep(1.5)
    assert proc.poll() is None  # still waiting
    os.close(fd)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert _rows(target) == _ids(PY_CLEAN) | _ids(NODE_CLEAN)


def test_load_into_api_waits_a_bounded_time(tmp_path):
    target = tmp_path / "t.duckdb"
    fd = os.open(tmp_path / ".t.duckdb.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(OutputError, match="is being loaded"):
            load_into(PY_CLEAN, target, wait=0.2)
    finally:
        os.close(fd)
    assert not target.exists()


def _without(table: pa.Table, *names: str) -> pa.Table:
    return table.drop_columns(list(names))


def _text_times(table: pa.Table, values) -> pa.Table:
    index = table.schema.get_field_index("timestamp")
    return table.set_column(index, "timestamp", pa.array(values, pa.string()))


_BAD_SOURCES = {
    "no_hash": (lambda t: _without(t, "hash"), "lacks column(s) hash"),
    "no_prev_hash": (lambda t: _without(t, "prev_hash"), "lacks column(s) prev_hash"),
    "timestamp_only": (lambda t: t.select(["timestamp"]), "lacks column(s) id, prev_hash, hash"),
    "no_event_columns": (lambda t: pa.table({"x": list(range(t.num_rows))}),
                         "is not an audit log"),
    "hash_is_a_number": (lambda t: t.set_column(t.schema.get_field_index("hash"), "hash",
                                                pa.array(range(t.num_rows), pa.int64())),
                         "column 'hash'"),
}


@pytest.mark.parametrize("case", sorted(_BAD_SOURCES))
def test_load_refuses_what_verify_refuses_with_one_line(tmp_path, cli, case):
    make, expected = _BAD_SOURCES[case]
    source = tmp_path / f"{case}.parquet"
    pq.write_table(make(pq.read_table(PY_CLEAN).slice(0, 20)), source)
    target = tmp_path / "events.duckdb"
    verify = cli("verify", source)
    load = cli("load", source, "--into", target)
    assert verify.returncode == 2, verify.stderr
    assert load.returncode == 2, load.stderr
    assert expected in load.stderr and len(load.stderr.strip().splitlines()) == 1, load.stderr
    assert "Binder" not in load.stderr and "Traceback" not in load.stderr
    assert not target.exists()


@pytest.mark.parametrize("values", [["not a time"] * 6,
                                    ["+10000-01-01T00:00:00+00:00"] * 6,
                                    ["2024-01-02T03:04:05+00:00", "not a time"] * 3])
def test_load_keeps_rows_whose_text_timestamp_does_not_parse(tmp_path, cli, values):
    source = tmp_path / "text.parquet"
    pq.write_table(_text_times(pq.read_table(PY_CLEAN).slice(0, 6), values), source)
    target = tmp_path / "events.duckdb"
    done = cli("load", source, "--into", target)
    assert done.returncode == 0, done.stderr
    assert _rows(target) == _ids(source)
    again = cli("load", source, "--into", target)
    assert again.returncode == 0, again.stderr
    assert _rows(target) == _ids(source)


# --- how the events are stored, and the chain's head ----------------------------------
def _storage(path: Path) -> dict[str, set[str]]:
    engine = Engine(path, read_only=True)
    try:
        return {name: set(kinds) for name, kinds in engine.rows(
            "SELECT column_name, list(DISTINCT compression) FROM pragma_storage_info('events') "
            "WHERE segment_type = 'VARCHAR' GROUP BY 1")}
    finally:
        engine.close()


def test_appended_runs_keep_the_digests_and_ids_uncompressed(tmp_path, cli):
    table = pq.read_table(PY_CLEAN)
    first, whole = tmp_path / "first.parquet", tmp_path / "whole.parquet"
    pq.write_table(table.slice(0, 1200), first)
    pq.write_table(table, whole)
    target = tmp_path / "events.duckdb"
    for source in (first, whole):
        done = cli("load", source, "--into", target)
        assert done.returncode == 0, done.stderr
    storage = _storage(target)
    assert storage["hash"] == storage["prev_hash"] == storage["id"] == {"Uncompressed"}
    assert "Uncompressed" not in storage["actor_id"]
    assert _rows(target) == _ids(whole)
    verified = cli("verify", target, "--json", "-")
    direct = cli("verify", whole, "--json", "-")
    assert verified.returncode == direct.returncode == 0, verified.stderr + direct.stderr


def _linked(n: int, *, fork_at: int | None = None) -> pa.Table:
    """``n`` rows chained by ``prev_hash`` (the digests are not checked by a load)."""
    ids = [f"e{i:04d}" for i in range(n)]
    hashes = [f"{i:064x}" for i in range(1, n + 1)]
    prev = ["GENESIS", *hashes[:-1]]
    if fork_at is not None:  # a second child of row fork_at: two rows nothing links to
        ids.append("fork")
        hashes.append("f" * 64)
        prev.append(hashes[fork_at])
    return pa.table({"id": ids, "prev_hash": prev, "hash": hashes})


def _with_times(table: pa.Table, seconds: list[int]) -> pa.Table:
    base = 1_700_000_000
    times = pa.array([(base + s) * 1_000_000 for s in seconds], pa.timestamp("us", tz="UTC"))
    return table.add_column(1, "timestamp", times)


def _unlinked_newest(table: pa.Table) -> str | None:
    """The head as defined: the newest row whose hash no row's prev_hash names."""
    rows = table.to_pylist()
    linked = {r["prev_hash"] for r in rows}
    free = [r for r in rows if r["hash"] not in linked]
    return max(free, key=lambda r: (r["timestamp"], r["id"]))["id"] if free else None


@pytest.mark.parametrize("case", ["newest_is_head", "head_is_oldest", "fork_among_newest",
                                  "fork_far_back", "every_row_linked"])
def test_the_head_is_the_newest_row_nothing_links_to(tmp_path, case):
    n = 200
    if case == "newest_is_head":
        table = _with_times(_linked(n), list(range(n)))
    elif case == "head_is_oldest":  # the clock ran backwards: every newer row is linked to
        table = _with_times(_linked(n), list(range(n, 0, -1)))
    elif case == "fork_among_newest":
        table = _with_times(_linked(n, fork_at=n - 5), [*range(n), n + 7])
    elif case == "fork_far_back":  # the fork's row is older than the newest 64 rows
        table = _with_times(_linked(n, fork_at=10), [*range(n, 0, -1), 100])
    else:
        table = _with_times(_linked(n), list(range(n)))
        prev = table["prev_hash"].to_pylist()
        prev[0] = table["hash"][n - 1].as_py()  # a cycle: no row is free
        table = table.set_column(table.schema.get_field_index("prev_hash"), "prev_hash",
                                 pa.array(prev))
    source = tmp_path / "chain.parquet"
    pq.write_table(table, source)
    expected = _unlinked_newest(table)
    result = load_into(str(source), tmp_path / "events.duckdb", progress=False)
    assert (result.head or {}).get("id") == expected
    if case == "head_is_oldest":
        assert expected == f"e{n - 1:04d}"
    if case == "every_row_linked":
        assert expected is None
