"""How often a report and the checklist read their source, counted through the engine.

Verification reads the source on its own terms (profile detection, the hashing scan, the
ids of findings); everything else the checklist and the report need comes from one
materialised copy of the events: one scan of the source, whatever the number of checks,
charts and sections.
"""

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import audit_analytics as aa
from audit_analytics._engine import Engine
from audit_analytics.checks import CHECKS, run_checks
from audit_analytics.periods import parse_period
from audit_analytics.report import build_report
from audit_analytics.report.document import Report
from audit_analytics.report.sections import SECTIONS

CLEAN = "data_samples/python_seed/clean.parquet"
REPORT_SCANS = 4  # of a Parquet source, by one report: verification's and one more


def _verify_scans(path, **verify) -> int:
    """Scans of ``path`` by one verification alone."""
    engine = Engine()
    with aa.open(str(path), engine=engine, journal=False) as log, engine.count_scans() as n:
        log.verify(**verify)
    engine.close()
    return n.parquet(path)


def _counted(path, work):
    engine = Engine()
    with aa.open(str(path), engine=engine, journal=False) as log, engine.count_scans() as scans:
        out = work(log)
    engine.close()
    return scans, out


def test_a_scan_counter_sees_every_read_of_a_file(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": list(range(100))}), path)
    engine = Engine()
    engine.execute(f"CREATE VIEW v AS SELECT * FROM read_parquet('{path}')")
    engine.scalar("SELECT 1")  # not counted: nothing is counting yet
    with engine.count_scans() as scans:
        engine.scalar("SELECT count(*) FROM v WHERE x > 3")
        engine.rows("SELECT a.x FROM v a JOIN v b USING (x) WHERE a.x < 5")  # two scans
        assert sum(b.num_rows for b in engine.reader("SELECT * FROM v", batch_size=7)) == 100
        engine.execute("CREATE TEMP TABLE t AS SELECT * FROM v")
        engine.scalar("SELECT max(x) FROM t")  # the table, not the file
        engine.execute("SET threads = 2")  # no plan at all
    assert scans.parquet(path) == 5 and scans.parquet() == 5
    assert scans.table("t") == 1
    engine.scalar("SELECT count(*) FROM v")
    assert scans.parquet() == 5  # counting ended with the block
    engine.close()


def test_cached_events_shadow_events_for_the_checks_alone(tmp_path):
    with aa.open(CLEAN, journal=False) as log:
        before = log.sql("SELECT count(*) AS n, count(reason) AS r FROM events")
        with log.cached_events() as engine, log.cached_events() as again:
            assert again is engine  # nested uses share one copy
            folder = next(iter(engine._shared.scratch.values()))
            assert os.path.isdir(folder)
            assert engine.scalar("SELECT count(*) FROM events") == before["n"][0]
            # the user's own queries still read the source's events, every column of them
            assert log.sql("SELECT count(reason) AS r FROM events")["r"][0] == before["r"][0]
            with engine.count_scans() as scans:
                engine.scalar('SELECT min("timestamp") FROM events')
                engine.scalar("SELECT max(length(id)) FROM raw")  # raw is the source's, as ever
            assert scans.parquet() == 1
        assert not os.path.exists(folder)  # the copy is gone with the block
        assert log.sql("SELECT count(*) AS n FROM events")["n"][0] == before["n"][0]


def test_a_report_reads_its_source_once_beyond_verification(activity_month):
    path = activity_month["month"]
    verify = _verify_scans(path)
    scans, report = _counted(path, lambda log: build_report(log, "2024-03"))
    assert report.anomalies and report.anomalies[0].get("evidence")  # evidence was read
    assert report.charts and report.scope["rows_in_period"]
    assert scans.parquet(path) <= verify + 1, scans.scans


def test_a_report_scans_a_parquet_source_at_most_four_times(activity_month):
    path = activity_month["month"]
    verify = _verify_scans(path)
    if verify > REPORT_SCANS - 1:
        pytest.skip(f"verification alone scans the source {verify} times")
    scans, _ = _counted(path, lambda log: build_report(log, "2024-03"))
    assert scans.parquet(path) <= REPORT_SCANS, scans.scans


def test_the_checklist_reads_its_source_once_beyond_chain_integrity(activity_month):
    path = activity_month["month"]
    verify = _verify_scans(path, profile="auto")
    span = parse_period("2024-03")
    scans, result = _counted(path, lambda log: run_checks(log, since=span.start,
                                                          until=span.end))
    assert "chain_integrity" in [c.name for c in result.checks]
    assert scans.parquet(path) <= verify + 1, scans.scans
    # without chain_integrity: one scan for all the other checks
    others = [name for name in CHECKS if name != "chain_integrity"]
    scans, _ = _counted(path, lambda log: run_checks(log, since=span.start, until=span.end,
                                                     only=others))
    assert scans.parquet(path) == 1, scans.scans


def test_every_report_section_is_gathered_and_written_from_one_list():
    fields = set(Report.__dataclass_fields__)
    assert {s.name for s in SECTIONS} <= fields
    assert fields - {s.name for s in SECTIONS} == {"period", "generated_at", "generated_by",
                                                    "version", "totals", "source_id"}
    with aa.open(CLEAN, journal=False) as log:
        summary = build_report(log, "2024-01").to_dict()
    written = [s.json_key for s in SECTIONS]
    # a section that lists the first entries of a longer list says how many there are
    counts = [k for k in summary if k.endswith(("_total", "_truncated"))]
    assert [k for k in summary if k not in counts] == ["report", *written]
    assert all(k.rsplit("_", 1)[0] in written for k in counts), counts
