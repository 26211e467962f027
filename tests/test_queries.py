"""Investigation queries over the generated month: bound parameters, filters, windows."""

import pandas as pd
import pytest

import audit_analytics as aa
from audit_analytics.errors import PeriodError


@pytest.fixture(scope="module")
def log(activity_month):
    with aa.open(activity_month["month"], journal=False) as opened:
        yield opened


def test_actor_history(log):
    frame = log.actor_history("md-001")
    assert len(frame) > 100
    assert frame["timestamp"].is_monotonic_increasing
    window = log.actor_history("md-001", since="2024-03-10", until="2024-03-12")
    assert 0 < len(window) < len(frame)
    assert (window["timestamp"] >= pd.Timestamp("2024-03-10", tz="UTC")).all()


def test_quotes_are_bound_not_pasted(log):
    assert log.actor_history("o'brien\"; DROP TABLE events; --").empty
    assert log.resource_access(resource_id="x' OR '1'='1").empty
    assert log.activity(actor_id="it's").empty
    assert log.sql("SELECT count(*) AS n FROM events")["n"][0] == len(log)  # table intact


def test_quoted_actor_is_found(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from audit_analytics.samples.activity import chain_table

    table = pa.table({
        "id": ["a", "b"], "timestamp": pa.array([1_700_000_000_000_000] * 2,
                                                pa.timestamp("us", tz="UTC")),
        "actor_id": ["o'brien", "x"], "action": ["read", "read"],
        "resource_type": ["patient_record"] * 2, "resource_id": ["MRN-1", "MRN-2"],
        "result": ["denied", "success"]})
    pq.write_table(chain_table(table), tmp_path / "q.parquet")
    with aa.open(tmp_path / "q.parquet", journal=False) as small:
        assert list(small.actor_history("o'brien")["resource_id"]) == ["MRN-1"]
        assert list(small.failed_attempts(actor_id="o'brien")["actor_id"]) == ["o'brien"]


def test_resource_access(log):
    some = log.sql("SELECT resource_id FROM events WHERE resource_type = 'patient_record' "
                   "LIMIT 1")["resource_id"][0]
    frame = log.resource_access(resource_id=some)
    assert len(frame) >= 1 and set(frame["resource_id"]) == {some}
    by_type = log.resource_access(resource_type="audit_log")
    assert set(by_type["resource_type"]) == {"audit_log"}


def test_failed_attempts(log):
    frame = log.failed_attempts()
    assert {"actor_id", "attempts", "failures", "denials"} <= set(frame.columns)
    assert "ip:203.0.113.77" in set(frame["actor_id"])
    assert frame["attempts"].is_monotonic_decreasing
    assert (frame["attempts"] == frame["failures"] + frame["denials"]).all()


def test_activity(log):
    daily = log.activity()
    assert 30 <= len(daily) <= 32
    assert daily["events"].sum() == len(log)
    hourly = log.activity("hour", action="export", tz="America/New_York")
    assert hourly["events"].sum() == log.sql(
        "SELECT count(*) AS n FROM events WHERE action = 'export'")["n"][0]
    one = log.activity(actor_id="md-001", result="success", resource_type="patient_record")
    assert one["actors"].max() == 1
    with pytest.raises(PeriodError):
        log.activity("week")
    with pytest.raises(PeriodError):
        log.activity(colour="red")
