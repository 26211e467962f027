"""log_access and review_cadence: one implementation under check, report and the API."""

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

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


# --- one source, however it is spelled ------------------------------------------------------
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data_samples" / "python_seed"
ABSOLUTE = str(SAMPLE_DIR / "clean.parquet")


def _journal_findings(done) -> tuple[dict, dict]:
    """``log_access``'s result and its journaled reads per actor."""
    assert done.returncode == 0, done.stderr
    (access,) = [c for c in json.loads(done.stdout)["checks"] if c["name"] == "log_access"]
    reads: dict = {}
    for finding in access["findings"]:
        if finding["source"] == "journal":
            reads[finding["actor_id"]] = reads.get(finding["actor_id"], 0) + finding["value"]
    return access, reads


def test_log_access_and_review_cadence_match_every_spelling_of_the_source(cli, tmp_path):
    home = Path(os.environ["AUDIT_ANALYTICS_HOME"])
    spellings = ["./clean.parquet", "clean.parquet", "//" + ABSOLUTE.replace("/", "//"),
                 f"file://{ABSOLUTE}", "../python_seed/./clean.parquet"]
    for spelled in spellings:  # mallory reads the one file five ways
        done = cli("--actor", "mallory", "verify", spelled, cwd=SAMPLE_DIR)
        assert done.returncode == 0, (spelled, done.stderr)
    eve = cli("--actor", "eve", "verify", "clean_text_ts", cwd=SAMPLE_DIR)  # another source
    assert eve.returncode == 0, eve.stderr
    written = cli("--actor", "svc-review", "report", "./clean.parquet", "--period", "2024-01",
                  "--out", tmp_path / "out", "--format", "json", cwd=SAMPLE_DIR)
    assert written.returncode == 0, written.stderr
    for spelled, cwd in ((ABSOLUTE, None), ("clean.parquet", SAMPLE_DIR),
                         (f"file://{ABSOLUTE}", tmp_path), (ABSOLUTE.replace("/", "//"), None)):
        access, journaled = _journal_findings(cli(
            "check", spelled, "--only", "log_access", "--json", "-", cwd=cwd))
        # ten reads by mallory (an open and a verify each time), none of eve's other source
        assert journaled["mallory"] == 10, (spelled, access["metrics"]["journal"])
        assert "eve" not in journaled and journaled["svc-review"] == 2  # open, report
        (cadence,) = [c for c in json.loads(
            cli("check", spelled, "--only", "review_cadence", "--since", "2024-01-01",
                "--until", "2024-03-01", "--json", "-", cwd=cwd).stdout)["checks"]]
        assert cadence["status"] == "warn", (spelled, cadence["summary"])  # reviewed, late
        assert [(f["period"], f["state"]) for f in cadence["findings"]] == [("2024-01", "late")]

    # every entry keeps the spelling it was given and the one identity
    entries = [json.loads(x) for x in (home / "journal.jsonl").read_text().splitlines()]
    assert {e["source_id"] for e in entries if e["actor_id"] != "eve"} == {ABSOLUTE}
    assert {e["resource_id"] for e in entries if e["actor_id"] == "mallory"} == set(spellings)
    ledger = json.loads((home / "ledger.jsonl").read_text())
    key = json.loads(ledger["resource_id"])
    assert (key["source"], key["source_id"]) == ("./clean.parquet", ABSOLUTE)

    shown = cli("journal", "show", "--source", f"file://{ABSOLUTE}", "--json", "-n", "0")
    assert shown.returncode == 0, shown.stderr
    assert {json.loads(x)["source_id"] for x in shown.stdout.splitlines()} == {ABSOLUTE}
    assert "eve" not in shown.stdout
    for spelled in (ABSOLUTE, "//" + ABSOLUTE):
        cadence = cli("ledger", "cadence", "--source", spelled, "--since", "2024-01-01", "--json")
        result = json.loads(cadence.stdout)
        assert "no review" not in result["summary"] and result["metrics"]["late"] >= 1
    other = cli("ledger", "cadence", "--source", str(SAMPLE_DIR / "clean_text_ts"), "--json")
    assert other.returncode == 1 and "no review" in json.loads(other.stdout)["summary"]


def test_old_entries_count_by_the_identity_of_their_spelling(cli):
    home = Path(os.environ["AUDIT_ANALYTICS_HOME"])
    # written before identities were stored: relative spellings resolve from the reader's
    # working directory (the repository root, where the CLI runs)
    _journal_read(home, "2024-01-10T03:00:00+00:00", "mallory", "./" + CLEAN)
    _journal_read(home, "2024-01-11T03:00:00+00:00", "mallory", "//" + ABSOLUTE)
    _review(home, "2023-12", datetime(2024, 1, 2, tzinfo=UTC), "./data_samples//python_seed/"
            "clean.parquet")
    # a recorded identity wins over the spelling: this read was of a file elsewhere
    ChainFile(home / "journal.jsonl", "journal").append(
        {"timestamp": "2024-01-12T03:00:00+00:00", "actor_id": "eve", "action": "sql",
         "resource_type": "audit_log", "resource_id": CLEAN, "result": "success"},
        {"command": "sql"}, bind={"source_id": "/elsewhere/" + CLEAN})
    done = cli("check", ABSOLUTE, "--since", "2024-01-01", "--until", "2024-02-01",
               "--only", "log_access", "--only", "review_cadence", "--json", "-")
    access, journaled = _journal_findings(done)
    assert journaled == {"mallory": 2}, access["metrics"]["journal"]
    (cadence,) = [c for c in json.loads(done.stdout)["checks"] if c["name"] == "review_cadence"]
    assert cadence["status"] == "pass", cadence["summary"]
    assert cadence["metrics"]["reviewed"] == 1


@pytest.mark.postgres
def test_a_postgresql_table_is_one_source_under_every_url(cli, tmp_path, samples):
    from pgserver import start_server

    from audit_analytics.samples.load_postgres import load_samples

    server = start_server()
    try:
        url = server.create_database("aa_identity")
        load_samples(url, samples)
        host = f"{server.host}:{server.port}"
        with_password = (url, "--table", "python_seed.audit_logs")
        from_env = (f"postgres://{server.user}@{host}/aa_identity?sslmode=disable", "--table",
                    "PYTHON_SEED.AUDIT_LOGS")
        env = {"PGPASSWORD": server.password}
        wrong = server.url("aa_identity", password="not-the-password-42")
        refused = cli("--actor", "mallory", "verify", wrong, "--table", "python_seed.audit_logs")
        assert refused.returncode == 2 and "login rejected" in refused.stderr, refused.stderr
        done = cli("--actor", "mallory", "verify", *with_password)
        assert done.returncode == 0, done.stderr
        written = cli("report", *from_env, "--period", "2024-01", "--out", tmp_path / "out",
                      "--format", "json", env=env)
        assert written.returncode == 0, written.stderr
        access, journaled = _journal_findings(cli(
            "check", *from_env, "--only", "log_access", "--json", "-", env=env))
        # the refused login (to the same table) and the read: open, verify
        assert journaled["mallory"] == 3, access["metrics"]["journal"]
        label = f"postgresql://{host}/aa_identity table python_seed.audit_logs"
        cadence = json.loads(cli("ledger", "cadence", "--source", label, "--json").stdout)
        assert "no review" not in cadence["summary"] and cadence["metrics"]["late"] >= 1
        home = Path(os.environ["AUDIT_ANALYTICS_HOME"])
        recorded = (home / "journal.jsonl").read_text() + (home / "ledger.jsonl").read_text()
        assert server.password not in recorded and "not-the-password-42" not in recorded
        expected = f"postgresql://{host}/aa_identity table python_seed.audit_logs"
        assert {json.loads(x)["source_id"] for x in
                (home / "journal.jsonl").read_text().splitlines()} == {expected}
        assert f"{server.user}@" not in expected
    finally:
        server.stop()


def test_a_failed_read_counts_for_the_source_as_it_was_named(cli, tmp_path):
    """A read that fails on one file of a folder is a read of the folder."""
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "part-0.parquet").write_bytes((SAMPLE_DIR / "clean.parquet").read_bytes())
    (folder / "part-1.parquet").write_bytes(b"PAR1 not really")
    failed = cli("--actor", "mallory", "verify", "archive/", cwd=tmp_path)
    assert failed.returncode == 2 and "part-1.parquet" in failed.stderr, failed.stderr
    (folder / "part-1.parquet").unlink()
    access, journaled = _journal_findings(cli("check", folder, "--only", "log_access",
                                              "--json", "-"))
    assert journaled == {"mallory": 1}, access["metrics"]["journal"]
    assert access["metrics"]["journal"]["entries"][0]["result"] == "failure"


def test_an_s3_prefix_is_one_source_under_every_spelling(cli, s3, samples):
    bucket = s3.bucket()
    s3.client().put_object(Bucket=bucket, Key="audit/python/clean.parquet",
                           Body=(samples / "python_seed" / "clean.parquet").read_bytes())
    for spelled in (f"s3://{bucket}/audit/python/", f"S3://{bucket}//audit/python"):
        done = cli("--actor", "mallory", "verify", spelled)
        assert done.returncode == 0, (spelled, done.stderr)
    access, journaled = _journal_findings(cli("check", f"s3://{bucket}/audit//python//",
                                              "--only", "log_access", "--json", "-"))
    assert journaled == {"mallory": 4}, access["metrics"]["journal"]
    home = Path(os.environ["AUDIT_ANALYTICS_HOME"])
    ids = {json.loads(x)["source_id"] for x in (home / "journal.jsonl").read_text().splitlines()}
    assert ids == {f"s3://{bucket}/audit/python"}
