"""The sources registry and the capabilities sources declare (instead of being probed)."""

import subprocess
import sys

import pytest

import audit_analytics as aa
from audit_analytics.sources import (
    CAPABILITIES,
    PROGRESS,
    PROTECTIONS,
    STREAM,
    TABLE,
    WINDOW,
    Source,
    open_source,
    registry,
    source_class,
)
from audit_analytics.sources.duckdb_file import DuckDBFileSource
from audit_analytics.sources.jsonlines import JsonLinesSource
from audit_analytics.sources.parquet import ParquetSource
from audit_analytics.sources.postgres import PostgresSource


def test_registry_is_read_only_and_resolves_each_kind():
    assert set(registry) >= {"postgresql", "duckdb", "parquet"}
    with pytest.raises(TypeError):
        registry["s3"] = registry["parquet"]  # type: ignore[index]
    assert source_class("postgresql") is PostgresSource
    assert source_class("duckdb") is DuckDBFileSource
    assert source_class("parquet") is ParquetSource
    with pytest.raises(aa.SourceError, match="unknown kind of source: 'nope'"):
        source_class("nope")


def test_open_source_picks_the_class_by_scheme_and_file_kind(samples, tmp_path):
    parquet = open_source(samples / "python_seed" / "clean.parquet")
    assert isinstance(parquet, ParquetSource)
    target = tmp_path / "events.duckdb"
    aa.load_into(str(samples / "python_seed" / "clean.parquet"), target)
    assert isinstance(open_source(str(target)), DuckDBFileSource)
    assert isinstance(open_source("postgresql://u@127.0.0.1:1/db"), PostgresSource)
    assert open_source(parquet) is parquet


def test_sources_declare_what_they_can_do():
    for cls in (ParquetSource, DuckDBFileSource, JsonLinesSource, PostgresSource):
        assert issubclass(cls, Source) and cls.capabilities <= CAPABILITIES, cls
    assert PostgresSource.capabilities == {WINDOW, STREAM, PROGRESS, TABLE, PROTECTIONS}
    assert DuckDBFileSource.capabilities == {TABLE}
    assert not ParquetSource.capabilities and not JsonLinesSource.capabilities
    pg = PostgresSource("postgresql://u@127.0.0.1:1/db")
    assert pg.supports(WINDOW) and not pg.supports("s3")


def test_protections_follow_the_declared_capability(samples):
    log = aa.open(samples / "python_seed" / "clean.parquet", journal=False)
    with log, pytest.raises(aa.SourceError, match="PostgreSQL sources only"):
        log.protections()


def test_a_missing_driver_is_one_line_with_an_install_hint():
    code = ("import sys\n"
            "sys.modules['adbc_driver_postgresql'] = None  # the driver is not installed\n"
            "from audit_analytics.cli import main\n"
            "main(['verify', 'postgresql://u@127.0.0.1:1/db'])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"AUDIT_ANALYTICS_JOURNAL": "off", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "audit-analytics: error: postgresql sources need the adbc_driver_postgresql package; "
        "install it with: pip install adbc-driver-postgresql adbc-driver-manager")


def test_block_ranges_cover_every_block_once():
    from audit_analytics.sources.snapshot import (
        MIN_BLOCKS_PER_STREAM,
        block_ranges,
        range_condition,
    )

    assert block_ranges(0, 4) == [(0, None)]
    assert block_ranges(MIN_BLOCKS_PER_STREAM * 2 - 1, 4) == [(0, None)]  # too small to split
    ranges = block_ranges(MIN_BLOCKS_PER_STREAM * 10 + 3, 4)
    assert len(ranges) == 4 and ranges[0][0] == 0 and ranges[-1][1] is None
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # contiguous, no overlap
    assert range_condition(5, None) == "ctid >= '(5,0)'::tid"
    assert range_condition(0, 9) == "ctid >= '(0,0)'::tid AND ctid < '(9,0)'::tid"


def test_snapshot_ids_are_checked_before_use():
    from audit_analytics.sources.snapshot import snapshot_id

    assert snapshot_id("00000003-0000001B-1") == "00000003-0000001B-1"
    for bad in ("x'; DROP TABLE t; --", "", "00000003"):
        with pytest.raises(ValueError):
            snapshot_id(bad)
