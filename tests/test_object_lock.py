"""`object-lock`: a bucket's WORM setup graded against the policy's retention regime."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from audit_analytics.storage.object_lock import inspect_object_lock, required_days


def _run(cli, *args):
    done = cli("object-lock", *args, "--json", "-")
    document = json.loads(done.stdout) if done.stdout.strip() else None
    return done, document


def _kinds(document) -> dict[str, str]:
    return {f["kind"]: f["status"] for f in document["findings"]}


def test_required_days_count_365_day_years_rounded_up():
    assert (required_days(1), required_days(3), required_days(12), required_days(72)) == (
        31, 92, 365, 2190)


def test_the_seeds_compliance_configuration_passes_under_hipaa(s3, cli):
    # the seed: put-object-lock-configuration, COMPLIANCE mode, 6 years
    bucket = s3.bucket(lock="COMPLIANCE", years=6)
    s3.client().put_object(Bucket=bucket, Key="audit/day=2024-01-01/part-0.parquet", Body=b"x")
    done, doc = _run(cli, f"s3://{bucket}/audit", "--policy", "hipaa")
    assert done.returncode == 0, done.stderr
    assert {"ok", "bucket", "versioning", "object_lock_enabled", "default_retention",
            "required", "objects", "findings"} <= set(doc)
    assert (doc["ok"], doc["bucket"], doc["versioning"], doc["object_lock_enabled"]) == (
        True, bucket, "Enabled", True)
    assert doc["default_retention"] == {"mode": "COMPLIANCE", "days": None, "years": 6}
    assert doc["required"]["regime"] == "hipaa" and doc["required"]["months"] == 72
    assert (doc["objects"]["checked"], doc["objects"]["short"]) == (1, 0)
    assert set(_kinds(doc).values()) == {"pass"}
    assert set(doc["findings"][0]) == {"kind", "detail", "status"}
    assert s3.secret_key not in done.stdout + done.stderr


def test_a_bucket_without_object_lock_fails(s3, cli):
    for versioning, status in ((False, "fail"), (True, "pass")):
        bucket = s3.bucket(versioning=versioning)
        done, doc = _run(cli, f"s3://{bucket}", "--policy", "hipaa")
        assert done.returncode == 1, done.stderr
        assert not doc["ok"] and not doc["object_lock_enabled"]
        assert doc["default_retention"] is None
        assert _kinds(doc)["object_lock"] == "fail" and _kinds(doc)["versioning"] == status
    human = cli("object-lock", f"s3://{bucket}", "--policy", "hipaa")
    assert human.returncode == 1 and "fail  object_lock: Object Lock is not enabled" in human.stdout


def test_governance_mode_warns(s3, cli):
    bucket = s3.bucket(lock="GOVERNANCE", years=6)
    done, doc = _run(cli, f"s3://{bucket}", "--policy", "hipaa")
    assert done.returncode == 0 and doc["ok"]
    assert _kinds(doc)["retention_mode"] == "warn"
    detail = next(f["detail"] for f in doc["findings"] if f["kind"] == "retention_mode")
    assert "s3:BypassGovernanceRetention" in detail


@pytest.mark.parametrize("policy, period, status", [
    ("hipaa", {"years": 5}, "fail"),
    ("hipaa", {"days": 2189}, "fail"),
    ("hipaa", {"days": 2190}, "pass"),   # 6 x 365 days, as a rule of 6 years dates objects
    ("pci_dss", {"days": 364}, "fail"),
    ("pci_dss", {"days": 365}, "pass"),
    ("pci_dss", {"years": 1}, "pass"),
    ("soc2", {"years": 1}, "pass"),
])
def test_the_default_period_against_the_regime(s3, cli, policy, period, status):
    bucket = s3.bucket(lock="COMPLIANCE", **period)
    done, doc = _run(cli, f"s3://{bucket}", "--policy", policy)
    assert _kinds(doc)["retention_period"] == status
    assert done.returncode == (1 if status == "fail" else 0)


def test_a_custom_soc2_period_comes_from_the_policy(s3, cli, tmp_path):
    policy = tmp_path / "soc2-3y.toml"
    policy.write_text('[retention]\nregime = "soc2"\nrequired_months = 36\n')
    bucket = s3.bucket(lock="COMPLIANCE", years=2)
    done, doc = _run(cli, f"s3://{bucket}", "--policy", policy)
    assert done.returncode == 1 and doc["required"]["months"] == 36
    assert _kinds(doc)["retention_period"] == "fail"


def test_object_lock_without_a_default_rule_fails(s3, cli):
    bucket = s3.bucket(lock_enabled=True)
    done, doc = _run(cli, f"s3://{bucket}", "--policy", "hipaa")
    assert done.returncode == 1 and doc["object_lock_enabled"] and doc["versioning"] == "Enabled"
    assert _kinds(doc)["default_retention"] == "fail"


def test_objects_retained_too_briefly_under_the_prefix_fail(s3, cli):
    bucket = s3.bucket(lock="COMPLIANCE", years=6)
    client = s3.client()
    client.put_object(Bucket=bucket, Key="audit/ok.parquet", Body=b"x")
    soon = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=400)
    client.put_object(Bucket=bucket, Key="audit/short.parquet", Body=b"y",
                      ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=soon)
    client.put_object(Bucket=bucket, Key="elsewhere/short.parquet", Body=b"z",
                      ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=soon)
    done, doc = _run(cli, f"s3://{bucket}/audit/", "--policy", "hipaa")
    assert done.returncode == 1
    assert (doc["objects"]["checked"], doc["objects"]["short"]) == (2, 1)
    short = doc["objects"]["short_objects"][0]
    assert short["key"] == "audit/short.parquet" and short["mode"] == "COMPLIANCE"
    assert dt.datetime.fromisoformat(short["retain_until"]) == soon
    assert _kinds(doc)["object_retention"] == "fail"
    done, doc = _run(cli, f"s3://{bucket}/audit/", "--policy", "pci_dss")
    assert done.returncode == 0 and doc["objects"]["short"] == 0
    done, doc = _run(cli, f"s3://{bucket}", "--policy", "hipaa", "--max-objects", "1")
    assert doc["objects"]["checked"] == 1 and doc["objects"]["truncated"]


def test_the_python_api_gives_the_same_report(s3):
    bucket = s3.bucket(lock="COMPLIANCE", years=6)
    report = inspect_object_lock(f"s3://{bucket}", "hipaa")
    assert report.ok and report.status == "pass" and "COMPLIANCE" in report.summary()
    assert repr(report).startswith("<ObjectLockReport") and "<table>" in report._repr_html_()


@pytest.mark.parametrize("where, message", [
    ("s3://no-such-bucket-aa", "bucket not found: s3://no-such-bucket-aa"),
    ("/tmp/archive", "object-lock needs an s3:// location"),
    ("s3://", "not an S3 location"),
])
def test_bad_input_is_exit_2_with_one_line(s3, cli, where, message):
    done = cli("object-lock", where)
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_wrong_or_insufficient_credentials_are_exit_2(s3, cli):
    bucket = s3.bucket(lock="COMPLIANCE", years=6)
    done = cli("object-lock", f"s3://{bucket}", env={"AWS_ACCESS_KEY_ID": "AKIANOTKNOWN000",
                                                     "AWS_SECRET_ACCESS_KEY": "not-the-secret-42"})
    assert done.returncode == 2 and "access key id" in done.stderr
    assert "not-the-secret-42" not in done.stderr
    key, secret = s3.user({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": f"arn:aws:s3:::{bucket}"}]})
    done = cli("object-lock", f"s3://{bucket}", env={"AWS_ACCESS_KEY_ID": key,
                                                     "AWS_SECRET_ACCESS_KEY": secret})
    assert done.returncode == 2 and "access denied" in done.stderr and secret not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_bad_policy_is_exit_2_before_any_request(cli):
    done = cli("object-lock", "s3://some-bucket", "--policy", "nope")
    assert done.returncode == 2 and "policy file 'nope' not found" in done.stderr
