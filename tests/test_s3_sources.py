"""Every command that reads a SOURCE reads it from a bucket as from a folder (moto on 127.0.0.1)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from s3server import read_only_policy


def _upload_tree(s3, bucket: str, folder: Path, prefix: str) -> list[str]:
    client, keys = s3.client(), []
    for path in sorted(folder.rglob("*.parquet")):
        key = f"{prefix}/{path.relative_to(folder)}"
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


@pytest.fixture
def hive_bucket(s3, samples):
    bucket = s3.bucket()
    keys = _upload_tree(s3, bucket, samples / "python_seed" / "clean_text_ts", "audit/python")
    return bucket, keys


def _json(done):
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout)


def test_verify_reads_hive_partitions_and_globs_from_a_bucket(s3, cli, samples, hive_bucket):
    bucket, keys = hive_bucket
    local = _json(cli("verify", samples / "python_seed" / "clean_text_ts", "--json", "-"))
    for where in (f"s3://{bucket}/audit/python/", f"s3://{bucket}/audit/**/*.parquet",
                  f"s3://{bucket}/audit/python/date=*/part-0.parquet"):
        done = cli("verify", where, "--json", "-")
        assert done.returncode == 0, done.stderr
        remote = _json(done)
        assert remote["ok"] and remote["rows"] == local["rows"] > 0
        assert remote["profile"] == local["profile"]
    one = _json(cli("verify", f"s3://{bucket}/{keys[0]}", "--json", "-"))
    assert 0 < one["rows"] < local["rows"]


def test_a_tampered_object_is_found_and_located(s3, cli, hive_bucket):
    bucket, keys = hive_bucket
    client = s3.client()
    victim = keys[2]
    table = pq.read_table(io.BytesIO(client.get_object(Bucket=bucket, Key=victim)["Body"].read()))
    actors = table.column("actor_id").to_pylist()
    actors[5] = "mallory"
    table = table.set_column(table.schema.get_field_index("actor_id"), "actor_id",
                             pa.array(actors, table.schema.field("actor_id").type))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    client.put_object(Bucket=bucket, Key=victim, Body=sink.getvalue())
    done = cli("verify", f"s3://{bucket}/audit/python/", "--json", "-")
    assert done.returncode == 1, done.stderr
    result = _json(done)
    mismatch = [f for f in result["findings"] if f["kind"] == "hash_mismatch"]
    assert len(mismatch) == 1
    assert f"s3://{bucket}/{victim} row 5" in json.dumps(mismatch[0])
    assert pc.sum(pc.equal(table.column("actor_id"), "mallory")).as_py() == 1


def test_check_report_and_load_read_from_a_bucket(s3, cli, tmp_path, hive_bucket):
    bucket, _ = hive_bucket
    where = f"s3://{bucket}/audit/python/"
    checked = cli("check", where, "--json", "-")
    assert checked.returncode == 0, checked.stderr
    assert _json(checked)["checks"]
    out = tmp_path / "reports"
    reported = cli("report", where, "--period", "2024-01", "--out", out)
    assert reported.returncode == 0, reported.stderr
    html = next(out.rglob("*.html")).read_text()
    assert where.rstrip("/") in html or bucket in html
    target = tmp_path / "copy.duckdb"
    loaded = cli("load", where, "--into", target)
    assert loaded.returncode == 0, loaded.stderr
    assert _json(cli("verify", target, "--json", "-"))["ok"]


def test_a_read_only_principal_can_verify(s3, cli, hive_bucket):
    bucket, _ = hive_bucket
    key, secret = s3.user(read_only_policy(bucket))
    env = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    done = cli("verify", f"s3://{bucket}/audit/python/", env=env)
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout + done.stderr


@pytest.mark.parametrize("case", ["missing bucket", "missing prefix", "wrong key",
                                  "wrong secret", "denied", "unreachable"])
def test_refusals_are_exit_2_with_one_line_and_no_secret(s3, cli, hive_bucket, case):
    from pgserver import free_port

    bucket, _ = hive_bucket
    where, env = f"s3://{bucket}/audit/python/", {}
    expected = {"missing bucket": "bucket not found: s3://aa-missing-bucket",
                "missing prefix": "no object has that key or prefix",
                "wrong key": "does not know the AWS access key id",
                "wrong secret": "signature does not match",
                "denied": "access denied (ListObjectsV2)",
                "unreachable": "cannot connect to http://127.0.0.1"}[case]
    if case == "missing bucket":
        where = "s3://aa-missing-bucket/audit/"
    elif case == "missing prefix":
        where = f"s3://{bucket}/nothing/here/"
    elif case == "wrong key":
        env = {"AWS_ACCESS_KEY_ID": "AKIA0000000000000000", "AWS_SECRET_ACCESS_KEY": "x" * 40}
    elif case == "wrong secret":
        env = {"AWS_SECRET_ACCESS_KEY": s3.secret_key[:-4] + "abcd"}
    elif case == "denied":
        key, secret = s3.user(None)
        env = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    else:
        env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    done = cli("verify", where, env=env)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and len(done.stderr.strip().splitlines()) == 1
    for secret in (s3.secret_key, env.get("AWS_SECRET_ACCESS_KEY", s3.secret_key)):
        assert secret not in done.stderr + done.stdout


def test_secrets_never_reach_the_journal(s3, cli, hive_bucket):
    bucket, _ = hive_bucket
    assert cli("verify", f"s3://{bucket}/audit/python/").returncode == 0
    cli("verify", "s3://aa-missing-bucket/x/")
    home = Path(os.environ["AUDIT_ANALYTICS_HOME"])
    stored = "".join(p.read_text(errors="replace") for p in home.rglob("*") if p.is_file())
    assert f"s3://{bucket}/audit/python" in stored
    assert s3.secret_key not in stored and s3.access_key not in stored


def test_a_profile_named_by_the_aws_profile_is_used(s3, cli, hive_bucket, tmp_path,
                                                     monkeypatch):
    bucket, _ = hive_bucket
    creds = tmp_path / "credentials"
    creds.write_text(f"[auditor]\naws_access_key_id = {s3.access_key}\n"
                     f"aws_secret_access_key = {s3.secret_key}\n")
    config = tmp_path / "config"
    config.write_text(f"[profile auditor]\nregion = us-east-1\nendpoint_url = {s3.endpoint}\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name)
    env = {"AWS_PROFILE": "auditor", "AWS_SHARED_CREDENTIALS_FILE": str(creds),
           "AWS_CONFIG_FILE": str(config)}
    done = cli("verify", f"s3://{bucket}/audit/python/", env=env)
    assert done.returncode == 0, done.stderr
