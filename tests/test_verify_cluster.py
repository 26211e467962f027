"""The map of verification on a Dask cluster (a real LocalCluster) and the default runner.

The cluster's workers are processes of their own: they read the parts' files from their
paths and send back only the parts' results; the findings, segments, head and anchors
must be what one process finds.
"""

import json
import os

import pytest
from test_verify_parts import CASES, PROFILE, _anchors, _write

import audit_analytics as aa
from audit_analytics.chain.runners import DaskRunner, ProcessPoolRunner
from audit_analytics.chain.verify import POOL_MIN_ROWS, _runner_for
from audit_analytics.samples import events, python_seed
from audit_analytics.sources import ScanPart

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def chain():
    return [dict(r) for r in python_seed.chain(events.generate_events(240, seed=31))]


@pytest.fixture(scope="module")
def scheduler():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as cluster:
        yield cluster.scheduler_address


def _doc(result) -> dict:
    doc = json.loads(json.dumps(result.to_dict(), default=str))
    doc.pop("seconds")
    return doc


@pytest.mark.parametrize("case", ["combined", "shuffled", "cycle_across", "copy_across",
                                  "duplicate_id_across", "tamper_truncated"])
def test_the_cluster_gives_the_one_process_result(tmp_path, chain, case, scheduler):
    rows = CASES[case](chain)
    anchors = _anchors(tmp_path, chain)
    n = len(rows)
    folder = _write(rows, tmp_path / "many", [n // 4, n // 2, 3 * n // 4])
    with aa.open(str(folder), journal=False) as log:
        here = _doc(log.verify(profile=PROFILE, anchors=anchors))
        there = _doc(log.verify(profile=PROFILE, anchors=anchors, scheduler=scheduler))
        with DaskRunner(scheduler) as runner:  # the runner as the Python API takes it
            again = _doc(log.verify(profile=PROFILE, anchors=anchors, runner=runner))
    assert not here["ok"]
    assert there == here == again


def test_cli_scheduler(tmp_path, chain, cli, scheduler):
    rows = CASES["combined"](chain)
    folder = _write(rows, tmp_path / "many", [60, 120, 180])
    runs = [cli("--no-progress", "verify", folder, "--profile", PROFILE, "--json", "-", *extra)
            for extra in (["--workers", "1"], ["--scheduler", scheduler])]
    assert [r.returncode for r in runs] == [1, 1], runs[1].stderr
    docs = [json.loads(r.stdout) for r in runs]
    for doc in docs:
        doc.pop("seconds")
    assert docs[0] == docs[1]
    assert docs[1]["counts"]["fork"] >= 1


def test_cli_scheduler_unreachable_and_exclusive(tmp_path, chain, cli):
    folder = _write(chain, tmp_path / "many", [120])
    down = cli("verify", folder, "--scheduler", "tcp://127.0.0.1:9")
    assert down.returncode == 2, down.stderr
    assert down.stderr.startswith("audit-analytics: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert len(down.stderr.strip().splitlines()) == 1 and "Traceback" not in down.stderr
    both = cli("verify", folder, "--workers", "2", "--scheduler", "tcp://127.0.0.1:9")
    assert both.returncode == 2 and "exclude each other" in both.stderr


def test_default_runner_is_a_pool_of_every_core_for_large_multi_part_sources(tmp_path):
    half = POOL_MIN_ROWS // 2
    files = [ScanPart.parquet(str(tmp_path / f"d{k}.parquet"), k << 40, half)
             for k in range(3)]
    table = ScanPart(sql="SELECT 1", params=[], rows=10 * POOL_MIN_ROWS, where="t")
    pool = _runner_for(None, None, files)
    assert isinstance(pool, ProcessPoolRunner)
    assert pool.workers == min(os.cpu_count(), 3)
    assert _runner_for(None, None, files[:1]) is None  # one file: nothing to share out
    assert _runner_for(None, None, [table]) is None  # a table is scanned where it lives
    small = [ScanPart.parquet(str(tmp_path / f"s{k}.parquet"), k << 40, 10) for k in range(3)]
    assert _runner_for(None, None, small) is None  # faster than starting a pool
    assert _runner_for(None, 1, files) is None
    assert _runner_for(None, 2, small).workers == 2  # asked for: always a pool


def test_parts_name_absolute_paths_and_keep_the_given_label(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    part = ScanPart.parquet("day/part-0.parquet", 0, 5)
    assert part.path == str(tmp_path / "day" / "part-0.parquet")
    assert part.params[1] == part.path and part.where == "day/part-0.parquet"


def test_part_sets_spill_and_find_what_parts_share():
    """The reduce's per-row state goes to disk in buckets, read back one at a time."""
    import numpy as np

    from audit_analytics.chain.keysets import PartSets

    rng = np.random.default_rng(5)
    values = np.unique(rng.integers(-2**62, 2**62, 1_200_000))
    rng.shuffle(values)
    parts = np.array_split(values, 4)
    parts[3] = np.concatenate([parts[3], parts[0][:7], parts[1][-3:]])  # shared by two parts

    class Result:
        def __init__(self, index, keys):
            self.index, self.key_set = index, np.sort(keys)
            self.id_set = np.sort(keys.view(np.uint64))

    with PartSets() as sets:
        for k, keys in enumerate(parts):
            result = Result(k, keys)
            sets.take(result)
            assert result.key_set is None and result.id_set is None
        shared = sets.shared("keys")
        assert sorted(shared) == [0, 1, 3]
        assert shared[0].tolist() == sorted(parts[0][:7].tolist())
        assert shared[1].tolist() == sorted(parts[1][-3:].tolist())
        assert shared[3].tolist() == sorted([*parts[0][:7].tolist(), *parts[1][-3:].tolist()])
        assert sorted(sets.shared("ids")) == [0, 1, 3]
        asked = [(int(parts[2][0]), 0), (int(parts[2][1]), 2)]  # the second: its own part
        assert {p: v.tolist() for p, v in sets.held_elsewhere("keys", asked).items()} == {
            2: [int(parts[2][0])]}
        folder = sets.folder
        written = sum(f.stat().st_size for f in folder.iterdir())
        assert written == 12 * 2 * sum(len(p) for p in parts)  # 12 bytes a value, on disk
    assert not folder.exists()


def test_engines_never_print_duckdb_progress_bars():
    """A pool's or a cluster's workers must not write DuckDB's bar into the CLI's JSON."""
    with aa.Engine() as engine:
        assert engine.scalar("SELECT current_setting('enable_progress_bar')") is False
