"""``cloudtrail validate s3://...`` and ``cloudtrail fetch`` against the suite's S3 server.

Signatures come from each digest object's ``x-amz-meta-signature`` on S3, and from the
``.metadata.json`` files ``fetch`` writes beside the digests of a local copy.
"""

from __future__ import annotations

import datetime as dt
import json

import cloudtrail_tree as ct
import pytest

START = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
HOURS = 48
WINDOW = ["--start-time", "2026-11-02T00:00:00Z", "--end-time", "2026-11-04T00:00:00Z"]


@pytest.fixture(scope="module")
def key():
    return ct.new_key(START - dt.timedelta(days=30), START + dt.timedelta(days=30))


@pytest.fixture
def keys_file(key, tmp_path):
    return ct.write_keys(tmp_path / "keys.json", [key])


@pytest.fixture
def trail(s3, key):
    bucket = s3.bucket()
    tree = ct.build_trail(START, HOURS, [key], bucket=bucket, prefix="trails/prod")
    tree.upload(s3.client())
    return tree


def validate(cli, where, keys_file, *extra):
    proc = cli("cloudtrail", "validate", where, "--public-keys", keys_file, *WINDOW,
               "--json", "-", *extra)
    return proc, (json.loads(proc.stdout) if proc.stdout.startswith("{") else None)


def test_validate_a_bucket(cli, trail, keys_file):
    proc, doc = validate(cli, f"s3://{trail.bucket}/trails/prod", keys_file)
    assert proc.returncode == 0, proc.stderr
    assert doc["ok"] and doc["digests"]["valid"] == HOURS and doc["signatures"]["checked"]
    assert doc["log_files"]["valid"] == len(trail.logs)


def test_invalid_signature_in_the_object_metadata(cli, s3, trail, keys_file):
    key = trail.full(trail.digests[10])
    data, meta = trail.files[trail.digests[10]]
    forged = {**meta, "signature": "00" * 256}
    s3.client().put_object(Bucket=trail.bucket, Key=key, Body=data, Metadata=forged)
    proc, doc = validate(cli, f"s3://{trail.bucket}/trails/prod", keys_file)
    assert proc.returncode == 1
    bad = [f for f in doc["findings"] if f["kind"] == "digest_signature_invalid"]
    assert [f["file"] for f in bad] == [f"s3://{trail.bucket}/{key}"]


def test_a_copy_in_another_bucket_has_moved(cli, s3, trail, keys_file):
    other = s3.bucket()
    trail.upload(s3.client(), other)
    proc, doc = validate(cli, f"s3://{other}/trails/prod", keys_file)
    assert proc.returncode == 1
    # the digests, and the log files they list, were delivered to the first bucket
    assert doc["counts"] == {"digest_moved": HOURS, "log_file_moved": len(trail.logs)}
    moved = next(f for f in doc["findings"] if f["kind"] == "log_file_moved")
    assert moved["file"].startswith(f"s3://{trail.bucket}/") and "its hash matches" in \
        moved["detail"] and f"s3://{other}/" in moved["detail"]
    assert "INVALID: has been moved from its original location" not in proc.stdout  # JSON only
    proc = cli("cloudtrail", "validate", f"s3://{other}/trails/prod", "--public-keys",
               keys_file, *WINDOW)
    assert "INVALID: has been moved from its original location" in proc.stdout


def test_fetch_then_validate_the_copy(cli, trail, keys_file, tmp_path):
    proc = cli("cloudtrail", "fetch", f"s3://{trail.bucket}/trails/prod", "--to",
               tmp_path / "copy", *WINDOW)
    assert proc.returncode == 0, proc.stderr
    assert f"{HOURS} digest file(s) and {len(trail.logs)} log file(s) copied" in proc.stdout
    sidecar = tmp_path / "copy" / (trail.digests[0] + ".metadata.json")
    assert json.loads(sidecar.read_text()) == trail.files[trail.digests[0]][1]
    proc, doc = validate(cli, tmp_path / "copy", keys_file)
    assert proc.returncode == 0, proc.stderr
    assert doc["ok"] and doc["signatures"]["not_checked"] == 0
    assert doc["digests"]["valid"] == HOURS
    # the copy's origin is recorded: a moved digest is told from its bucket, not guessed
    marker = json.loads((tmp_path / "copy" / ".cloudtrail-location.json").read_text())
    assert marker == {"bucket": trail.bucket, "prefix": "trails/prod"}


def test_events_from_a_bucket(cli, trail, keys_file):
    proc = cli("check", f"s3://{trail.bucket}/trails/prod", "--public-keys", keys_file,
               *WINDOW, "--only", "chain_integrity", "--only", "required_fields", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["events"] == len(trail.events)
    assert {c["name"]: c["status"] for c in doc["checks"]} == {"chain_integrity": "pass",
                                                              "required_fields": "pass"}


def test_bad_locations(cli, s3, keys_file, tmp_path):
    proc = cli("cloudtrail", "validate", "s3://no-such-bucket-here", "--public-keys", keys_file)
    assert proc.returncode == 2 and "bucket not found" in proc.stderr, proc.stderr
    proc = cli("cloudtrail", "fetch", tmp_path, "--to", tmp_path / "x")
    assert proc.returncode == 2 and "copies from s3://" in proc.stderr


def test_fetch_writes_nothing_outside_its_folder(cli, s3, trail, keys_file, tmp_path):
    """A key whose trail-name part holds ``/../`` segments is no digest key: not copied."""
    base = (f"AWSLogs/{ct.ACCOUNT}/CloudTrail-Digest/{ct.REGION}/2026/11/02/{ct.ACCOUNT}_"
            f"CloudTrail-Digest_{ct.REGION}_x/")
    escape = "../" * 9 + f"escaped_{ct.REGION}_20261102T050131Z.json.gz"
    s3.client().put_object(Bucket=trail.bucket, Key=f"trails/prod/{base}{escape}",
                           Body=trail.files[trail.digests[4]][0])
    target = tmp_path / "deep" / "copy"
    proc = cli("cloudtrail", "fetch", f"s3://{trail.bucket}/trails/prod", "--to", target,
               *WINDOW)
    assert proc.returncode == 0, proc.stderr
    assert f"{HOURS} digest file(s) and {len(trail.logs)} log file(s) copied" in proc.stdout
    written = {p for p in tmp_path.rglob("*") if p.is_file()} - {keys_file}
    assert all(target in p.parents for p in written), sorted(map(str, written))
