"""CloudTrail events as a source: the field mapping, the checklist, the report and load."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import cloudtrail_tree as ct
import pytest

import audit_analytics as aa
from audit_analytics.cloudtrail.records import map_record

START = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
DAYS = 14
RANGE = {"start_time": "2026-11-02T00:00:00Z", "end_time": "2026-11-16T00:00:00Z"}
ROOT_ARN = f"arn:aws:iam::{ct.ACCOUNT}:root"


def _user(name: str) -> str:
    return f"arn:aws:iam::{ct.ACCOUNT}:user/{name}"


def _root(when, rng, name):
    return ct.record(when, rng, eventSource="iam.amazonaws.com", eventName=name,
                     userIdentity={"type": "Root", "principalId": ct.ACCOUNT, "arn": ROOT_ARN,
                                   "accountId": ct.ACCOUNT})


def scenario(when: dt.datetime, rng):
    """Office hours for three users, the root user at 11:00; on day 12 the incidents."""
    day, first = (when - START).days, when.minute < 20
    minute = dt.timedelta(minutes=1)
    out = []
    if when.weekday() < 5 and 9 <= when.hour < 17:
        out += [ct.record(when - minute, rng, user=u) for u in ("alice", "bob", "carol")]
    if day < 12 and when.hour == 11 and first:
        out.append(_root(when - 2 * minute, rng, "GetAccountSummary"))
    if day == 12 and first:
        if when.hour == 3:  # root at 3 a.m.
            out.append(_root(when - 2 * minute, rng, "CreateAccessKey"))
        if when.hour == 14:  # a burst of AccessDenied
            out += [ct.record(when - k * 10 * dt.timedelta(seconds=1), rng, user="mallory",
                              eventName="ListSecrets", eventSource="secretsmanager.amazonaws.com",
                              errorCode="AccessDenied", errorMessage="not authorized")
                    for k in range(12)]
        if when.hour == 15:  # failed console logins
            out += [ct.record(when - k * 20 * dt.timedelta(seconds=1), rng, user="dave",
                              eventName="ConsoleLogin", eventSource="signin.amazonaws.com",
                              eventType="AwsConsoleSignIn",
                              responseElements={"ConsoleLogin": "Failure"},
                              errorMessage="Failed authentication") for k in range(8)]
        if when.hour == 10:  # reads of the trail itself, and one read elsewhere
            out.append(ct.record(when - minute, rng, user="bob", eventName="LookupEvents",
                                 eventSource="cloudtrail.amazonaws.com"))
            trail_key = f"AWSLogs/{ct.ACCOUNT}/CloudTrail/us-east-1/2026/11/13/x.json.gz"
            for user, bucket, key in (("carol", "trail-bucket", trail_key),
                                      ("alice", "reports-bucket", "2026/q4.pdf")):
                out.append(ct.record(
                    when - minute, rng, user=user, eventName="GetObject",
                    eventSource="s3.amazonaws.com", eventCategory="Data",
                    requestParameters={"bucketName": bucket, "key": key},
                    resources=[{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                               {"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]))
    return out


@pytest.fixture(scope="module")
def trail(tmp_path_factory):
    key = ct.new_key(START - dt.timedelta(days=30), START + dt.timedelta(days=60))
    tree = ct.build_trail(START, DAYS * 24, [key], records=scenario)
    folder = tmp_path_factory.mktemp("ct")
    tree.write(folder / "trail")
    (folder / "keys.json").write_text(json.dumps(ct.keys_document([key])))
    return {"tree": tree, "root": folder / "trail", "keys": folder / "keys.json"}


def test_mapping_of_identities_and_results():
    rec = ct.record(START, __import__("random").Random(1), user="alice",
                    errorCode="AccessDeniedException")
    row = map_record(rec, "f.json.gz")
    assert (row["id"], row["actor_id"], row["actor_type"], row["action"],
            row["resource_type"], row["result"]) == (rec["eventID"], _user("alice"), "IAMUser",
                                                     "DescribeInstances", "ec2.amazonaws.com",
                                                     "denied")
    assert row["timestamp"] == START and row["ip_address"] == rec["sourceIPAddress"]
    assert json.loads(row["record"]) == rec and row["log_file"] == "f.json.gz"
    service = {**rec, "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
               "sourceIPAddress": "ec2.amazonaws.com", "errorCode": "ThrottlingException",
               "requestParameters": {"roleName": "app-role"}}
    row = map_record(service, "f")
    assert (row["actor_id"], row["actor_type"], row["result"], row["ip_address"],
            row["source_host"], row["resource_id"]) == ("ec2.amazonaws.com", "AWSService",
                                                        "failure", None, "ec2.amazonaws.com",
                                                        "app-role")
    assert map_record({**rec, "errorCode": "Client.UnauthorizedOperation"}, "f")["result"] \
        == "denied"
    assert map_record({k: v for k, v in rec.items() if k != "errorCode"}, "f")["result"] \
        == "success"
    login = {**rec, "eventName": "ConsoleLogin", "responseElements": {"ConsoleLogin": "Failure"}}
    assert map_record({k: v for k, v in login.items() if k != "errorCode"}, "f")["result"] \
        == "failure"
    root = {**rec, "userIdentity": {"type": "Root", "principalId": ct.ACCOUNT}}
    assert map_record(root, "f")["actor_id"] == ct.ACCOUNT


def test_events_and_the_checklist(trail):
    log = aa.open(trail["root"], public_keys=trail["keys"], **RANGE)
    assert log.source.kind == "cloudtrail" and len(log) == len(trail["tree"].events)
    result = log.check(since="2026-11-14", until="2026-11-15")
    by = {c.name: c for c in result.checks}
    assert result.policy == "cloudtrail"
    assert by["chain_integrity"].status == "pass", by["chain_integrity"].summary
    assert by["required_fields"].status == "pass", by["required_fields"].findings
    bursts = set(by["failed_access_burst"].findings["actor_id"])
    assert bursts == {_user("mallory"), _user("dave")}
    assert ROOT_ARN in set(by["off_hours_access"].findings["actor_id"])
    readers = set(by["log_access"].findings["actor_id"])
    assert by["log_access"].status == "fail" and readers == {_user("bob"), _user("carol")}
    log.close()


def test_tampered_log_file_fails_chain_integrity(trail, tmp_path):
    trail["tree"].write(tmp_path / "copy")
    key = next(k for k in trail["tree"].logs
               if json.loads(gzip.decompress((tmp_path / "copy" / k).read_bytes()))["Records"])
    data = json.loads(gzip.decompress((tmp_path / "copy" / key).read_bytes()))
    data["Records"] = data["Records"][1:]
    (tmp_path / "copy" / key).write_bytes(gzip.compress(json.dumps(data).encode()))
    with aa.open(tmp_path / "copy", public_keys=trail["keys"], **RANGE) as log:
        check = log.check(only=["chain_integrity"]).checks[0]
    assert check.status == "fail" and list(check.findings["kind"]) == ["log_file_hash_mismatch"]


def test_without_keys_signatures_are_not_checked(trail):
    with aa.open(trail["root"], **RANGE) as log:
        check = log.check(only=["chain_integrity"]).checks[0]
    assert check.status == "warn" and "not checked" in check.summary


def test_report_shows_digest_validation(cli, trail, tmp_path):
    proc = cli("report", trail["root"], "--period", "2026-11-14", "--public-keys", trail["keys"],
               "--start-time", RANGE["start_time"], "--end-time", RANGE["end_time"],
               "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "out" / "audit-report_2026-11-14.json").read_text())
    integrity = doc["integrity"]
    assert integrity["kind"] == "cloudtrail_digests" and integrity["ok"] is True
    assert integrity["digests"]["valid"] == DAYS * 24
    assert doc["scope"]["source_kind"] == "cloudtrail"
    html = (tmp_path / "out" / "audit-report_2026-11-14.html").read_text()
    assert "CloudTrail digest validation" in html and "rows re-hashed" not in html


def test_check_and_load_cli(cli, trail, tmp_path):
    proc = cli("check", trail["root"], "--public-keys", trail["keys"], "--start-time",
               RANGE["start_time"], "--end-time", RANGE["end_time"], "--since", "2026-11-14",
               "--until", "2026-11-15", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    statuses = {c["name"]: c["status"] for c in doc["checks"]}
    assert statuses["chain_integrity"] == "pass" and statuses["log_access"] == "fail"
    proc = cli("load", trail["root"], "--into", tmp_path / "ct.duckdb", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rows_appended"] == len(trail["tree"].events)
    proc = cli("load", trail["root"], "--into", tmp_path / "ct2.duckdb", "--since", "2026-11-03")
    assert proc.returncode == 2 and "--start-time" in proc.stderr
    proc = cli("check", "data_samples/python_seed/clean.parquet", "--public-keys",
               trail["keys"])
    assert proc.returncode == 2 and "CloudTrail sources only" in proc.stderr
