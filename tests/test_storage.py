"""Locations and object storage: local paths and s3:// against a real S3-protocol server."""

from __future__ import annotations

import datetime as dt
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit_analytics.errors import OutputError, SourceError
from audit_analytics.storage import (
    expand,
    head_object,
    is_remote,
    locate,
    read_bytes,
    s3_settings,
    write_new,
)


def _parquet_bytes(n: int = 10) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"a": list(range(n))}), sink)
    return sink.getvalue()


# --- locations and settings, no server -------------------------------------------------
def test_locations_of_each_kind(tmp_path):
    assert is_remote("S3://b/k") and not is_remote("/tmp/x")
    local = locate("data_samples/python_seed/clean.parquet")
    assert local.scheme == "file" and local.path.startswith("/") and not local.is_s3
    assert local.url == "data_samples/python_seed/clean.parquet"
    url = locate(f"file://{tmp_path}/a%20b.parquet")
    assert url.path == f"{tmp_path}/a b.parquet"


def test_s3_locations_keep_bucket_and_key(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    loc = locate("s3://audit-archive/2024/day=2024-01-01/")
    assert (loc.bucket, loc.key, loc.path) == ("audit-archive", "2024/day=2024-01-01",
                                               "audit-archive/2024/day=2024-01-01")
    assert loc.url == "s3://audit-archive/2024/day=2024-01-01"
    assert loc.child("part-0.parquet").url == "s3://audit-archive/2024/day=2024-01-01/part-0.parquet"
    assert locate("s3://audit-archive").key == ""


@pytest.mark.parametrize("bad", ["s3://", "s3:///key", "s3://A_Bucket/x", "gs://b/k",
                                 "file://otherhost/x"])
def test_malformed_locations_are_one_line_errors(bad):
    with pytest.raises(SourceError) as err:
        locate(bad)
    assert "\n" not in str(err.value)


def test_settings_from_variables_then_profile_files(tmp_path, monkeypatch):
    config, creds = tmp_path / "config", tmp_path / "credentials"
    config.write_text("[default]\nregion = eu-west-1\n\n[profile audit]\nregion = eu-central-1\n"
                      "endpoint_url = http://minio.local:9000\n")
    creds.write_text("[audit]\naws_access_key_id = AKIAPROFILE\n"
                     "aws_secret_access_key = profile-secret-value\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    assert s3_settings().region == "eu-west-1" and s3_settings().access_key is None
    monkeypatch.setenv("AWS_PROFILE", "audit")
    got = s3_settings()
    assert (got.endpoint, got.region, got.access_key) == ("http://minio.local:9000",
                                                          "eu-central-1", "AKIAPROFILE")
    assert "profile-secret-value" not in repr(got)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1234/")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-value")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "env-token-value")
    got = s3_settings()
    assert (got.endpoint, got.region, got.access_key, got.session_token) == (
        "http://127.0.0.1:1234", "us-west-2", "AKIAENV", "env-token-value")


def test_a_malformed_config_file_is_a_one_line_error(tmp_path, monkeypatch):
    (tmp_path / "config").write_text("region = x\n[default\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    with pytest.raises(SourceError, match="cannot read the AWS configuration"):
        s3_settings()


def test_local_expand_matches_files_folders_and_globs(tmp_path):
    for day in ("2024-01-02", "2024-01-01"):
        (tmp_path / f"day={day}").mkdir()
        (tmp_path / f"day={day}" / "part.parquet").write_bytes(_parquet_bytes())
    (tmp_path / "notes.txt").write_text("x")
    files, hive = expand(str(tmp_path))
    assert [f.url for f in files] == [f"{tmp_path}/day=2024-01-01/part.parquet",
                                      f"{tmp_path}/day=2024-01-02/part.parquet"] and hive
    files, hive = expand(f"{tmp_path}/**/*.parquet")
    assert len(files) == 2 and hive
    one, hive = expand(files[0].url)
    assert [f.url for f in one] == [files[0].url] and not hive
    with pytest.raises(SourceError, match="no files match"):
        expand(f"{tmp_path}/*.csv")
    with pytest.raises(SourceError, match="source not found"):
        expand(f"{tmp_path}/missing")


def test_write_new_never_replaces_a_local_file(tmp_path):
    target = tmp_path / "sub" / "manifest.jsonl"
    write_new(str(target), b"first\n")
    with pytest.raises(OutputError, match="already exists"):
        write_new(str(target), b"second\n")
    assert target.read_bytes() == b"first\n"


# --- against the S3 server ----------------------------------------------------------------
@pytest.fixture
def archive(s3):
    """A bucket with a hive archive under a prefix, plus an unrelated object."""
    bucket = s3.bucket()
    client = s3.client()
    for day in ("2024-01-02", "2024-01-01", "2024-01-10"):
        client.put_object(Bucket=bucket, Key=f"logs/day={day}/part-0.parquet",
                          Body=_parquet_bytes())
    client.put_object(Bucket=bucket, Key="logs/README.txt", Body=b"x")
    client.put_object(Bucket=bucket, Key="other/x.parquet", Body=_parquet_bytes(3))
    return bucket


def test_s3_expand_prefixes_globs_and_single_objects(archive):
    files, hive = expand(f"s3://{archive}/logs/")
    assert [f.url for f in files] == [f"s3://{archive}/logs/day=2024-01-0{d}/part-0.parquet"
                                      for d in (1, 2)] + [
        f"s3://{archive}/logs/day=2024-01-10/part-0.parquet"]
    assert hive and all(f.is_s3 for f in files)
    files, _ = expand(f"s3://{archive}/logs/day=2024-01-0?/*.parquet")
    assert len(files) == 2
    files, _ = expand(f"s3://{archive}/**/*.parquet")
    assert len(files) == 4
    files, hive = expand(f"s3://{archive}/other/x.parquet")
    assert len(files) == 1 and not hive
    everything, _ = expand(f"s3://{archive}/logs", suffixes=())
    assert len(everything) == 4
    assert read_bytes(files[0])[:4] == b"PAR1"


@pytest.mark.parametrize("where, message", [
    ("s3://{bucket}/nothing-here/",
     "source not found: s3://{bucket}/nothing-here (no object has that key or prefix)"),
    ("s3://{bucket}/logs/*.csv", "no files match s3://{bucket}/logs/*.csv"),
    ("s3://no-such-bucket-aa/logs/", "bucket not found: s3://no-such-bucket-aa"),
    ("s3://no-such-bucket-aa/logs/*.parquet", "bucket not found: s3://no-such-bucket-aa"),
])
def test_s3_missing_things_are_one_line_errors(archive, where, message):
    with pytest.raises(SourceError) as err:
        expand(where.format(bucket=archive))
    assert str(err.value) == message.format(bucket=archive)


def test_s3_wrong_and_insufficient_credentials(archive, s3, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-key-value-123")
    with pytest.raises(SourceError) as err:
        expand(f"s3://{archive}/logs/")
    assert "access key id" in str(err.value) and "wrong-secret" not in str(err.value)
    key, secret = s3.user(None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    with pytest.raises(SourceError) as err:
        expand(f"s3://{archive}/logs/")
    assert "access denied (ListObjectsV2)" in str(err.value) and secret not in str(err.value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret[:-2] + "xx")
    with pytest.raises(SourceError, match="signature does not match"):
        expand(f"s3://{archive}/logs/")


def test_s3_write_new_is_conditional(s3):
    bucket = s3.bucket()
    target = f"s3://{bucket}/archive/manifest.jsonl"
    write_new(target, b"first\n", metadata={"sha256": "ab" * 32})
    with pytest.raises(OutputError, match="already exists"):
        write_new(target, b"second\n")
    assert read_bytes(locate(target)) == b"first\n"
    assert head_object(target).metadata == {"sha256": "ab" * 32}


def test_s3_write_new_sets_retention_in_the_same_request(s3):
    bucket = s3.bucket(lock="GOVERNANCE", days=1)
    until = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    write_new(f"s3://{bucket}/p/part-0.parquet", _parquet_bytes(), mode="COMPLIANCE",
              retain_until=until)
    head = head_object(f"s3://{bucket}/p/part-0.parquet")
    assert (head.lock_mode, head.retain_until, head.version_id is not None) == (
        "COMPLIANCE", until, True)
    with pytest.raises(OutputError, match="both a mode and a date"):
        write_new(f"s3://{bucket}/p/x", b"", mode="COMPLIANCE")
    with pytest.raises(SourceError, match="not found"):
        head_object(f"s3://{bucket}/p/missing")


def test_s3_writes_refused_without_permission(s3, monkeypatch):
    from s3server import read_only_policy

    bucket = s3.bucket()
    key, secret = s3.user(read_only_policy(bucket))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    with pytest.raises(OutputError, match=r"cannot write s3://.*: access denied \(PutObject\)"):
        write_new(f"s3://{bucket}/x", b"data")


def test_an_unreachable_endpoint_is_a_one_line_error(monkeypatch, s3):
    from pgserver import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SourceError, match="cannot connect to http://127.0.0.1"):
        expand("s3://some-bucket/logs/")


def _upload_tree(s3, bucket: str, folder, prefix: str) -> None:
    client = s3.client()
    for path in sorted(folder.rglob("*.parquet")):
        client.put_object(Bucket=bucket, Key=f"{prefix}/{path.relative_to(folder)}",
                          Body=path.read_bytes())


def test_verify_reads_a_hive_archive_from_a_bucket(s3, cli, samples, expected):
    bucket = s3.bucket()
    _upload_tree(s3, bucket, samples / "node_seed" / "clean_text_ts", "audit/node")
    done = cli("verify", f"s3://{bucket}/audit/node/", "--json", "-")
    assert done.returncode == 0, done.stderr
    assert s3.secret_key not in done.stdout + done.stderr
    import json

    result = json.loads(done.stdout)
    local = json.loads(cli("verify", samples / "node_seed" / "clean_text_ts", "--json", "-").stdout)
    assert result["ok"] and result["rows"] == local["rows"] > 0
