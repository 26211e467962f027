import json
import multiprocessing
import os
from pathlib import Path

import pytest

import audit_analytics as aa
from audit_analytics.trail import journal
from audit_analytics.trail.journal import Journal, mask_source

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
    monkeypatch.setattr(journal.RECORDER, "warned", False)
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
    from audit_analytics.trail.journal import Journal

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


# --- damage never stops the record ---------------------------------------------------------
@pytest.mark.parametrize("cut", ["mid_line", "newline_only", "garbage_tail"])
def test_cli_damaged_last_line_keeps_journaling(cli, cut):
    path = Path(os.environ["AUDIT_ANALYTICS_HOME"]) / "journal.jsonl"
    assert cli("verify", CLEAN).returncode == 0  # open, verify
    data = path.read_bytes()
    if cut == "mid_line":  # a crash mid-append: a partial line without its newline
        path.write_bytes(data[:-40])
    elif cut == "newline_only":  # cut, then a newline: the partial line is closed
        path.write_bytes(data[:-40] + b"\n")
    else:  # bytes that are not an entry after the last one
        path.write_bytes(data + b'{"hash": 5}\n\xff\xfe not json')
    damaged = 1 if cut != "garbage_tail" else 2
    before = len(path.read_bytes().split(b"\n"))
    closed = path.read_bytes().endswith(b"\n")
    first = cli("verify", CLEAN)
    assert first.returncode == 0, first.stderr
    assert "damaged line" in first.stderr and "access journal not written" not in first.stderr
    second = cli("--actor", "later", "verify", CLEAN)
    assert second.returncode == 0 and second.stderr == ""

    checked = cli("journal", "verify", "--json", "-")
    assert checked.returncode == 1, checked.stdout
    doc = json.loads(checked.stdout)
    assert {k: v for k, v in doc["counts"].items() if v} == {"malformed": damaged}
    shown = [json.loads(x) for x in cli("journal", "show", "--json").stdout.splitlines()]
    shown = [r for r in shown if r["action"]]  # a JSON object that is no entry is listed too
    assert [r["action"] for r in shown] == (["open"] if cut != "garbage_tail"
                                           else ["open", "verify"]) + ["open", "verify"] * 2
    assert shown[-1]["actor_id"] == "later"
    # every new entry is on a line of its own, chained from the last intact entry
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == before + 4 + (not closed)
    intact = [json.loads(x) for x in lines if x.endswith(b"}") and x.startswith(b'{"id"')]
    assert len(intact) == len(shown)
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(intact, intact[1:]))


def test_damaged_ledger_line_keeps_recording(tmp_path):
    from audit_analytics.periods import parse_period
    from audit_analytics.trail.ledger import Ledger

    book = Ledger(tmp_path / "home")
    for label in ("2024-01", "2024-02"):
        book.record(period=parse_period(label), source="x.parquet", sha256="a" * 64, version=1)
    book.path.write_bytes(book.path.read_bytes()[:-25])
    book.record(period=parse_period("2024-03"), source="x.parquet", sha256="b" * 64,
                version=1)
    assert book.entries()["period"].tolist() == ["2024-01", "2024-03"]
    outcome = book.verify()
    assert not outcome.ok
    assert {k: v for k, v in outcome.chain.counts.items() if v} == {"malformed": 1}
    assert "line 2 (not an entry" in outcome.summary()


def test_line_separators_inside_values_are_not_line_breaks():
    book = Journal()
    for actor in ("a\u2028b", "c\u2029d\x85e\x1cf"):
        book.append("sql", CLEAN, actor=actor)
    assert Journal().entries()["actor_id"].tolist() == ["a\u2028b", "c\u2029d\x85e\x1cf"]
    result = book.verify()
    assert result.ok and result.rows == 2, result.summary()


def test_reserved_keys_make_a_line_damaged():
    book = Journal()
    book.append("sql", CLEAN)
    entry = json.loads(book.path.read_text())
    book.path.write_text(json.dumps({**entry, "__line_error": None}) + "\n")
    result = book.verify()
    assert result.counts["malformed"] == 1
    assert "reserved key" in result.summary()


def test_cli_journal_show_bad_arguments_exit_2(cli):
    for args in (("--since", "garbage"), ("-n", "-3")):
        done = cli("journal", "show", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "internal error" not in done.stderr


def test_an_explicit_recorder_carries_who_and_where_to_journal_and_ledger(tmp_path):
    from audit_analytics.periods import parse_period
    from audit_analytics.trail.journal import Recorder
    from audit_analytics.trail.ledger import Ledger

    recorder = Recorder(actor="svc-review", home=str(tmp_path / "home"), command="report")
    entry = recorder.record("verify", "postgresql://app:secret@db/prod")
    assert entry["actor_id"] == "svc-review" and entry["command"] == "report"
    assert "secret" not in entry["resource_id"]
    assert Journal(recorder=recorder).path == tmp_path / "home" / "journal.jsonl"
    with recorder.suspended():
        assert recorder.record("sql", "x") is None
    book = Ledger(recorder=recorder)
    assert book.path == tmp_path / "home" / "ledger.jsonl"
    written = book.record(period=parse_period("2024-01"), source="x.parquet", sha256="0" * 64,
                          version=1)
    assert written["actor_id"] == "svc-review"
    assert journal.RECORDER.actor != "svc-review"  # the process's recorder is untouched


# --- the source's identity is bound to the entry ---------------------------------------------
ABSOLUTE = str(Path(__file__).resolve().parent.parent / CLEAN)


@pytest.mark.parametrize("edit", ["changed", "removed", "added to an entry without one"])
def test_cli_an_edited_source_id_is_tampering_and_never_hides_a_read(cli, edit):
    from audit_analytics.trail._chainfile import ChainFile

    path = Path(os.environ["AUDIT_ANALYTICS_HOME"]) / "journal.jsonl"
    if edit.startswith("added"):  # as written before identities were recorded
        for action in ("open", "verify"):
            ChainFile(path, "journal").append(
                {"actor_id": "mallory", "action": action, "resource_type": "audit_log",
                 "resource_id": CLEAN, "result": "success"}, {"command": "verify"})
    else:
        assert cli("--actor", "mallory", "verify", CLEAN).returncode == 0
        assert {e["source_id"] for e in _lines(path)} == {ABSOLUTE}
    intact = cli("journal", "verify", "--json", "-")
    assert intact.returncode == 0, intact.stdout
    assert "source_id" not in json.loads(intact.stdout)["unprotected_fields"]
    lines = _lines(path)
    if edit == "removed":
        del lines[1]["source_id"]
    else:  # pointed elsewhere, so that the read would not count for this source
        lines[1]["source_id"] = "/elsewhere/clean.parquet"
    path.write_text("".join(json.dumps(e) + "\n" for e in lines))

    done = cli("journal", "verify", "--json", "-")
    assert done.returncode == 1, done.stdout
    doc = json.loads(done.stdout)
    assert {k: v for k, v in doc["counts"].items() if v} == {"hash_mismatch": 1}
    assert f"{path} line 2 (source_id " in doc["findings"][0]["row"]
    assert "hash_mismatch" in cli("journal", "verify").stdout
    # the read still counts for its source: the hashed resource_id names it
    checked = cli("check", ABSOLUTE, "--only", "log_access", "--json", "-")
    (access,) = json.loads(checked.stdout)["checks"]
    assert access["metrics"]["journal"]["reads"] == 2
    shown = [json.loads(x) for x in cli("journal", "show", "--json").stdout.splitlines()]
    assert shown[1]["source_id"] is None and shown[1]["resource_id"] == CLEAN
