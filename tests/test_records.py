"""log_access and review_cadence: one implementation under check, report and the API."""

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import audit_analytics as aa
from audit_analytics.checks import run_checks
from audit_analytics.periods import parse_period
from audit_analytics.trail._chainfile import ChainFile

CLEAN = "data_samples/python_seed/clean.parquet"
OTHER = "postgresql://app:***@db/prod"


def _journal_read(home: Path, at: str, actor: str, source: str) -> None:
    ChainFile(home / "journal.jsonl", "journal").append(
        {"timestamp": at, "actor_id": actor, "action": "sql", "resource_type": "audit_log",
         "resource_id": source, "result": "success"},
        {"parameters": {"query": "SELECT * FROM events"}, "command": "sql"})


def _review(home: Path, label: str, at: datetime, source: str) -> None:
    period = parse_period(label)
    key = {"period": period.label, "kind": period.kind, "start": period.start.isoformat(),
           "end": period.end.isoformat(), "source": source, "version": 1, "sha256": "a" * 64,
           "files": {}, "primary": None, "status": "pass", "replaced": False}
    ChainFile(home / "ledger.jsonl", "ledger").append(
        {"timestamp": at.isoformat(), "actor_id": "alice", "action": "review_report",
         "resource_type": "review_report",
         "resource_id": json.dumps(key, sort_keys=True, separators=(",", ":")),
         "result": "success"}, {"tool": "audit_analytics test"})


def _comparable(check: dict) -> dict:
    metrics = {k: v for k, v in check["metrics"].items() if k != "seconds"}
    return {**{k: v for k, v in check.items() if k != "findings_total"}, "metrics": metrics}


def test_check_report_and_api_agree_on_log_access_and_review_cadence(cli, tmp_path):
    home = Path(os.environ["AUDIT_ANALYTICS_HOME"])
    _journal_read(home, "2024-01-10T03:00:00+00:00", "mallory", CLEAN)   # this source
    _journal_read(home, "2024-01-11T03:00:00+00:00", "mallory", CLEAN)
    _journal_read(home, "2024-01-12T03:00:00+00:00", "eve", OTHER)       # another source
    _journal_read(home, "2024-02-12T03:00:00+00:00", "trent", CLEAN)     # after the window
    _review(home, "2023-10", datetime(2023, 11, 2, tzinfo=UTC), CLEAN)
    _review(home, "2023-11", datetime(2023, 12, 2, tzinfo=UTC), CLEAN)
    _review(home, "2023-12", datetime(2024, 1, 2, tzinfo=UTC), OTHER)   # not this source

    checked = cli("check", CLEAN, "--since", "2024-01-01T00:00:00Z", "--until",
                  "2024-02-01T00:00:00Z", "--only", "log_access", "--only", "review_cadence",
                  "--json", "-")
    assert checked.returncode == 0, checked.stderr
    by_check = {c["name"]: _comparable(c) for c in json.loads(checked.stdout)["checks"]}
    out = tmp_path / "reports"
    reported = cli("report", CLEAN, "--period", "2024-01", "--out", out, "--format", "json")
    assert reported.returncode == 0, reported.stderr
    doc = json.loads((out / "audit-report_2024-01.json").read_text())
    (log_access,) = [c for c in doc["checks"] if c["name"] == "log_access"]
    assert "review_cadence" not in [c["name"] for c in doc["checks"]]  # opt-in: not graded
    assert _comparable(log_access) == by_check["log_access"]
    assert _comparable(doc["review_cadence"]) == by_check["review_cadence"]

    # what they agree on: mallory's journaled reads of this source, in the window only
    access = by_check["log_access"]
    assert access["status"] == "fail" and "mallory" in access["summary"]
    assert [f["actor_id"] for f in access["findings"] if f["source"] == "journal"] == [
        "mallory", "mallory"]
    assert access["metrics"]["journal"]["reads"] == 2
    assert [e["actor_id"] for e in doc["access"]["toolkit_journal"]] == ["mallory", "mallory"]
    assert doc["access"]["toolkit_journal_total"] == 2
    # and the ledger's reviews of this source alone: December was reviewed for another one
    cadence = by_check["review_cadence"]
    assert cadence["status"] == "fail", cadence["summary"]
    assert [(f["period"], f["state"]) for f in cadence["findings"]] == [("2023-12", "missed")]
    assert cadence["metrics"]["expected"] == 3

    # the Python API, same source and window: the same answers
    with aa.open(CLEAN) as log:
        api = run_checks(log, only=["log_access", "review_cadence"],
                         since="2024-01-01T00:00:00Z", until="2024-02-01T00:00:00Z")
    for result in api.checks:
        assert _comparable(result.to_dict()) == by_check[result.name], result.name


def test_a_review_does_not_judge_its_own_reads(cli):
    for _ in range(2):  # the second run sees the first one's reads, never its own
        done = cli("--actor", "nobody-allowed", "check", CLEAN, "--only", "log_access",
                   "--json", "-")
        assert done.returncode == 0, done.stderr
    (access,) = json.loads(done.stdout)["checks"]
    assert access["metrics"]["journal"]["reads"] == 2  # the first run's open and check
    journaled = [f for f in access["findings"] if f["source"] == "journal"]
    assert [(f["actor_id"], f["value"]) for f in journaled] == [("nobody-allowed", 2)]


def test_log_access_reviews_journal_reads_in_a_window_without_events(cli):
    home = Path(os.environ["AUDIT_ANALYTICS_HOME"])
    _journal_read(home, "2031-01-02T03:00:00+00:00", "mallory", CLEAN)
    done = cli("check", CLEAN, "--since", "2031-01-01", "--only", "log_access",
               "--only", "required_fields", "--json", "-")
    statuses = {c["name"]: (c["status"], c["summary"]) for c in json.loads(done.stdout)["checks"]}
    assert statuses["required_fields"] == ("warn", "no events in the window")
    assert statuses["log_access"][0] == "fail" and "mallory" in statuses["log_access"][1]
