from datetime import UTC, datetime

import pytest

from audit_analytics.errors import PeriodError
from audit_analytics.periods import parse_period, periods_between

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
