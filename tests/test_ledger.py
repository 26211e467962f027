import json
from datetime import UTC, datetime, timedelta

import pytest

from audit_analytics.errors import PolicyError
from audit_analytics.ledger import Ledger, review_cadence, sha256_file
from audit_analytics.periods import parse_period
from audit_analytics.policy import Policy

SRC = "postgresql://app:hunter2@db/prod"


def _record(book, label, tmp_path=None, version=1):
    period = parse_period(label)
    entry = {"period": period, "source": SRC, "sha256": "0" * 64, "version": version}
    if tmp_path is not None:
        f = tmp_path / f"r-{label}-{version}.html"
        f.write_text(f"report {label} {version}")
        entry["sha256"] = sha256_file(f)
        entry["files"] = {"html": {"path": str(f), "sha256": entry["sha256"], "primary": True}}
    return book.record(**entry)


def _ledger_with_history(tmp_path, reviews, source="postgresql://app:***@db/prod"):
    """Reviews of ``source`` as (period label, generated at) pairs, appended in order."""
    book = Ledger(tmp_path / "home")
    from audit_analytics._chainfile import ChainFile
    chain = ChainFile(book.path, "ledger")
    for label, at in reviews:
        period = parse_period(label)
        key = {"period": period.label, "kind": period.kind, "start": period.start.isoformat(),
               "end": period.end.isoformat(), "source": source,
               "version": 1, "sha256": "a" * 64}
        chain.append({"timestamp": at.isoformat(), "actor_id": "alice",
                      "action": "review_report", "resource_type": "review_report",
                      "resource_id": json.dumps(key, sort_keys=True, separators=(",", ":")),
                      "result": "success"}, {"files": {}})
    return book


def test_record_verify_and_detect_tampering(tmp_path):
    book = Ledger(tmp_path / "home")
    for i, label in enumerate(["2024-01", "2024-02", "2024-03"]):
        _record(book, label, tmp_path, version=1 + i % 2)
    text = book.path.read_text()
    assert "hunter2" not in text and "app:***@db" in text
    frame = book.entries()
    assert frame["period"].tolist() == ["2024-01", "2024-02", "2024-03"]
    assert frame["version"].tolist() == [1, 2, 1]
    outcome = book.verify()
    assert outcome.ok, outcome.summary()
    assert outcome.chain.rows == 3

    # a report file altered after the fact
    (tmp_path / "r-2024-02-2.html").write_text("doctored")
    outcome = book.verify()
    assert not outcome.ok
    assert [p["kind"] for p in outcome.problems] == ["report_altered"]
    assert book.verify(check_files=False).ok

    # an edited ledger line: the recorded hash of a report swapped
    lines = text.splitlines()
    entry = json.loads(lines[1])
    key = json.loads(entry["resource_id"])
    key["sha256"] = "f" * 64
    entry["resource_id"] = json.dumps(key, sort_keys=True, separators=(",", ":"))
    lines[1] = json.dumps(entry)
    book.path.write_text("\n".join(lines) + "\n")
    outcome = book.verify(check_files=False)
    assert not outcome.ok
    assert outcome.chain.counts["hash_mismatch"] == 1
    assert "line 2" in outcome.chain.records[0]["row"]


def test_deleted_line_is_detected(tmp_path):
    book = Ledger(tmp_path / "home")
    for label in ["2024-01", "2024-02", "2024-03"]:
        _record(book, label)
    lines = book.path.read_text().splitlines()
    book.path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    outcome = book.verify()
    assert not outcome.ok
    assert outcome.chain.counts["missing_predecessor"] == 1


def test_empty_ledger(tmp_path):
    book = Ledger(tmp_path / "nowhere")
    assert book.verify().ok and book.verify().chain is None
    assert book.entries().empty
    result = review_cadence(book, Policy.load(None), datetime(2024, 5, 1, tzinfo=UTC))
    assert result.status == "fail" and "no review recorded" in result.summary


def t(day, hour=9):
    return datetime(2024, 1, day, hour, tzinfo=UTC)


def test_monthly_cadence_pass_warn_fail(tmp_path):
    policy = Policy.load("soc2")
    until = datetime(2024, 5, 20, tzinfo=UTC)
    on_time = _ledger_with_history(tmp_path / "a", [
        ("2024-01", t(1) + timedelta(days=33)), ("2024-02", datetime(2024, 3, 4, tzinfo=UTC)),
        ("2024-03", datetime(2024, 4, 2, tzinfo=UTC)),
        ("2024-04", datetime(2024, 5, 3, tzinfo=UTC))])
    result = review_cadence(on_time, policy, until)
    assert result.status == "pass", result.summary
    assert result.metrics["expected"] == 4 and result.findings.empty
    assert "SOC 2 CC4.1" in result.controls

    late = _ledger_with_history(tmp_path / "b", [
        ("2024-01", datetime(2024, 2, 5, tzinfo=UTC)),
        ("2024-02", datetime(2024, 3, 30, tzinfo=UTC)),  # due 2024-03-11
        ("2024-03", datetime(2024, 4, 2, tzinfo=UTC)),
        ("2024-04", datetime(2024, 5, 3, tzinfo=UTC))])
    result = review_cadence(late, policy, until)
    assert result.status == "warn"
    assert result.findings[["period", "state"]].values.tolist() == [["2024-02", "late"]]

    missed = _ledger_with_history(tmp_path / "c", [
        ("2024-01", datetime(2024, 2, 5, tzinfo=UTC)),
        ("2024-03", datetime(2024, 4, 2, tzinfo=UTC))])
    result = review_cadence(missed, policy, until)
    assert result.status == "fail"
    assert result.findings[["period", "state"]].values.tolist() == [
        ["2024-02", "missed"], ["2024-04", "missed"]]
    assert result.to_dict()["findings"][0]["period"] == "2024-02"


def test_daily_cadence_for_pci_dss(tmp_path):
    policy = Policy.load("pci_dss")
    reviews = [(f"2024-01-{d:02d}", t(d + 1, 6)) for d in range(1, 11) if d != 4]
    reviews.append(("2024-01-04", t(8)))  # reviewed 3 days late
    book = _ledger_with_history(tmp_path, reviews)
    # a monthly report does not count as the daily review of its days
    result = review_cadence(book, policy, t(11, 12))
    assert result.metrics["cadence"] == "daily"
    assert "PCI DSS 10.4.1" in result.controls
    assert result.status == "warn"
    assert result.findings[["period", "state"]].values.tolist() == [["2024-01-04", "late"]]
    result = review_cadence(book, policy, t(14, 12))  # 11, 12 due and never reviewed
    assert result.status == "fail"
    assert result.findings.loc[result.findings["state"] == "missed", "period"].tolist() == [
        "2024-01-11", "2024-01-12"]


def test_cadence_override_and_bad_cadence(tmp_path):
    book = _ledger_with_history(tmp_path, [("2024-01", datetime(2024, 2, 2, tzinfo=UTC))])
    weekly = review_cadence(book, None, datetime(2024, 2, 20, tzinfo=UTC), cadence="weekly")
    assert weekly.status == "fail" and weekly.metrics["cadence"] == "weekly"
    with pytest.raises(PolicyError):
        review_cadence(book, None, cadence="hourly")


def test_review_cadence_is_an_opt_in_checklist_row(tmp_path, monkeypatch, samples):
    import audit_analytics as aa
    from audit_analytics.checks import run_checks

    home = tmp_path / "home"
    monkeypatch.setenv("AUDIT_ANALYTICS_HOME", str(home))
    policy = Policy.load("soc2")
    with aa.open(samples / "python_seed" / "clean.parquet") as log:
        default = run_checks(log, policy)
        assert "review_cadence" not in [c.name for c in default.checks]
        never = run_checks(log, policy, only=["review_cadence"],
                           until=datetime(2024, 5, 20, tzinfo=UTC))
        assert never.checks[0].status == "fail"
        history = [("2024-01", datetime(2024, 2, 5, tzinfo=UTC)),
                   ("2024-02", datetime(2024, 3, 4, tzinfo=UTC)),
                   ("2024-03", datetime(2024, 4, 2, tzinfo=UTC)),
                   ("2024-04", datetime(2024, 5, 3, tzinfo=UTC))]
        _ledger_with_history(tmp_path, history)  # reviews of another source do not count
        other = run_checks(log, policy, only=["review_cadence"],
                           until=datetime(2024, 5, 20, tzinfo=UTC))
        assert other.checks[0].status == "fail"
        assert f"no review of {log.source.label} recorded" in other.checks[0].summary
        _ledger_with_history(tmp_path, history, source=log.source.label)
        kept = run_checks(log, policy, only=["review_cadence"],
                          since=datetime(2024, 1, 1, tzinfo=UTC),
                          until=datetime(2024, 5, 20, tzinfo=UTC))
    (row,) = kept.checks
    assert row.status == "pass", row.summary
    assert "PCI DSS 10.4.1" in row.controls
    assert row.to_dict()["name"] == "review_cadence"
