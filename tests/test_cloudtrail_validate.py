"""``cloudtrail validate`` on generated trails: a valid week and validate-logs' scenarios."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil

import cloudtrail_tree as ct
import pytest

from audit_analytics.cloudtrail.api import validate_cloudtrail
from audit_analytics.cloudtrail.keys import KeysError, load_public_keys
from audit_analytics.errors import PeriodError, SourceError

START = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
WEEK = 7 * 24
RANGE = {"start_time": "2026-11-02T00:00:00Z", "end_time": "2026-11-09T00:00:00Z"}


@pytest.fixture(scope="module")
def keys():
    first = ct.new_key(START - dt.timedelta(days=60), START + dt.timedelta(days=3, hours=12))
    second = ct.new_key(START + dt.timedelta(days=3, hours=12), START + dt.timedelta(days=90))
    return first, second


@pytest.fixture(scope="module")
def week(keys):
    """A week of hourly digests, the key rotated mid-week, some hours without API calls."""
    return ct.build_trail(START, WEEK, list(keys), logs_per_hour=lambda h: 0 if h % 24 in (3, 4)
                          else 2)


@pytest.fixture
def tree(week, tmp_path):
    week.write(tmp_path / "trail")
    return tmp_path / "trail"


@pytest.fixture
def keys_file(keys, tmp_path):
    return ct.write_keys(tmp_path / "keys.json", list(keys))


def run(tree, keys_file, **options):
    return validate_cloudtrail(tree, keys_file, **{**RANGE, **options})


def kinds(result):
    return sorted(f.kind for f in result.findings)


def test_valid_week_with_key_rotation(tree, keys_file, week, keys):
    result = run(tree, keys_file)
    assert result.ok, result.findings
    assert result.digests == {"valid": WEEK, "invalid": 0, "missing": 0, "unsigned": 0}
    assert result.log_files == {"valid": len(week.logs), "invalid": 0, "missing": 0,
                                "unlisted": 0, "not_checked": 0}
    fingerprints = {ct.digest_data(week, k)["digestPublicKeyFingerprint"] for k in week.digests}
    assert fingerprints == {keys[0].fingerprint, keys[1].fingerprint}
    # newest digest first, each digest followed by its log files
    lines = [line for line in result.lines if line.what]
    assert lines[0].what == "Digest file" and lines[0].file.endswith(week.digests[-1])
    assert lines[1].what == "Log file" and lines[1].file.endswith(
        ct.digest_data(week, week.digests[-1])["logFiles"][0]["s3Object"])
    text = result.text()
    assert f"{WEEK}/{WEEK} digest files valid" in text
    assert f"{len(week.logs)}/{len(week.logs)} log files valid" in text


def test_key_not_valid_at_signing_time(tree, keys, tmp_path):
    first, second = keys
    doc = ct.keys_document([first, second])
    doc["PublicKeyList"][1]["ValidityStartTime"] = (START + dt.timedelta(days=5)).isoformat()
    path = tmp_path / "late.json"
    path.write_text(json.dumps(doc))
    result = run(tree, path)
    bad = [f for f in result.findings if f.kind == "digest_signature_invalid"]
    assert bad and all("was not valid at" in f.detail for f in bad)
    assert len(bad) == 36  # the hours signed between the rotation and the key's stated start


def test_unknown_fingerprint(tree, keys, tmp_path, week):
    path = tmp_path / "one.json"
    path.write_text(json.dumps(ct.keys_document([keys[0]])))
    result = run(tree, path)
    bad = [f for f in result.findings if f.kind == "digest_signature_invalid"]
    second = [k for k in week.digests
              if ct.digest_data(week, k)["digestPublicKeyFingerprint"] == keys[1].fingerprint]
    assert len(second) > 24 and sorted(f.file for f in bad) == sorted(
        str(tree / k) for k in second)
    assert all("public key not found for fingerprint" in f.detail for f in bad)
    assert result.digests["valid"] + result.digests["invalid"] == WEEK


def test_invalid_signature(tree, keys_file, week):
    key = week.digests[100]
    meta = json.loads((tree / (key + ".metadata.json")).read_text())
    meta["signature"] = meta["signature"][:-2] + ("00" if meta["signature"][-2:] != "00" else "11")
    (tree / (key + ".metadata.json")).write_text(json.dumps(meta))
    result = run(tree, keys_file)
    assert not result.ok
    # the successor recorded the real signature: the chain says so too
    assert kinds(result) == ["digest_chain_broken", "digest_signature_invalid"]
    bad = next(f for f in result.findings if f.kind == "digest_signature_invalid")
    assert bad.file.endswith(key) and bad.detail == "signature verification failed"
    assert "Digest file\t" + str(tree / key) + "\tINVALID: signature verification failed" \
        in result.text()
    assert result.digests["invalid"] == 2


def test_forged_digest_content(tree, keys_file, week, keys):
    """A digest rewritten to hide a log file, re-signed with a key CloudTrail never used."""
    key = week.digests[50]
    data = ct.digest_data(week, key)
    data["logFiles"] = data["logFiles"][:1]
    forger = ct.new_key(START - dt.timedelta(days=1), START + dt.timedelta(days=30))
    forged = ct.Tree(bucket=week.bucket, files=dict(week.files))
    ct.resign(forged, key, data, forger)
    (tree / key).write_bytes(forged.files[key][0])
    (tree / (key + ".metadata.json")).write_text(json.dumps(forged.files[key][1]))
    result = run(tree, keys_file)
    assert {"digest_signature_invalid", "digest_chain_broken", "log_file_unlisted"} <= set(
        kinds(result))


def test_missing_digest(tree, keys_file, week):
    key = week.digests[80]
    (tree / key).unlink()
    (tree / (key + ".metadata.json")).unlink()
    result = run(tree, keys_file)
    assert not result.ok
    missing = [f for f in result.findings if f.kind == "digest_missing"]
    assert len(missing) == 1 and missing[0].file.endswith(key)
    assert result.digests["missing"] == 1
    lines = [line.text() for line in result.lines]
    gone = lines.index(f"Digest file\t{tree / key}\tINVALID: not found")
    # the line follows its successor's own log files, in digest order
    successor = week.digests[81]
    assert lines[gone - 3].startswith(f"Digest file\t{tree / successor}\tvalid")
    assert all(line.startswith("Log file") for line in lines[gone - 2:gone])
    # its log files are listed by no digest now
    assert result.log_files["unlisted"] == len(ct.digest_data(week, key)["logFiles"])


def test_gap_in_the_chain(keys, tmp_path, keys_file):
    """Logging stopped for five hours: the chain starts again, the hours are a finding."""
    before = ct.build_trail(START, 30, list(keys), seed=3)
    after = ct.build_trail(START + dt.timedelta(hours=35), WEEK - 35, list(keys), seed=4)
    before.files.update(after.files)
    before.write(tmp_path / "gap")
    result = run(tmp_path / "gap", keys_file)
    assert not result.ok
    broken = [f for f in result.findings if f.kind == "digest_chain_broken"]
    assert len(broken) == 1 and "the chain starts again" in broken[0].detail
    assert "No log files were delivered by CloudTrail between 2026-11-03T06:01:31Z and " \
           "2026-11-03T11:01:31Z" in result.text()
    assert result.digests["valid"] == WEEK - 5 - 1 and result.digests["invalid"] == 1


def test_missing_log_file(tree, keys_file, week):
    key = week.logs[7]
    (tree / key).unlink()
    result = run(tree, keys_file)
    assert kinds(result) == ["log_file_missing"]
    assert result.log_files["missing"] == 1
    assert f"Log file\t{tree / key}\tINVALID: not found" in result.text()


def test_modified_log_file(tree, keys_file, week):
    key = week.logs[11]
    records = json.loads(gzip.decompress((tree / key).read_bytes()))
    records["Records"][0]["eventName"] = "Harmless"
    (tree / key).write_bytes(gzip.compress(json.dumps(records).encode()))
    result = run(tree, keys_file)
    assert kinds(result) == ["log_file_hash_mismatch"]
    assert f"Log file\t{tree / key}\tINVALID: hash value doesn't match" in result.text()
    assert "1/" in result.summary() and "log files INVALID" in result.summary()


def test_log_file_moved(tree, keys_file, week):
    key = week.logs[20]
    moved = key.replace("/11/02/", "/11/01/")
    (tree / moved).parent.mkdir(parents=True, exist_ok=True)
    shutil.move(tree / key, tree / moved)
    result = run(tree, keys_file)
    assert kinds(result) == ["log_file_moved"]
    assert str(tree / moved) in result.findings[0].detail


def test_digest_moved_from_another_bucket(tree, keys_file, week, keys):
    """A digest of another trail's bucket copied into this one at the same key."""
    other = ct.build_trail(START, WEEK, list(keys), bucket="other-bucket", seed=9)
    key = week.digests[60]
    (tree / key).write_bytes(other.files[other.digests[60]][0])
    (tree / (key + ".metadata.json")).write_text(json.dumps(other.files[other.digests[60]][1]))
    result = run(tree, keys_file)
    moved = [f for f in result.findings if f.kind == "digest_moved"]
    assert len(moved) == 1 and moved[0].file.endswith(key)
    assert "s3://other-bucket/" in moved[0].detail
    assert "INVALID: has been moved from its original location" in result.text()
    assert not result.ok


def test_range_with_no_logs(keys, tmp_path, keys_file):
    quiet = ct.build_trail(START, 6, list(keys), logs_per_hour=lambda h: 0)
    quiet.write(tmp_path / "quiet")
    result = validate_cloudtrail(tmp_path / "quiet", keys_file, start_time="2026-11-02T00:00Z",
                                 end_time="2026-11-02T06:00Z")
    assert result.ok and result.digests["valid"] == 6 and result.log_files["valid"] == 0
    assert "No log files were delivered by CloudTrail between 2026-11-02T00:01:31Z and " \
           "2026-11-02T06:00:00Z" in result.text()


def test_missing_tail_hours(tree, keys_file, week):
    """The last ten digests deleted: hourly continuity says so (a chain alone cannot)."""
    for key in week.digests[-10:]:
        (tree / key).unlink()
    result = run(tree, keys_file)
    tail = [f for f in result.findings if f.kind == "digest_missing"]
    assert len(tail) == 1 and "hourly digest file(s) missing" in tail[0].detail
    assert result.digests["missing"] == 10


def test_no_digests_in_range(tree, keys_file):
    result = validate_cloudtrail(tree, keys_file, start_time="2025-01-01T00:00Z",
                                 end_time="2025-01-02T00:00Z")
    assert not result.ok and kinds(result) == ["digest_missing"]
    assert "No digests found" in result.text()


def test_plain_copy_without_signatures(week, keys_file, tmp_path):
    week.write(tmp_path / "plain", signatures=False)
    result = run(tmp_path / "plain", keys_file)
    # every digest but the newest is checked against the signature its successor recorded
    assert result.digests == {"valid": WEEK, "invalid": 0, "missing": 0, "unsigned": 1}
    assert not result.ok and not result.findings
    assert "valid (signature not checked)" in result.text()
    assert run(tmp_path / "plain", keys_file, allow_unsigned=True).ok


def test_bad_input(tree, keys_file, tmp_path):
    with pytest.raises(PeriodError):
        validate_cloudtrail(tree, keys_file, start_time="2026-11-05", end_time="2026-11-04")
    with pytest.raises(SourceError):
        validate_cloudtrail(tmp_path / "nowhere", keys_file)
    bad = tmp_path / "bad.json"
    for text in ('{"Keys": []}', "[1]", "not json", '{"PublicKeyList": [{"Value": "@@"}]}',
                 '{"PublicKeyList": []}'):
        bad.write_text(text)
        with pytest.raises(KeysError):
            load_public_keys(bad)


def test_keys_file_times_as_epoch_seconds(keys, tmp_path):
    doc = ct.keys_document(list(keys))
    for entry, key in zip(doc["PublicKeyList"], keys):
        entry["ValidityStartTime"] = key.valid_from.timestamp()
        entry["ValidityEndTime"] = key.valid_until.timestamp()
    path = tmp_path / "epoch.json"
    path.write_text(json.dumps(doc))
    loaded = load_public_keys(path)
    assert loaded[keys[0].fingerprint].valid_from == keys[0].valid_from


def test_cli_exit_codes_and_json(cli, tree, keys_file, week, tmp_path):
    proc = cli("cloudtrail", "validate", tree, "--public-keys", keys_file,
               "--start-time", RANGE["start_time"], "--end-time", RANGE["end_time"],
               "--json", "-")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True and doc["digests"]["valid"] == WEEK
    assert set(doc) >= {"ok", "range", "digests", "log_files", "findings"}
    assert set(doc["digests"]) >= {"valid", "invalid", "missing"}
    assert set(doc["log_files"]) >= {"valid", "invalid", "missing"}
    (tree / week.logs[3]).unlink()
    proc = cli("cloudtrail", "validate", tree, "--public-keys", keys_file,
               "--start-time", RANGE["start_time"], "--end-time", RANGE["end_time"])
    assert proc.returncode == 1
    assert "INVALID: not found" in proc.stdout
    assert f"{len(week.logs) - 1}/{len(week.logs)} log files valid" in proc.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"Keys": []}')
    for args in (["--public-keys", bad], ["--public-keys", keys_file, "--start-time",
                                           "2026-11-05", "--end-time", "2026-11-01"]):
        proc = cli("cloudtrail", "validate", tree, *args)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert "Traceback" not in proc.stderr
    proc = cli("cloudtrail", "validate", tmp_path / "none", "--public-keys", keys_file)
    assert proc.returncode == 2 and "no such folder" in proc.stderr


def test_regions_are_separate_chains_and_can_be_chosen(keys, keys_file, tmp_path):
    east = ct.build_trail(START, 12, list(keys), seed=5)
    west = ct.build_trail(START, 12, list(keys), seed=6, region="eu-west-1")
    east.files.update(west.files)
    east.write(tmp_path / "two")
    window = {"start_time": "2026-11-02T00:00Z", "end_time": "2026-11-02T12:00Z"}
    both = validate_cloudtrail(tmp_path / "two", keys_file, **window)
    assert both.ok and both.digests["valid"] == 24
    west_only = validate_cloudtrail(tmp_path / "two", keys_file, region="eu-west-1", **window)
    assert west_only.ok and west_only.digests["valid"] == 12
    assert all("/eu-west-1/" in line.file for line in west_only.lines if line.file)
    other = validate_cloudtrail(tmp_path / "two", keys_file, account="999999999999", **window)
    assert not other.ok and "No digests found" in other.text()
