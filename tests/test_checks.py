"""The compliance checklist against a generated month with labelled anomalies."""

import json

import pandas as pd
import pytest

import audit_analytics as aa
from audit_analytics.checks import CHECKS, run_checks
from audit_analytics.policy import Policy
from audit_analytics.samples.activity import month_policy
from audit_analytics.samples.python_seed import compute_hash

ANOMALY_CHECKS = ("failed_access_burst", "off_hours_access", "volume_spike", "broad_access",
                  "bulk_export", "retention_coverage", "log_access")


@pytest.fixture(scope="module")
def policy():
    return Policy.from_dict(month_policy())


@pytest.fixture(scope="module")
def checked(activity_month, policy):
    with aa.open(activity_month["month"], journal=False) as log:
        return run_checks(log, policy)


@pytest.fixture(scope="module")
def checked_clean(activity_month, policy):
    with aa.open(activity_month["clean"], journal=False) as log:
        return run_checks(log, policy)


def _overlaps(finding: dict, label: dict) -> bool:
    if label.get("actor_id") is not None and finding.get("actor_id") != label["actor_id"]:
        return False
    start = pd.Timestamp(finding["window_start"])
    end = pd.Timestamp(finding["window_end"])
    return start <= pd.Timestamp(label["window_end"]) and pd.Timestamp(label["window_start"]) <= end


def _matches(check: str, finding: dict, label: dict) -> bool:
    if label["check"] != check:
        return False
    if check == "required_fields":
        return (finding["field"], finding["problem"]) == (label["field"], label["problem"])
    return _overlaps(finding, label)


def _scores(result, labels, check):
    findings = result[check].to_dict()["findings"]
    mine = [lab for lab in labels if lab["check"] == check]
    hit = [f for f in findings if any(_matches(check, f, lab) for lab in mine)]
    found = [lab for lab in mine if any(_matches(check, f, lab) for f in findings)]
    precision = len(hit) / len(findings) if findings else 1.0
    recall = len(found) / len(mine) if mine else 1.0
    return recall, precision, len(findings), len(mine)


@pytest.mark.parametrize("check", [*ANOMALY_CHECKS, "required_fields"])
def test_recall_and_precision_per_check(checked, activity_month, check):
    recall, precision, n_found, n_labels = _scores(checked, activity_month["month_labels"], check)
    print(f"{check}: recall {recall:.2f} precision {precision:.2f} "
          f"({n_found} findings, {n_labels} labels)")
    assert n_labels > 0
    assert recall == 1.0
    assert precision >= 0.9


def test_every_anomaly_kind_is_labelled(activity_month):
    kinds = {lab["check"] for lab in activity_month["month_labels"]}
    assert kinds >= {*ANOMALY_CHECKS, "required_fields"}


def test_clean_month_has_no_findings_at_all(checked_clean, activity_month):
    assert activity_month["clean_labels"] == []
    for check in checked_clean.checks:
        assert check.findings.empty, (check.name, check.findings.head())
        assert check.status == "pass", (check.name, check.summary)
    assert checked_clean.worst == "pass"


def test_statuses_and_controls(checked):
    assert checked.worst == "fail"
    assert checked["chain_integrity"].status == "pass"
    assert checked["required_fields"].status == "fail"
    assert checked["volume_spike"].status == "warn"
    for check in checked.checks:
        assert check.controls, check.name
    assert "PCI DSS 10.2.1.4" in checked["failed_access_burst"].controls
    assert "PCI DSS 10.5.1" in checked["retention_coverage"].controls
    assert "HIPAA 164.312(b)" in checked["required_fields"].controls


def test_anomaly_findings_carry_window_value_baseline_threshold(checked):
    for name in ("failed_access_burst", "off_hours_access", "volume_spike", "broad_access",
                 "bulk_export"):
        frame = checked[name].findings
        assert {"actor_id", "window_start", "window_end", "value", "baseline",
                "threshold"} <= set(frame.columns), name
        assert len(frame) > 0, name
        if name == "off_hours_access":  # the hour is unusual: seen on too few days before
            assert (frame["baseline"] < frame["threshold"]).all()
        else:
            assert (frame["value"] > frame["threshold"]).all(), name


def test_burst_across_midnight_is_windowed_not_calendar(checked, activity_month):
    label = next(lab for lab in activity_month["month_labels"]
                 if lab["check"] == "failed_access_burst" and "midnight" in lab["what"])
    rows = checked["failed_access_burst"].findings
    row = rows[rows["actor_id"] == label["actor_id"]]
    assert len(row) == 1 and int(row["value"].iloc[0]) == 7


def test_night_shift_and_services_not_flagged_off_hours(checked):
    flagged = set(checked["off_hours_access"].findings["actor_id"])
    assert not {"svc-ehr-sync", "svc-backup", "system"} & flagged
    assert all(a.startswith(("md-", "bill-")) for a in flagged)


def test_json_round_trip_and_repr(checked):
    doc = json.loads(json.dumps(checked.to_dict()))
    assert [c["name"] for c in doc["checks"]] == [n for n, s in CHECKS.items() if s.default]
    for c in doc["checks"]:
        assert {"name", "status", "controls", "findings", "summary", "metrics"} <= set(c)
    assert "FAIL" in repr(checked) and "<table>" in checked._repr_html_()
    assert checked["retention_coverage"].metrics["regime"] == "hipaa"


def test_window_and_only(activity_month, policy):
    with aa.open(activity_month["month"], journal=False) as log:
        result = run_checks(log, policy, since="2024-03-20", until="2024-03-21",
                            only=["volume_spike", "log_access"])
        empty = run_checks(log, policy, since="2031-01-01")
    assert [c.name for c in result.checks] == ["volume_spike", "log_access"]
    assert 0 < result.events < 10_000
    assert empty.events == 0
    assert {c.status for c in empty.checks} == {"warn"}
    assert all(c.summary == "no events in the window" for c in empty.checks)


def test_unknown_check_is_a_policy_error(activity_month):
    with aa.open(activity_month["clean"], journal=False) as log, \
            pytest.raises(aa.PolicyError, match="unknown check 'nope'"):
        run_checks(log, only=["nope"])


def test_extra_log_access_extension_point(activity_month, policy):
    journal = pd.DataFrame({"actor_id": ["analyst-x", "adm-01"],
                            "timestamp": ["2024-03-05T15:00:00Z", "2024-03-05T16:00:00Z"]})
    with aa.open(activity_month["clean"], journal=False) as log:
        result = run_checks(log, policy, only=["log_access"], extra_log_access=journal)
    found = result["log_access"].findings
    assert list(found["actor_id"]) == ["analyst-x"]
    assert list(found["source"]) == ["journal"]


def test_tampered_chain_fails_chain_integrity(samples):
    with aa.open(samples / "python_seed/tampered/all.parquet", journal=False) as log:
        result = run_checks(log, only=["chain_integrity"])
    assert result["chain_integrity"].status == "fail"
    assert not result["chain_integrity"].findings.empty


def test_generated_chain_matches_the_seed_producer(activity_month):
    import pyarrow.parquet as pq

    rows = pq.read_table(activity_month["month"]).slice(0, 50).to_pylist()
    for row in rows:
        assert compute_hash(row) == row["hash"]


# --- the CLI contract ---------------------------------------------------------------
def test_cli_json_contract(cli, activity_month, tmp_path):
    policy_file = tmp_path / "p.toml"
    policy_file.write_text(
        'timezone = "America/New_York"\n[retention]\nregime = "hipaa"\n'
        'logging_started = 2024-03-01\n[thresholds.log_access]\nallowed_actors = ["adm-*"]\n')
    proc = cli("check", activity_month["month"], "--policy", policy_file, "--json", "-")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    names = [c["name"] for c in doc["checks"]]
    assert names == [n for n, s in CHECKS.items() if s.default]
    for c in doc["checks"]:
        assert c["status"] in ("pass", "warn", "fail")
        assert isinstance(c["controls"], list) and isinstance(c["findings"], list)
    burst = next(c for c in doc["checks"] if c["name"] == "failed_access_burst")
    assert {"actor_id", "window_start", "window_end", "value", "baseline",
            "threshold"} <= set(burst["findings"][0])
    failing = cli("check", activity_month["month"], "--policy", policy_file, "--fail-on",
                  "fail", "--only", "required_fields")
    assert failing.returncode == 1 and "required_fields" in failing.stdout
    clean = cli("check", activity_month["clean"], "--policy", policy_file, "--fail-on", "warn")
    assert clean.returncode == 0, clean.stdout


def test_cli_bad_input_exits_2(cli, activity_month, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('checks = ["required_fields", "telepathy"]\n')
    for args, text in ((("--policy", bad), "telepathy"), (("--since", "last tuesday"), "since"),
                       (("--policy", "missing.toml"), "not found")):
        proc = cli("check", activity_month["clean"], *args)
        assert proc.returncode == 2, (args, proc.stdout)
        assert len(proc.stderr.strip().splitlines()) == 1 and text in proc.stderr
    assert cli("check", tmp_path / "none.parquet").returncode == 2


def test_cli_empty_window_is_explicit(cli, activity_month):
    proc = cli("check", activity_month["clean"], "--since", "2031-01-01", "--json", "-",
               "--fail-on", "warn")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["events"] == 0
    assert {c["summary"] for c in doc["checks"]} == {"no events in the window"}


def test_window_with_events_but_no_log_reads(cli, samples):
    proc = cli("check", samples / "python_seed" / "clean.parquet",
               "--since", "2024-01-15T08:00:00Z", "--until", "2024-01-15T08:00:01Z",
               "--json", "-")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["events"] > 0
    (log_access,) = [c for c in doc["checks"] if c["name"] == "log_access"]
    assert log_access["status"] == "pass" and log_access["findings"] == []
