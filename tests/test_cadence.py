"""The review cadence at the ends of the calendar: a ledger entry never breaks an evaluation.

Reports may be recorded for any period Python can represent (``0001-W01``,
``9999-12-30``); every later ``report``, ``check`` and ``ledger cadence`` under any policy
time zone must still evaluate, clamping the schedule to the representable range and to
the lookback, never failing with a user-input error or a crash.
"""

import json
from datetime import UTC, datetime

import pytest

from audit_analytics.periods import periods_between

CLEAN = "data_samples/python_seed/clean.parquet"


def _policy(tmp_path, zone: str):
    path = tmp_path / f"policy-{zone.replace('/', '_')}.toml"
    path.write_text(f'timezone = "{zone}"\n')
    return path


def _recorded(cli, tmp_path, period: str):
    home = tmp_path / "home"
    done = cli("--home", home, "report", CLEAN, "--period", period, "--out", tmp_path / "first")
    assert done.returncode == 0, done.stderr
    return home


@pytest.mark.parametrize("zone", ["Etc/GMT+12", "Etc/GMT-14"])
def test_a_review_of_the_first_week_of_year_one_never_breaks_the_cadence(cli, tmp_path, zone):
    home = _recorded(cli, tmp_path, "0001-W01")
    policy = _policy(tmp_path, zone)
    report = cli("--home", home, "report", CLEAN, "--period", "2024-01", "--policy", policy,
                 "--out", tmp_path / "out")
    assert report.returncode == 0, report.stderr
    cadence = cli("--home", home, "ledger", "cadence", "--policy", policy, "--json")
    assert cadence.returncode == 1, cadence.stderr  # monthly reviews were missed
    result = json.loads(cadence.stdout)
    assert result["status"] == "fail" and "lookback" in result["summary"]


def test_a_report_for_the_first_week_of_year_one_evaluates_its_cadence(cli, tmp_path):
    home = _recorded(cli, tmp_path, "0001-W01")
    # the week's end is in year one: the lookback reaches before the first instant
    again = cli("--home", home, "report", CLEAN, "--period", "0001-W01", "--policy",
                _policy(tmp_path, "Etc/GMT+12"), "--out", tmp_path / "out")
    assert again.returncode == 0, again.stderr
    report = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert report["report"]["period"]["label"] == "0001-W01"
    assert report["review_cadence"]["status"] in ("pass", "warn", "fail")
    # east of UTC the week begins before 0001-01-01 UTC: the period itself is refused
    east = cli("--home", home, "report", CLEAN, "--period", "0001-W01", "--policy",
               _policy(tmp_path, "Etc/GMT-14"), "--out", tmp_path / "east")
    assert east.returncode == 2 and "out of the supported range" in east.stderr
    assert "Traceback" not in east.stderr


def test_a_review_of_the_last_days_of_9999_is_not_yet_due(cli, tmp_path):
    home = _recorded(cli, tmp_path, "9999-12-30")
    policy = _policy(tmp_path, "Etc/GMT+12")
    cadence = cli("--home", home, "ledger", "cadence", "--policy", policy, "--json")
    assert cadence.returncode == 0, cadence.stderr
    result = json.loads(cadence.stdout)
    assert result["metrics"]["expected"] == 0 and "no period is due yet" in result["summary"]
    for args in (("check", CLEAN, "--policy", policy),
                 ("report", CLEAN, "--period", "2024-01", "--policy", policy,
                  "--out", tmp_path / "out")):
        done = cli("--home", home, *args)
        assert done.returncode in (0, 1), done.stderr
        assert "out of the supported range" not in done.stderr


@pytest.mark.parametrize("zone", ["Etc/GMT-14", "Etc/GMT+12", "UTC"])
@pytest.mark.parametrize("kind", ["day", "week", "month"])
def test_periods_between_the_ends_of_the_range(zone, kind):
    first = datetime.min.replace(tzinfo=UTC)
    periods = list(periods_between(kind, first, datetime(1, 3, 1, tzinfo=UTC), zone))
    assert periods and periods[0].start >= first
    last = datetime.max.replace(tzinfo=UTC)
    tail = list(periods_between(kind, datetime(9999, 12, 25, tzinfo=UTC), last, zone))
    assert all(p.end <= last for p in tail)
    assert list(periods_between(kind, last, last, zone)) == []
