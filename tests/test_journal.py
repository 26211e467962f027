import json
import multiprocessing
import os
from pathlib import Path

import pytest

import audit_analytics as aa
from audit_analytics import journal
from audit_analytics.journal import Journal, mask_source

CLEAN = "data_samples/python_seed/clean.parquet"


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_api_calls_are_journaled_and_verify(monkeypatch):
    monkeypatch.setenv("AUDIT_ANALYTICS_ACTOR", "analyst-7")
    with aa.open(CLEAN) as log:
        log.verify()
        log.sql("SELECT count(*) FROM events")
    with pytest.raises(aa.SourceError):
        aa.open("no/such/file.parquet")
    book = Journal()
    frame = book.entries()
    assert frame["action"].tolist() == ["open", "verify", "sql", "open"]
    assert frame["result"].tolist() == ["success", "success", "success", "failure"]
    assert set(frame["actor_id"]) == {"analyst-7"}
    assert frame.loc[2, "parameters"] == {"query": "SELECT count(*) FROM events"}
    result = book.verify()
    assert result.ok and result.rows == 4 and result.profile.name == "python-seed"
    assert "parameters" in result.unprotected_fields


def test_journal_off(monkeypatch):
    monkeypatch.setenv("AUDIT_ANALYTICS_JOURNAL", "off")
    with aa.open(CLEAN) as log:
        log.sql("SELECT 1")
    monkeypatch.delenv("AUDIT_ANALYTICS_JOURNAL")
    with aa.open(CLEAN, journal=False) as log:
        log.verify()
    assert not Journal().path.exists()


def test_password_is_masked():
    assert mask_source("postgresql://u:s3cret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert mask_source("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_source("host=h password=s3cret user=u") == "host=h password=*** user=u"
    entry = Journal().append("open", "postgresql://app:hunter2@db/prod", result="failure",
                             error="login failed for postgresql://app:hunter2@db/prod")
    text = Journal().path.read_text()
    assert "hunter2" not in text
    assert entry["resource_id"] == "postgresql://app:***@db/prod"


@pytest.mark.parametrize("edit", ["actor", "delete", "garbage"])
def test_tampering_is_detected(edit):
    book = Journal()
    for i in range(5):
        book.append("sql", CLEAN, parameters={"query": f"SELECT {i}"})
    lines = book.path.read_text().splitlines()
    if edit == "actor":
        entry = json.loads(lines[2])
        entry["actor_id"] = "someone-else"
        lines[2] = json.dumps(entry)
        expected = "hash_mismatch"
    elif edit == "delete":
        del lines[2]
        expected = "missing_predecessor"
    else:
        lines[2] = "{not json"
        expected = "malformed"
    book.path.write_text("\n".join(lines) + "\n")
    result = book.verify()
    assert not result.ok
    assert result.counts[expected] >= 1
    assert any("line" in (f.get("row") or "") for f in result.records)


def _append_many(home, n):
    os.environ["AUDIT_ANALYTICS_HOME"] = home
    book = Journal()
    for i in range(n):
        book.append("sql", CLEAN, parameters={"i": i})


def test_concurrent_appends_keep_one_chain():
    home = os.environ["AUDIT_ANALYTICS_HOME"]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(home, 40)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert all(p.exitcode == 0 for p in procs)
    result = Journal().verify()
    assert result.rows == 160
    assert result.ok, result.summary()


def test_unwritable_journal_never_stops_analysis(monkeypatch, tmp_path, caplog):
    blocked = tmp_path / "file"
    blocked.write_text("x")
    monkeypatch.setenv("AUDIT_ANALYTICS_HOME", str(blocked / "home"))
    monkeypatch.setitem(journal._state, "warned", False)
    with aa.open(CLEAN) as log:
        assert len(log.sql("SELECT 1 AS x")) == 1
    assert "access journal not written" in caplog.text


def test_cli_journal_commands(cli):
    home = os.environ["AUDIT_ANALYTICS_HOME"]
    done = cli("--actor", "cron-bot", "verify", CLEAN)
    assert done.returncode == 0, done.stderr
    shown = cli("journal", "show", "--json")
    rows = [json.loads(x) for x in shown.stdout.splitlines()]
    assert [r["action"] for r in rows] == ["open", "verify"]
    assert {r["actor_id"] for r in rows} == {"cron-bot"}
    assert {r["command"] for r in rows} == {"verify"}
    ok = cli("journal", "verify")
    assert ok.returncode == 0 and "INTACT" in ok.stdout
    path = Path(home) / "journal.jsonl"
    lines = path.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["result"] = "failure"
    lines[0] = json.dumps(entry)
    path.write_text("\n".join(lines) + "\n")
    bad = cli("journal", "verify", "--json", "-")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["counts"]["hash_mismatch"] == 1


def test_investigation_queries_and_checks_are_journaled(samples):
    import audit_analytics as aa
    from audit_analytics.journal import Journal

    with aa.open(samples / "python_seed" / "clean.parquet") as log:
        log.actor_history("u-0001", since="2024-01-01")
        log.failed_attempts()
        log.check(only=["required_fields"])
    entries = Journal().entries()
    assert entries["action"].tolist() == ["open", "actor_history", "failed_attempts", "check"]
    history = entries[entries["action"] == "actor_history"].iloc[-1]
    assert history["parameters"]["actor_id"] == "u-0001"
    check = entries[entries["action"] == "check"].iloc[-1]
    assert check["parameters"]["checks"] == ["required_fields"]
    assert Journal().verify().ok
