"""The report renders whatever fields a finding of any check carries."""

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

import audit_analytics as aa
from audit_analytics.checks import CHECKS
from audit_analytics.checks.results import CheckResult
from audit_analytics.report import build_report, sections
from audit_analytics.report.render import _environment

ROOT = Path(__file__).resolve().parent.parent
CLEAN = ROOT / "data_samples/python_seed/clean.parquet"
DAYS = [f"2024-01-{d}" for d in range(15, 21)]  # every day of the clean sample


@pytest.fixture(scope="module")
def clean_log():
    with aa.open(CLEAN, journal=False) as log:
        yield log


def test_the_template_fails_loudly_on_a_missing_field():
    assert _environment().undefined.__name__ == "StrictUndefined"


@pytest.mark.parametrize("day", DAYS)
def test_every_daily_report_of_the_clean_sample_renders(clean_log, day, tmp_path):
    """Unauthorized reads of the log (no baseline) get their evidence like any anomaly."""
    report = build_report(clean_log, day, policy="pci_dss")
    html = report.to_html()
    reads = [a for a in report.anomalies if a["check"] == "log_access"]
    assert reads, "the sample reads its own log every day"
    with_evidence = [a for a in reads if a.get("evidence")]
    assert with_evidence
    for a in with_evidence:
        assert "baseline" not in a
        assert f"{a['title']}: <bdi>{a['actor_id']}</bdi>" in html
        assert f"actions <b><bdi>{a['actions']}</bdi></b>" in html


def test_daily_cron_report_exits_0(cli, tmp_path):
    proc = cli("--no-progress", "--actor", "svc-review", "report", CLEAN, "--period",
               "2024-01-16", "--policy", "pci_dss", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "error" not in proc.stderr
    html = (tmp_path / "audit-report_2024-01-16.html").read_text()
    assert "Access to the audit logs themselves: <bdi>" in html


def _one_row(frame: pd.DataFrame, actor: str, start, end) -> pd.DataFrame:
    """A finding with every column the check declares, filled by type."""
    row = {}
    for name in frame.columns:
        if name == "actor_id":
            row[name] = actor
        elif name == "window_start":
            row[name] = start
        elif name == "window_end":
            row[name] = end
        elif pd.api.types.is_datetime64_any_dtype(frame[name]):
            row[name] = start
        elif pd.api.types.is_bool_dtype(frame[name]):
            row[name] = True
        elif pd.api.types.is_numeric_dtype(frame[name]):
            row[name] = 7
        else:
            row[name] = f"<{name}>"
    return pd.DataFrame([row or {"detail": "something"}])


def test_every_check_with_findings_renders(clean_log, tmp_path):
    policy = tmp_path / "all.toml"
    policy.write_text("checks = [" + ", ".join(f'"{n}"' for n in CHECKS) + "]\n")
    report = build_report(clean_log, "2024-01", policy=str(policy))
    checks = report.checks
    assert [c.name for c in checks.checks] == list(CHECKS)
    actor = report.anomalies[0]["actor_id"]
    start = pd.Timestamp(report.period.start)
    end = pd.Timestamp(report.period.end) - pd.Timedelta(microseconds=1)
    for check in checks.checks:  # a few findings each, so that every anomaly has evidence
        check.findings = (_one_row(check.findings, actor, start, end) if check.findings.empty
                          else check.findings.head(3))
    # findings of shapes no check makes today: the bare anomaly keys, and no common key
    checks.checks.append(CheckResult("bare_anomaly", "Bare anomaly", "warn", ["X 1"], "s",
                                     pd.DataFrame([{"actor_id": actor,
                                                    "window_start": start,
                                                    "window_end": end}])))
    checks.checks.append(CheckResult("odd_finding", "Odd finding", "fail", [], "s",
                                     pd.DataFrame([{"something": [1, 2], "else": {"a": 1},
                                                    "nothing": None}])))
    report = dataclasses.replace(report, checks=checks,
                                 checklist=[sections.check_row(c) for c in checks.checks],
                                 anomalies=sections.anomalies_of(checks, clean_log.engine))
    html = report.to_html()  # StrictUndefined: a field the template assumes would raise
    for check in checks.checks:
        assert f'data-check="{check.name}"' in html
        assert f"({check.name}): {len(check.findings)} finding(s)" in html
    anomaly_checks = {a["check"] for a in report.anomalies if a.get("evidence")}
    assert {"failed_access_burst", "off_hours_access", "volume_spike", "broad_access",
            "bulk_export", "log_access", "bare_anomaly"} <= anomaly_checks
    assert "Bare anomaly: <bdi>" in html
    assert "actions <b><bdi>" in html  # a log_access field, shown with its evidence
    json.dumps(report.to_dict())  # and the JSON summary still serialises
