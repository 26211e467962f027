"""Policy loading and validation."""

import pytest

from audit_analytics.errors import PeriodError, PolicyError
from audit_analytics.periods import resolve_tz
from audit_analytics.policy import BUILTIN_POLICIES, RETENTION_PRESETS, Policy


def _write(tmp_path, text):
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file():
    policy = Policy.load(None)
    assert policy.timezone == "UTC"
    assert policy.thresholds("failed_access_burst")["max_failures"] == 5
    assert policy.retention.regime == "soc2" and policy.retention.required_months == 12
    assert "policy-defined" in policy.retention.source
    assert len(policy.checks) >= 9
    assert policy.to_dict()["retention"]["source"]


@pytest.mark.parametrize("name", BUILTIN_POLICIES)
def test_builtin_policies_load(name):
    policy = Policy.load(name)
    assert policy.name == name


def test_retention_presets_cite_their_source():
    assert RETENTION_PRESETS["hipaa"].required_months == 72
    assert "164.316(b)(2)(i)" in RETENTION_PRESETS["hipaa"].source
    pci = RETENTION_PRESETS["pci_dss"]
    assert (pci.required_months, pci.immediately_available_months) == (12, 3)
    assert "10.5.1" in pci.source
    assert "no fixed" in RETENTION_PRESETS["soc2"].source


def test_file_overrides(tmp_path):
    policy = Policy.load(_write(tmp_path, """
name = "ward"
timezone = "Europe/Paris"
checks = ["required_fields", "volume_spike"]
[business_hours]
start = "08:30"
end = "17:00"
weekdays = ["mon", "tue"]
[retention]
regime = "custom"
required_months = 24
logging_started = 2023-01-01
[thresholds.volume_spike]
k = 4
"""))
    assert policy.checks == ["required_fields", "volume_spike"]
    assert policy.business_hours == {"start": "08:30", "end": "17:00", "isodows": [1, 2]}
    assert policy.thresholds("volume_spike")["k"] == 4.0
    assert policy.retention.required_months == 24
    assert str(policy.logging_started) == "2023-01-01"


@pytest.mark.parametrize("text, message", [
    ('timezone = "Mars/Olympus_Mons"', "unknown time zone 'Mars/Olympus_Mons'"),
    ('[business_hours]\nstart = "18:00"\nend = "08:00"', "must be after"),
    ('[thresholds.volume_spike]\nk = "high"', "'thresholds.volume_spike.k' must be a number"),
    ('[thresholds.volume_spike]\nkk = 3', "unknown policy key 'thresholds.volume_spike.kk'"),
    ('colour = "blue"', "unknown policy key 'colour'"),
    ('[thresholds.failed_access_burst]\nmax_failures = 2.5', "must be an integer"),
    ('checks = ["required_fields", "astrology"]', "unknown check 'astrology'"),
    ('[retention]\nregime = "forever"', "unknown retention regime"),
    ('[retention]\nregime = "custom"', "needs retention.required_months"),
    ('[business_hours]\nweekdays = ["funday"]', "funday"),
    ('[business_hours]\nstart = "25:00"', "'business_hours.start' must be a time"),
    ('[thresholds.bulk_export]\nmin_exports = -1', "must not be negative"),
    ('thresholds = 3', "must be a table"),
    ('name = [', "not valid TOML"),
])
def test_invalid_policies_raise_one_line_errors(tmp_path, text, message):
    with pytest.raises(PolicyError) as info:
        Policy.load(_write(tmp_path, text))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file():
    with pytest.raises(PolicyError, match="not found"):
        Policy.load("/nonexistent/policy.toml")


@pytest.mark.parametrize("text, message", [
    ("[retention]\nregime = \"custom\"\nrequired_months = 999999999999", "about 100 years"),
    ("[review]\ngrace_days = 99999999999", "'review.grace_days' names 99999999999 days"),
    ("[thresholds.failed_access_burst]\nwindow_hours = 99999999999999", "about 100 years"),
    ("[thresholds.retention_coverage]\nmax_gap_minutes = 99999999999999", "minutes"),
    ("[thresholds.volume_spike]\nk = nan", "finite number"),
    ("[thresholds.volume_spike]\nk = inf", "finite number"),
    ("[thresholds.failed_access_burst]\nmax_failures = 99999999999999999999", "finite number"),
])
def test_numbers_no_setting_can_hold_are_refused(tmp_path, cli, samples, text, message):
    with pytest.raises(PolicyError, match=message):
        Policy.load(_write(tmp_path, text))
    proc = cli("check", samples / "python_seed" / "clean.parquet", "--policy",
               tmp_path / "policy.toml")
    assert proc.returncode == 2 and message.split("'")[0] in proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "right/UTC", "posix/Europe/Paris"])
def test_zone_files_duckdb_does_not_know_are_unknown_zones(tmp_path, cli, samples, zone):
    policy = tmp_path / "zone.toml"
    policy.write_text(f'name = "zone"\ntimezone = "{zone}"\n')
    done = cli("check", samples / "python_seed" / "clean.parquet", "--policy", policy)
    assert done.returncode == 2, done.stderr
    assert "unknown time zone" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    with pytest.raises(PeriodError, match="unknown time zone"):
        resolve_tz(zone)


def _retention_policy(tmp_path, started: str):
    path = tmp_path / "retention.toml"
    path.write_text(f'name = "retention"\n[retention]\nregime = "hipaa"\n'
                    f"logging_started = {started}\n")
    return path


def test_logging_started_in_the_future_is_bad_input(tmp_path, cli, samples):
    policy = _retention_policy(tmp_path, "9999-12-31")
    done = cli("check", samples / "python_seed" / "clean.parquet", "--policy", policy)
    assert done.returncode == 2, done.stderr
    assert "logging_started" in done.stderr and "future" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_logging_started_after_the_oldest_event_is_a_finding(tmp_path, cli, samples):
    import json

    policy = _retention_policy(tmp_path, "2025-06-01")  # the sample starts in 2024
    done = cli("check", samples / "python_seed" / "clean.parquet", "--policy", policy,
               "--json", "-")
    assert done.returncode in (0, 1), done.stderr
    check, = [c for c in json.loads(done.stdout)["checks"] if c["name"] == "retention_coverage"]
    assert check["status"] == "warn", check["summary"]
    assert "complete since logging started" not in check["summary"]
    assert [f["kind"] for f in check["findings"]] == ["logging_started_after_oldest_event"]


def test_a_policy_file_without_a_name_is_named_after_its_file(tmp_path, cli, samples):
    import json

    policy = tmp_path / "p.toml"
    policy.write_text('timezone = "UTC"\n')
    log = samples / "python_seed" / "clean.parquet"
    text = cli("check", log, "--policy", policy)
    assert "(p.toml policy)" in text.stdout and "default" not in text.stdout, text.stdout
    assert json.loads(cli("check", log, "--policy", policy, "--json", "-").stdout)[
        "policy"] == "p.toml"
    assert Policy.load(None).name == "default"
    assert Policy.from_dict({"timezone": "UTC"}).name == "custom"
    out = tmp_path / "reports"
    done = cli("report", log, "--policy", policy, "--period", "2024-01", "--out", out)
    assert done.returncode in (0, 1), done.stderr
    html = "\n".join(p.read_text() for p in out.rglob("*.html"))
    assert "p.toml" in html and "<td>default" not in html
