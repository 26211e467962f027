from datetime import UTC, datetime

import pytest

from audit_analytics.errors import PeriodError
from audit_analytics.periods import parse_period, parse_when, periods_between

NOW = datetime(2024, 3, 6, 10, 30, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize("text,label,start,end,kind", [
    ("2024-01", "2024-01", "2024-01-01T00:00:00+00:00", "2024-02-01T00:00:00+00:00", "month"),
    ("2024-12", "2024-12", "2024-12-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00", "month"),
    ("2024-02-29", "2024-02-29", "2024-02-29T00:00:00+00:00", "2024-03-01T00:00:00+00:00", "day"),
    ("2024-W01", "2024-W01", "2024-01-01T00:00:00+00:00", "2024-01-08T00:00:00+00:00", "week"),
    ("2020-W53", "2020-W53", "2020-12-28T00:00:00+00:00", "2021-01-04T00:00:00+00:00", "week"),
    ("2025-w01", "2025-W01", "2024-12-30T00:00:00+00:00", "2025-01-06T00:00:00+00:00", "week"),
    ("last-day", "2024-03-05", "2024-03-05T00:00:00+00:00", "2024-03-06T00:00:00+00:00", "day"),
    ("last-week", "2024-W09", "2024-02-26T00:00:00+00:00", "2024-03-04T00:00:00+00:00", "week"),
    ("last-month", "2024-02", "2024-02-01T00:00:00+00:00", "2024-03-01T00:00:00+00:00", "month"),
])
def test_parse(text, label, start, end, kind):
    p = parse_period(text, now=NOW)
    assert (p.label, p.start.isoformat(), p.end.isoformat(), p.kind) == (label, start, end, kind)
    assert p.start.tzinfo is not None and p.start < p.end
    assert p.start in p and p.end not in p


def test_time_zone_draws_the_calendar():
    p = parse_period("2024-01", tz="America/New_York")
    assert p.start == datetime(2024, 1, 1, 5, tzinfo=UTC)
    assert p.end == datetime(2024, 2, 1, 5, tzinfo=UTC)
    # in Tokyo it is already 6 March 01:00 when UTC says 5 March 16:00
    tokyo = parse_period("last-day", tz="Asia/Tokyo", now=datetime(2024, 3, 5, 16, tzinfo=UTC))
    assert tokyo.label == "2024-03-05"
    assert parse_period("last-day", now=datetime(2024, 3, 5, 16, tzinfo=UTC)).label == "2024-03-04"


def test_dst_day_is_23_hours():
    p = parse_period("2024-03-31", tz="Europe/Berlin")
    assert (p.end - p.start).total_seconds() == 23 * 3600
    assert p.days == 1


@pytest.mark.parametrize("text", ["2024-13", "2023-W53", "2024-02-30", "2024", "yesterday",
                                  "", "last-year", "2024-1", "01-2024", "2024-W1"])
def test_bad_periods(text):
    with pytest.raises(PeriodError) as err:
        parse_period(text)
    assert "\n" not in str(err.value)
    assert err.value.exit_code == 2


def test_unknown_time_zone():
    with pytest.raises(PeriodError, match="time zone"):
        parse_period("2024-01", tz="Mars/Olympus")


def test_periods_between():
    days = list(periods_between("day", datetime(2024, 1, 30, 12, tzinfo=UTC),
                                datetime(2024, 2, 2, 6, tzinfo=UTC)))
    assert [d.label for d in days] == ["2024-01-30", "2024-01-31", "2024-02-01"]
    months = list(periods_between("month", datetime(2023, 11, 5, tzinfo=UTC),
                                  datetime(2024, 2, 1, tzinfo=UTC)))
    assert [m.label for m in months] == ["2023-11", "2023-12", "2024-01"]


@pytest.mark.parametrize("text, tz", [
    ("9999-12", None), ("9999-W52", None), ("9999-12-31", None),
    ("9999-12-31", "America/New_York"), ("9999-12-31", "Pacific/Kiritimati"),
    ("0001-01-01", "Asia/Tokyo"), ("0001-01", "Asia/Tokyo"), ("0001-W01", "Asia/Tokyo"),
])
def test_periods_past_the_datetime_range_are_period_errors(text, tz):
    with pytest.raises(PeriodError, match="out of the supported range") as info:
        parse_period(text, tz=tz)
    assert text in str(info.value) and "\n" not in str(info.value)


def test_periods_at_the_edges_of_the_range_still_work():
    assert parse_period("9999-11").end == datetime(9999, 12, 1, tzinfo=UTC)
    assert parse_period("0001-01").start == datetime(1, 1, 1, tzinfo=UTC)
    assert parse_period("0001-W01", tz="America/New_York").kind == "week"
    assert parse_period("9999-12-30", tz="Asia/Tokyo").label == "9999-12-30"


@pytest.mark.parametrize("kind", ["last-day", "last-week", "last-month"])
@pytest.mark.parametrize("now", [datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 3, tzinfo=UTC),
                                 datetime.max.replace(tzinfo=UTC)])
@pytest.mark.parametrize("tz", [None, "Asia/Tokyo", "America/New_York"])
def test_relative_periods_near_the_range_never_overflow(kind, now, tz):
    try:
        period = parse_period(kind, tz=tz, now=now)
    except PeriodError as exc:
        assert "out of the supported range" in str(exc)
    else:
        assert period.end <= now


@pytest.mark.parametrize("text, tz", [
    ("9999-12-31T23:59:59-01:00", "UTC"), ("0001-01-01T00:00:00+01:00", "UTC"),
    ("0001-01-01", "Asia/Tokyo"), ("9999-12-31T23:00", "America/New_York"),
])
def test_times_past_the_datetime_range_are_period_errors(text, tz):
    with pytest.raises(PeriodError, match="--since .* out of the supported range"):
        parse_when(text, tz, what="--since")


def test_periods_between_stops_at_the_end_of_the_range():
    days = list(periods_between("day", datetime(9999, 12, 29, tzinfo=UTC),
                                datetime.max.replace(tzinfo=UTC)))
    assert [p.label for p in days] == ["9999-12-29", "9999-12-30"]


@pytest.mark.parametrize("args", [
    ("report", "--period", "9999-12"), ("report", "--period", "9999-W52"),
    ("report", "--period", "9999-12-31"), ("report", "--period", "0000-01"),
    ("check", "--since", "9999-12-31T23:59:59-01:00"),
    ("check", "--until", "0001-01-01T00:00:00+01:00"),
    ("verify", "--since", "9999-12-31T23:59:59-01:00"),
])
def test_cli_dates_past_the_range_are_bad_input(cli, samples, tmp_path, args):
    command, *rest = args
    source = samples / "python_seed" / "clean.parquet"
    extra = ["--out", tmp_path] if command == "report" else []
    if command == "verify":  # a time window needs a database URL; it is parsed first
        source = "postgresql://auditor@127.0.0.1:1/app"
    proc = cli(command, source, *rest, *extra)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "OverflowError" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_huge_load_overlap_reads_everything_again(cli, samples, tmp_path):
    target = tmp_path / "events.duckdb"
    source = samples / "python_seed" / "clean.parquet"
    assert cli("load", source, "--into", target).returncode == 0
    for overlap in ("99999999999999", "1500000000"):
        proc = cli("load", source, "--into", target, "--overlap", overlap)
        assert proc.returncode == 0, proc.stderr
        assert "appended 0 of" in proc.stdout
