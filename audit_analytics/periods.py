"""Review periods: ``2024-01``, ``2024-W03``, ``2024-01-15``, ``last-day``, ``last-week``...

A period is a half-open interval ``[start, end)`` of UTC instants. Calendar boundaries
(midnight, Monday, the first of the month) are taken in a time zone: the policy's, or
UTC. Relative periods are the last *complete* day, ISO week or month before ``now``::

    >>> p = parse_period("2024-01")
    >>> p.label, p.start.isoformat(), p.end.isoformat()
    ('2024-01', '2024-01-01T00:00:00+00:00', '2024-02-01T00:00:00+00:00')
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ._text import shown
from .errors import PeriodError, UsageError

__all__ = [
    "Period", "parse_period", "parse_when", "parse_window", "period_of", "periods_between",
    "resolve_tz", "zone_known",
]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$", re.IGNORECASE)
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
RELATIVE = ("last-day", "last-week", "last-month")
KINDS = ("day", "week", "month")
_FORMS = "YYYY-MM, YYYY-Www (ISO week), YYYY-MM-DD, last-day, last-week or last-month"


@dataclass(frozen=True)
class Period:
    """A review period: ``[start, end)`` in UTC, with the label reports are named by.

    Attributes
    ----------
    label
        ``2024-01``, ``2024-W03`` or ``2024-01-15`` (relative periods are resolved).
    start, end
        Timezone-aware UTC datetimes; ``start`` is included, ``end`` is not.
    kind
        ``"day"``, ``"week"`` or ``"month"``.
    tz
        The time zone whose calendar drew the boundaries (``"UTC"`` by default).
    """

    label: str
    start: datetime
    end: datetime
    kind: str = "month"
    tz: str = "UTC"

    def __contains__(self, moment: datetime) -> bool:
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return self.start <= moment < self.end

    @property
    def days(self) -> int:
        """Calendar days in the period (23- or 25-hour days count as one)."""
        zone = resolve_tz(self.tz)
        return (self.end.astimezone(zone).date() - self.start.astimezone(zone).date()).days

    def next(self) -> Period:
        """The period of the same kind that follows this one."""
        return period_of(self.end.astimezone(resolve_tz(self.tz)).date(), self.kind, self.tz)

    def to_dict(self) -> dict:
        """``{"label", "kind", "start", "end", "tz"}`` with ISO-8601 UTC instants."""
        return {"label": self.label, "kind": self.kind, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "tz": self.tz}

    def __str__(self) -> str:
        return f"{self.label} [{self.start.isoformat()}, {self.end.isoformat()})"


@cache
def _engine_zones() -> frozenset[str]:
    """The time zone names DuckDB knows (it computes local days in SQL)."""
    import duckdb

    with duckdb.connect() as con:
        return frozenset(r[0] for r in con.execute("SELECT name FROM pg_timezone_names()")
                         .fetchall())


def zone_known(name: str) -> bool:
    """Whether ``name`` is a time zone both Python's zoneinfo and DuckDB know.

    zoneinfo also accepts files of the zone database that name no zone of their own
    (``localtime``, ``posixrules``, ``right/UTC``, ``posix/Europe/Paris``), which DuckDB
    refuses; such a name is unknown here.
    """
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return name in _engine_zones()


def resolve_tz(tz: str | tzinfo | None) -> tzinfo:
    """A ``tzinfo`` for an IANA name (``Europe/Berlin``), ``UTC`` or ``None`` (UTC)."""
    if tz is None or tz == "UTC":
        return UTC
    if isinstance(tz, tzinfo):
        return tz
    if not zone_known(str(tz)):
        raise PeriodError(f"unknown time zone {_seen(tz)} (use an IANA name such as Europe/Berlin)",
                          tz=str(tz))
    return ZoneInfo(str(tz))


def _seen(value: object) -> str:
    """A value for a message: its repr, escaped and clipped (it may come from anywhere)."""
    return shown(repr(value), 80)


def _tz_name(tz: str | tzinfo | None) -> str:
    if tz is None:
        return "UTC"
    return str(tz) if not isinstance(tz, ZoneInfo) else tz.key


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _out_of_range(what: str, **fields: object) -> PeriodError:
    return PeriodError(f"{what} is out of the supported range (UTC instants from "
                       f"{datetime.min.year:04d}-01-01 to the end of {datetime.max.year:04d})",
                       **fields)


def period_of(day: date, kind: str, tz: str | tzinfo | None = None) -> Period:
    """The day, ISO week or month (``kind``) holding the calendar date ``day``.

    Raises
    ------
    PeriodError
        An unknown ``kind``, or a period whose bounds fall outside the datetimes Python
        can represent (the month after ``9999-12``, a midnight before ``0001-01-01`` UTC).
    """
    try:
        return _period_of(day, kind, tz)
    except OverflowError:
        raise _out_of_range(f"the {kind} holding {day.isoformat()}", period=day.isoformat(),
                            tz=_tz_name(tz)) from None


def _period_of(day: date, kind: str, tz: str | tzinfo | None) -> Period:
    zone, name = resolve_tz(tz), _tz_name(tz)
    if kind == "day":
        first, after, label = day, day + timedelta(days=1), day.isoformat()
    elif kind == "week":
        first = day - timedelta(days=day.isoweekday() - 1)
        after = first + timedelta(days=7)
        year, week, _ = first.isocalendar()
        label = f"{year:04d}-W{week:02d}"
    elif kind == "month":
        first = day.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
        label = f"{first.year:04d}-{first.month:02d}"
    else:
        raise PeriodError(f"unknown period kind {_seen(kind)} (day, week or month)", period=kind)
    return Period(label, _midnight(first, zone), _midnight(after, zone), kind, name)


def parse_period(text: str, *, tz: str | tzinfo | None = None,
                 now: datetime | None = None) -> Period:
    """Parse a period label into a :class:`Period`.

    Parameters
    ----------
    text
        ``YYYY-MM``, ``YYYY-Www`` (ISO week, Monday to Sunday), ``YYYY-MM-DD``,
        ``last-day``, ``last-week`` or ``last-month``.
    tz
        The time zone whose calendar draws the boundaries and says what "now" is (an IANA
        name, usually the policy's ``timezone``); UTC by default.
    now
        The reference instant for relative periods (default: the current time).

    Raises
    ------
    PeriodError
        For any other text, an impossible date (``2024-13``, ``2023-W53``) or a period
        whose bounds Python cannot represent (``9999-12`` ends in year 10000).
    """
    if isinstance(text, Period):
        return text
    if now is not None and not isinstance(now, datetime):
        raise UsageError(f"now must be a datetime, not {_seen(now)}", argument="now")
    raw = str(text).strip()
    zone = resolve_tz(tz)
    if raw.lower() in RELATIVE:
        moment = (now or datetime.now(UTC))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        kind = raw.lower().removeprefix("last-")
        try:
            today = moment.astimezone(zone).date()
            current = period_of(today, kind, tz)
            before = current.start.astimezone(zone).date() - timedelta(days=1)
        except OverflowError:
            raise _out_of_range(f"the {kind} before {moment.isoformat()}", period=raw) from None
        return period_of(before, kind, tz)
    try:
        if m := _MONTH.match(raw):
            return period_of(date(int(m[1]), int(m[2]), 1), "month", tz)
        if m := _DAY.match(raw):
            return period_of(date(int(m[1]), int(m[2]), int(m[3])), "day", tz)
        if m := _WEEK.match(raw):
            return period_of(date.fromisocalendar(int(m[1]), int(m[2]), 1), "week", tz)
    except ValueError as exc:
        raise PeriodError(f"invalid period {_seen(raw)}: {exc}", period=raw) from None
    except PeriodError as exc:
        raise PeriodError(f"period {_seen(raw)}: {exc.message}", period=raw) from None
    raise PeriodError(f"unknown period {_seen(raw)}: expected {_FORMS}", period=raw)


def periods_between(kind: str, since: datetime, until: datetime,
                    tz: str | tzinfo | None = None) -> Iterator[Period]:
    """Every whole period of ``kind`` from the one holding ``since`` up to ``until``.

    Periods still running at ``until`` are left out, and so is a period whose end lies
    past the last datetime Python can represent (it cannot end before ``until``). Near
    ``0001-01-01`` the period holding ``since`` may begin before the first representable
    instant (a midnight east of UTC): the schedule then starts with the first period that
    can be represented. Nothing here raises for an instant at either end of the range.
    """
    period = _first_period(kind, since, tz)
    while period is not None and period.end <= until:
        yield period
        try:
            period = period.next()
        except PeriodError:
            return


def _first_period(kind: str, since: datetime, tz: str | tzinfo | None) -> Period | None:
    """The first representable period of ``kind`` holding or following ``since``."""
    zone = resolve_tz(tz)
    try:
        day = since.astimezone(zone).date()
    except OverflowError:  # the local date lies outside years 1..9999
        if since.year > 1:
            return None
        day = date.min
    while True:
        try:
            return period_of(day, kind, tz)
        except PeriodError:
            if day.year > 1:  # past the end of the range: no later period either
                return None
            day = _following(day, kind)
            if day is None:
                return None


def _following(day: date, kind: str) -> date | None:
    """The first day of the period of ``kind`` after the one holding ``day``."""
    try:
        if kind == "day":
            return day + timedelta(days=1)
        if kind == "week":
            return day + timedelta(days=8 - day.isoweekday())
        return (day.replace(day=1) + timedelta(days=32)).replace(day=1)
    except OverflowError:
        return None


def parse_when(value: object, tz: str = "UTC", *, what: str = "time") -> datetime | None:
    """A timezone-aware datetime from ISO text, a date or a datetime.

    Naive values (and dates, taken at midnight) are read in the policy time zone ``tz``.

    Raises
    ------
    PeriodError
        The text is not an ISO 8601 date or date-time, or names an instant that has no
        UTC datetime (``9999-12-31T23:59:59-01:00`` is in year 10000 in UTC).
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise PeriodError(f"cannot parse {what} {_seen(text)}: expected ISO 8601 such as "
                              "2024-03-01 or 2024-03-01T08:00:00+00:00", value=text) from None
    elif hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        value = value.to_pydatetime()
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if not isinstance(value, datetime):
        raise PeriodError(f"cannot use {_seen(value)} as a {what}", value=str(value))
    if value.tzinfo is None:
        value = value.replace(tzinfo=resolve_tz(tz))
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise _out_of_range(f"{what} {value.isoformat()}", value=value.isoformat()) from None


def parse_window(since: object, until: object, tz: str = "UTC") -> tuple[datetime | None,
                                                                         datetime | None]:
    """``since`` and ``until`` parsed by :func:`parse_when`: a window ``[since, until)``.

    Raises
    ------
    PeriodError
        Either bound is unparsable, or ``until`` is not after ``since`` (an empty window
        would select nothing and so pass every check silently).
    """
    lo = parse_when(since, tz, what="--since")
    hi = parse_when(until, tz, what="--until")
    if lo is not None and hi is not None and hi <= lo:
        raise PeriodError(f"--until ({hi.isoformat()}) must be after --since "
                          f"({lo.isoformat()})", value=str(until))
    return lo, hi
