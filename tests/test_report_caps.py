"""Lists that grow with the input are cut to their first entries, with their true counts.

A month of 200,000 events, each by an actor of its own (:mod:`audit_analytics.samples.crowd`):
every list a check or a report keeps per actor, per resource, per IP address or per
finding is as long as the input. The documents stay small, every count stays exact, and
each document says where a list was cut.
"""

import csv
import io
import json
import re

import pyarrow.parquet as pq
import pytest

from audit_analytics._caps import LISTED, NAMED, SHOWN, SPREADSHEET
from audit_analytics.report.facts import TOP_N
from audit_analytics.report.sections import MAX_ANOMALIES
from audit_analytics.samples.crowd import crowd_counts, crowd_month

N = 200_000
BASELINE_CHECKS = ("failed_access_burst", "off_hours_access", "volume_spike", "broad_access",
                   "bulk_export")
MB = 1 << 20


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    """The crowd month, its report (HTML, JSON, CSV) and its ``check --json``, made once."""
    from conftest import run_cli

    folder = tmp_path_factory.mktemp("crowd")
    path = folder / "crowd.parquet"
    pq.write_table(crowd_month(N), path)
    env = {"AUDIT_ANALYTICS_HOME": str(folder / "home"), "AUDIT_ANALYTICS_JOURNAL": "off"}
    out = folder / "out"
    done = run_cli("report", path, "--period", "2024-01", "--out", out,
                   "--format", "html,json,csv", env=env)
    assert done.returncode == 0, done.stderr
    checked = run_cli("check", path, "--since", "2024-01-01T00:00:00Z",
                      "--until", "2024-02-01T00:00:00Z", "--json", "-", env=env)
    assert checked.returncode == 0, checked.stderr
    base = out / "audit-report_2024-01"
    return {"counts": crowd_counts(N), "check": checked.stdout,
            **{fmt: base.with_suffix(f".{fmt}").read_text(encoding="utf-8")
               for fmt in ("html", "json", "csv")}}


def _by_name(checks: list[dict]) -> dict[str, dict]:
    return {c["name"]: c for c in checks}


def _assert_checks_capped(checks: dict[str, dict], counts: dict) -> None:
    """What ``check --json`` and the report's JSON agree on: first entries, exact totals."""
    for name in BASELINE_CHECKS:
        short = checks[name]["metrics"]["insufficient_baseline"]
        assert short["actors"] == short["by_actor_total"] == N, name
        assert short["by_actor_truncated"] is True
        assert len(short["by_actor"]) == LISTED
        ids = [s["actor_id"] for s in short["by_actor"]]
        assert ids == [f"c-{i:07d}" for i in range(LISTED)]  # days, then actor id
        assert f"{N} actors with insufficient baseline" in checks[name]["summary"]
    access = checks["log_access"]
    unauthorized, authorized = counts["unauthorized_readers"], counts["authorized_readers"]
    assert access["findings_total"] == unauthorized and access["findings_truncated"] is True
    assert len(access["findings"]) == LISTED
    assert access["metrics"]["accesses"] == unauthorized + authorized
    assert access["metrics"]["authorized_by_actor_total"] == authorized
    assert access["metrics"]["authorized_by_actor_truncated"] is True
    assert len(access["metrics"]["authorized_by_actor"]) == LISTED
    # the summary names the first readers and counts the others
    assert f"{unauthorized} read(s) of the audit log by actors not allowed" in access["summary"]
    assert access["summary"].endswith(f"and {unauthorized - NAMED:,} more")
    assert len(access["summary"]) < 400
    fields = checks["required_fields"]
    assert fields["findings_total"] == counts["bad_ips"] and fields["findings_truncated"]
    assert len(fields["findings"]) == LISTED
    assert fields["metrics"]["findings"] == counts["bad_ips"]
    small = [c for c in checks.values() if c["findings_total"] <= LISTED]
    assert small and all("findings_truncated" not in c for c in small)


def test_check_json_keeps_the_first_entries_of_each_list_and_every_count(crowd):
    assert len(crowd["check"]) < 3 * MB
    doc = json.loads(crowd["check"])
    assert doc["events"] == N
    _assert_checks_capped(_by_name(doc["checks"]), crowd["counts"])


def test_report_json_keeps_the_first_entries_of_each_list_and_every_count(crowd):
    assert len(crowd["json"]) < 3 * MB
    doc = json.loads(crowd["json"])
    counts = crowd["counts"]
    assert doc["scope"]["actors_in_period"] == doc["scope"]["rows_in_period"] == N
    checks = _by_name(doc["checks"])
    _assert_checks_capped(checks, counts)
    assert {r["name"]: r["findings"] for r in doc["checklist"]} == {
        name: c["findings_total"] for name, c in checks.items()}
    # every log_access finding is an anomaly (an actor and a window): the first 200 listed
    assert doc["anomalies_total"] == counts["unauthorized_readers"]
    assert doc["anomalies_truncated"] is True and len(doc["anomalies"]) == MAX_ANOMALIES
    access = doc["access"]
    assert access["in_log_total"] == counts["unauthorized_readers"]
    assert access["in_log_truncated"] is True and len(access["in_log"]) == SHOWN
    assert access["check"]["metrics"]["authorized_by_actor_total"] == counts[
        "authorized_readers"]
    charts = {c["name"]: c for c in doc["charts"]}
    assert charts["failures"]["caption"].endswith(f": {TOP_N} of {counts['failing']:,} shown.")
    assert charts["resources"]["caption"].endswith(f": {TOP_N} of {N:,} shown.")


def test_report_html_says_how_many_rows_of_how_many_it_shows(crowd):
    html = crowd["html"]
    assert len(html) < 3 * MB
    text = re.sub(r"<[^>]+>", "", html)
    unauthorized = crowd["counts"]["unauthorized_readers"]
    # the log_access findings, the anomalies and the reads recorded in the log
    assert text.count(f"Showing the first 10 of {unauthorized:,} rows") == 3
    assert f"The actors with the most failed or denied events: {TOP_N} of " \
           f"{crowd['counts']['failing']:,} shown." in text
    assert f"The resources with the most events: {TOP_N} of {N:,} shown." in text


def test_report_csv_holds_the_first_findings_of_each_check_and_says_where_it_cut(crowd):
    assert len(crowd["csv"]) < 8 * MB
    rows = list(csv.DictReader(io.StringIO(crowd["csv"])))
    counts = crowd["counts"]
    fields = [r for r in rows if r["check"] == "required_fields"]
    found, notes = fields[:-1], fields[-1:]
    assert len(found) == SPREADSHEET and all(r["problem"] == "invalid_ip" for r in found)
    assert notes[0]["note"] == (f"the first {SPREADSHEET:,} of {counts['bad_ips']:,} findings "
                                "of this check; the others are not in this file")
    assert not any(r["note"] for r in found)
    access = [r for r in rows if r["check"] == "log_access"]
    assert len(access) == counts["unauthorized_readers"]  # below the cap: every one, no note
    assert not any(r["note"] for r in access)


# --- notebooks' displays ----------------------------------------------------------------------
def test_a_checklists_notebook_display_says_how_many_findings_it_shows(tmp_path):
    import audit_analytics as aa
    from audit_analytics.checks import run_checks

    path = tmp_path / "crowd.parquet"
    pq.write_table(crowd_month(12_000), path)
    with aa.open(path, journal=False) as log:
        result = run_checks(log, since="2024-01-01", until="2024-02-01",
                            only=["log_access"])
    readers = crowd_counts(12_000)["unauthorized_readers"]
    html = result._repr_html_()
    assert f"log_access: {readers} finding(s)" in html
    assert f"the first {SHOWN} of {readers:,} shown" in html
    assert html.count("<tr>") <= SHOWN + 2  # the checklist's row, the findings' rows


def test_a_verifications_notebook_display_says_how_many_findings_it_shows(tmp_path):
    import pyarrow as pa

    import audit_analytics as aa

    table = crowd_month(1_000)
    hashes = table.column("hash").to_pylist()
    for i in range(100, 700, 20):  # 30 rows whose stored hash was rewritten
        hashes[i] = "0" * 64
    path = tmp_path / "tampered.parquet"
    pq.write_table(table.set_column(table.schema.get_field_index("hash"), "hash",
                                    pa.array(hashes)), path)
    with aa.open(path, journal=False) as log:
        result = log.verify()
    assert len(result.records) > 20
    assert f"the first 20 of {len(result.records):,} shown" in result._repr_html_()


def test_a_cloudtrail_validations_notebook_display_shows_its_first_findings():
    from datetime import UTC, datetime

    from audit_analytics.cloudtrail.results import Finding, ValidationResult

    result = ValidationResult("s3://trail/AWSLogs/", None, datetime(2024, 2, 1, tzinfo=UTC),
                              findings=[Finding("log_file_missing", f"log-{i}.json.gz",
                                                "missing") for i in range(500)])
    html = result._repr_html_()
    assert html.count("<tr>") == SHOWN
    assert f"the first {SHOWN} of 500 shown" in html


# --- timelines ----------------------------------------------------------------------------------
def test_a_timeline_over_years_is_drawn_in_wider_buckets_with_every_event(tmp_path):
    """A retention finding spans the years before ``logging_started``: its timeline would
    hold one bucket per hour of them (35,000 here); it holds at most MAX_BUCKETS, each of
    several hours, and the flagged ones count every event of the window."""
    from datetime import date

    import pandas as pd

    import audit_analytics as aa
    from audit_analytics.policy import Policy
    from audit_analytics.report import build_report
    from audit_analytics.report.timeline import MAX_BUCKETS

    table = crowd_month(20_000, start=date(2019, 1, 1), days=5 * 365)
    path = tmp_path / "years.parquet"
    pq.write_table(table, path)
    policy = Policy.from_dict({
        "name": "years", "retention": {"regime": "hipaa", "logging_started": date(2023, 1, 1)},
        "thresholds": {"retention_coverage": {"max_gap_minutes": 10_000}}})
    with aa.open(path, journal=False) as log:
        report = build_report(log, "2023-12", policy=policy)
    (late,) = [a for a in report.anomalies
               if a.get("kind") == "logging_started_after_oldest_event"]
    line = late["timeline"]
    assert len(line["buckets"]) <= MAX_BUCKETS
    assert line["bucket_seconds"] > 3600 and line["unit"].endswith(" hours")
    stamps = pd.Series(table.column("timestamp").to_pandas())
    flagged = sum(b["value"] for b in line["buckets"] if b["flagged"])
    first = min(b["start"] for b in line["buckets"] if b["flagged"])
    last = max(b["start"] for b in line["buckets"] if b["flagged"])
    width = pd.Timedelta(seconds=line["bucket_seconds"])
    assert flagged == int(((stamps >= first) & (stamps < last + width)).sum())
    assert pd.Timestamp(late["window_start"]) >= first
    assert pd.Timestamp(late["window_end"]) < last + width
    assert len(late["timeline_svg"]) < 200_000
