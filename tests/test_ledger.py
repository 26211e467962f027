import json
from datetime import UTC, datetime, timedelta

import pytest

from audit_analytics.errors import PolicyError
from audit_analytics.periods import parse_period
from audit_analytics.policy import Policy
from audit_analytics.trail.cadence import review_cadence
from audit_analytics.trail.ledger import Ledger, sha256_file

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
    from audit_analytics.trail._chainfile import ChainFile
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


# --- every recorded file is covered by the entry's hash ------------------------------------
CLEAN = "data_samples/python_seed/clean.parquet"


def _reported(cli, tmp_path):
    """One report written by the CLI: its ledger line (parsed) and the two files."""
    import os
    from pathlib import Path

    out = tmp_path / "reports"
    done = cli("report", CLEAN, "--period", "2024-01", "--out", out)
    assert done.returncode == 0, done.stderr
    ledger = Path(os.environ["AUDIT_ANALYTICS_HOME"]) / "ledger.jsonl"
    return ledger, json.loads(ledger.read_text()), {
        "html": out / "audit-report_2024-01.html", "json": out / "audit-report_2024-01.json"}


def _put(ledger, entry):
    ledger.write_text(json.dumps(entry) + "\n")


def test_cli_clean_ledger_verifies_clean(cli, tmp_path):
    ledger, entry, files = _reported(cli, tmp_path)
    key = json.loads(entry["resource_id"])
    assert {fmt: f["sha256"] for fmt, f in key["files"].items()} == {
        fmt: sha256_file(p) for fmt, p in files.items()}
    assert key["primary"] == "html" and key["sha256"] == key["files"]["html"]["sha256"]
    assert not {"files", "status", "replaced"} & set(entry)  # all inside the hashed key
    done = cli("ledger", "verify", "--json", "-")
    assert done.returncode == 0, done.stdout
    doc = json.loads(done.stdout)
    assert doc["ok"] and doc["problems"] == [] and doc["warnings"] == []
    assert doc["chain"]["unprotected_fields"] == ["tool"]


@pytest.mark.parametrize("edited", ["html", "json"])
def test_cli_edited_report_and_edited_files_detail_is_detected(cli, tmp_path, edited):
    ledger, entry, files = _reported(cli, tmp_path)
    files[edited].write_bytes(files[edited].read_bytes() + b"<!-- doctored -->")
    new = sha256_file(files[edited])
    attacks = {
        "files emptied": {**entry, "files": {}},
        "file marked non-primary with its new digest": {**entry, "files": {
            edited: {"path": str(files[edited].resolve()), "sha256": new, "primary": False}}},
        "files not a mapping": {**entry, "files": ["nothing", "to", "see"]},
        "files a string": {**entry, "files": "none"},
    }
    for attack, forged in attacks.items():
        _put(ledger, forged)
        done = cli("ledger", "verify", "--json", "-")
        assert done.returncode == 1, (attack, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr
        kinds = {p["kind"] for p in json.loads(done.stdout)["problems"]}
        assert kinds == {"bad_entry", "report_altered"}, (attack, kinds)
    _put(ledger, entry)  # the genuine entry: the doctored file alone is found
    done = cli("ledger", "verify")
    assert done.returncode == 1
    assert f"{files[edited]} ({edited}) no longer matches" in done.stdout


def test_cli_malformed_entries_are_findings_never_a_crash(cli, tmp_path):
    ledger, entry, _files = _reported(cli, tmp_path)
    key = json.loads(entry["resource_id"])
    forged_keys = [{**key, "files": []}, {**key, "files": {"html": "x"}},
                   {**key, "version": "one"}, {**key, "start": "soon"},
                   {**key, "sha256": None}, {k: v for k, v in key.items() if k != "end"}]
    lines = [json.dumps({**entry, "resource_id": json.dumps(k)}) for k in forged_keys]
    lines += [json.dumps({**entry, "resource_id": "not json"}),
              json.dumps({**entry, "resource_id": 7}),
              json.dumps({**entry, "resource_id": "[1]"}),
              json.dumps({**entry, "action": "something_else"}),
              json.dumps([entry]), json.dumps({**entry, "__line": "x"})]
    ledger.write_text("\n".join(lines) + "\n")
    for args in (("ledger", "verify", "--json", "-"), ("ledger", "show"),
                 ("ledger", "cadence")):
        done = cli(*args)
        assert done.returncode in (0, 1), (args, done.stderr)
        assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    done = cli("ledger", "verify", "--json", "-")
    doc = json.loads(done.stdout)
    assert done.returncode == 1 and not doc["ok"]
    bad = sorted(p["line"] for p in doc["problems"] if p["kind"] == "bad_entry")
    assert bad == list(range(1, 11))  # the last two are not entries: the chain's malformed
    assert doc["chain"]["counts"]["malformed"] == 2


def _legacy_ledger(home, files):
    """A ledger line as written before the per-file details were hashed."""
    from audit_analytics.trail._chainfile import ChainFile

    period = parse_period("2024-01")
    primary = next(f for f in files.values() if f["primary"])
    key = {"period": period.label, "kind": period.kind, "start": period.start.isoformat(),
           "end": period.end.isoformat(), "source": "x.parquet", "version": 1,
           "sha256": primary["sha256"]}
    ChainFile(home / "ledger.jsonl", "ledger").append(
        {"actor_id": "alice", "action": "review_report", "resource_type": "review_report",
         "resource_id": json.dumps(key, sort_keys=True, separators=(",", ":")),
         "result": "success"}, {"files": files, "status": "pass", "replaced": False})


def test_cli_legacy_entries_verify_by_the_old_rule_with_a_warning(cli, tmp_path):
    import os
    from pathlib import Path

    home = Path(os.environ["AUDIT_ANALYTICS_HOME"])
    html, doc = tmp_path / "r.html", tmp_path / "r.json"
    html.write_text("<p>report</p>")
    doc.write_text("{}")
    files = {"html": {"path": str(html), "sha256": sha256_file(html), "primary": True},
             "json": {"path": str(doc), "sha256": sha256_file(doc), "primary": False}}
    _legacy_ledger(home, files)
    done = cli("ledger", "verify", "--json", "-")
    assert done.returncode == 0, done.stdout
    result = json.loads(done.stdout)
    assert [w["kind"] for w in result["warnings"]] == ["legacy_entry"]
    assert "warning: legacy_entry" in cli("ledger", "verify").stdout
    assert Ledger(home).entries()["files"][0]["json"]["sha256"] == sha256_file(doc)

    html.write_text("<p>doctored</p>")  # the primary file: its digest is hashed
    assert cli("ledger", "verify").returncode == 1
    line = json.loads((home / "ledger.jsonl").read_text())
    line["files"]["html"].update(primary=False, sha256=sha256_file(html))  # demoted
    (home / "ledger.jsonl").write_text(json.dumps(line) + "\n")
    demoted = cli("ledger", "verify", "--json", "-")
    assert demoted.returncode == 1
    assert [p["kind"] for p in json.loads(demoted.stdout)["problems"]] == ["bad_entry"]


def test_cadence_of_an_ancient_review_is_evaluated_quickly_over_a_bounded_lookback(tmp_path):
    from audit_analytics.trail.cadence import LOOKBACK

    # a report recorded for a period in year 2 must not make every later evaluation walk
    # two thousand years of days
    book = _ledger_with_history(tmp_path, [("0002-01-01", datetime(2024, 1, 2, tzinfo=UTC)),
                                           ("2024-01-01", datetime(2024, 1, 2, tzinfo=UTC))])
    until = datetime(2024, 1, 10, tzinfo=UTC)
    result = review_cadence(book, Policy.load("pci_dss"), until)
    assert result.status == "fail"
    assert result.metrics["expected"] <= LOOKBACK.days + 1
    assert datetime.fromisoformat(result.metrics["schedule_start"]) >= until - LOOKBACK
    assert "lookback" in result.summary


# --- a report rewritten with --replace: its earlier entry's files are superseded ----------
def _replaced(cli, tmp_path):
    """2024-01 written then rewritten with --replace: the ledger, its lines, the files."""
    import os
    from pathlib import Path

    out = tmp_path / "reports"
    files = {"html": out / "audit-report_2024-01.html", "json": out / "audit-report_2024-01.json"}
    first = cli("report", CLEAN, "--period", "2024-01", "--out", out)
    assert first.returncode == 0, first.stderr
    originals = {fmt: path.read_bytes() for fmt, path in files.items()}
    again = cli("--actor", "second-run", "report", CLEAN, "--period", "2024-01", "--out", out,
                "--replace")
    assert again.returncode == 0, again.stderr
    assert {fmt: path.read_bytes() for fmt, path in files.items()} != originals
    ledger = Path(os.environ["AUDIT_ANALYTICS_HOME"]) / "ledger.jsonl"
    return ledger, ledger.read_text().splitlines(), files, originals


def _verified(cli):
    done = cli("ledger", "verify", "--json", "-")
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    return done.returncode, json.loads(done.stdout)


def test_cli_replaced_report_is_superseded_not_altered(cli, tmp_path):
    ledger, lines, files, _originals = _replaced(cli, tmp_path)
    assert json.loads(json.loads(lines[1])["resource_id"])["replaced"] is True
    code, doc = _verified(cli)
    assert code == 0, doc
    assert doc["ok"] and doc["problems"] == [] and doc["missing_files"] == []
    assert sorted((s["line"], s["format"], s["by_line"], s["path"])
                  for s in doc["superseded_files"]) == [
        (1, "html", 2, str(files["html"].resolve())),
        (1, "json", 2, str(files["json"].resolve()))]
    human = cli("ledger", "verify")
    assert human.returncode == 0, human.stdout
    assert "2 recorded report file(s) superseded by a later report" in human.stdout
    assert (f"superseded: {files['html'].resolve()} (html) recorded at line 1, rewritten by "
            "the report recorded at line 2") in human.stdout

    # the replacement is checked against its own entry: an edit of it is still found
    files["html"].write_bytes(files["html"].read_bytes() + b"<!-- doctored -->")
    code, doc = _verified(cli)
    assert code == 1
    assert [(p["kind"], p["line"]) for p in doc["problems"]] == [("report_altered", 2)]
    assert len(doc["superseded_files"]) == 2


def test_cli_a_deleted_report_file_of_an_entry_not_superseded_stays_a_finding(cli, tmp_path):
    _ledger, _lines, files, _originals = _replaced(cli, tmp_path)
    out = tmp_path / "reports"
    other = cli("report", CLEAN, "--period", "2024-02", "--out", out, "--format", "json")
    assert other.returncode == 0, other.stderr
    (out / "audit-report_2024-02.json").unlink()  # recorded at line 3, never rewritten
    files["json"].unlink()                          # the replacement, recorded at line 2
    code, doc = _verified(cli)
    assert code == 0, doc  # moved or deleted files are listed, not failed
    assert sorted(doc["missing_files"]) == sorted([
        str((out / "audit-report_2024-02.json").resolve()), str(files["json"].resolve())])
    assert sorted((s["line"], s["format"]) for s in doc["superseded_files"]) == [
        (1, "html"), (1, "json")]


@pytest.mark.parametrize("attack", ["superseding entry deleted", "superseding entry edited",
                                    "superseding entry inserted off the chain",
                                    "entries swapped in the file, old report restored"])
def test_cli_only_a_valid_later_entry_of_the_chain_excuses_a_rewritten_file(cli, tmp_path,
                                                                             attack):
    from audit_analytics.chain.canonical import row_digest
    from audit_analytics.trail._chainfile import PROFILE

    ledger, lines, files, originals = _replaced(cli, tmp_path)
    second = json.loads(lines[1])
    if attack == "superseding entry deleted":
        kept, expected_lines = [lines[0]], [1, 1]
    elif attack == "superseding entry edited":
        kept, expected_lines = [lines[0], json.dumps({**second, "actor_id": "someone"})], [1, 1]
    elif attack == "superseding entry inserted off the chain":
        # recomputed hash, but chained to nothing: forged after the fact
        forged = {**second, "prev_hash": "e" * 64}
        forged["hash"] = row_digest(PROFILE, forged)
        kept, expected_lines = [lines[0], json.dumps(forged)], [1, 1]
    else:
        # the replacement's entry first in the file, the first report's bytes put back: in
        # the chain the replacement still comes after, so the restored files are altered
        for fmt, data in originals.items():
            files[fmt].write_bytes(data)
        kept, expected_lines = [lines[1], lines[0]], [1, 1]
    ledger.write_text("\n".join(kept) + "\n")
    code, doc = _verified(cli)
    assert code == 1, (attack, doc)
    altered = sorted(p["line"] for p in doc["problems"] if p["kind"] == "report_altered")
    assert altered == expected_lines, (attack, doc["problems"])
    if attack.startswith("entries swapped"):
        # the first report's entry (now line 2) is superseded by the replacement's (line 1)
        assert {(s["line"], s["by_line"]) for s in doc["superseded_files"]} == {(2, 1)}
        assert doc["chain"]["ok"]
    else:
        assert doc["superseded_files"] == []
        assert not doc["chain"]["ok"] or attack == "superseding entry deleted"


@pytest.mark.parametrize("formats", ["html,json", "html"])
def test_cli_a_replace_the_ledger_cannot_record_puts_the_files_back(cli, tmp_path, formats):
    """No report file changes without a ledger entry saying so (else: report_altered)."""
    import os
    from pathlib import Path

    home = Path(os.environ["AUDIT_ANALYTICS_HOME"])
    out = tmp_path / "reports"
    first = cli("report", CLEAN, "--period", "2024-01", "--out", out, "--format", formats)
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    ledger = home / "ledger.jsonl"
    kept = ledger.read_bytes()
    ledger.write_text("not a ledger\n")  # readable, but never appended to
    again = cli("--actor", "second-run", "report", CLEAN, "--period", "2024-01", "--out", out,
                "--format", "html,json,csv", "--replace")
    assert again.returncode == 2, again.stderr
    assert "cannot append to the ledger" in again.stderr and "Traceback" not in again.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # old bytes, no new file
    ledger.write_bytes(kept)
    code, doc = _verified(cli)
    assert code == 0 and doc["problems"] == [], doc


def test_cli_ledger_verify_shows_a_hostile_report_folder_on_one_line(cli, tmp_path):
    out = tmp_path / "re\nports\x1b[31m"
    for extra in ((), ("--replace",)):
        done = cli("report", CLEAN, "--period", "2024-01", "--out", out, "--format", "json",
                   *extra)
        assert done.returncode == 0, done.stderr
    (out / "audit-report_2024-01.json").write_text("{}")
    done = cli("ledger", "verify")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    superseded = [x for x in lines if x.startswith("  superseded: ")]
    altered = [x for x in lines if x.startswith("  - report_altered: ")]
    assert len(superseded) == 1 and len(altered) == 1, done.stdout
    for line in superseded + altered:
        assert "re\\nports\\x1b[31m" in line and "\x1b" not in line
    assert not any(x.startswith("ports") for x in lines)
