"""Archives in object storage: archive --to s3://... and spot-check s3://... on a moto server."""

import json

import pyarrow.parquet as pq
from test_archive import chain_table, events, write


def test_archive_to_s3_spot_check_and_tampering(cli, s3, tmp_path):
    assert cli("keygen", "--out", tmp_path / "k").returncode == 0
    key, pub = tmp_path / "k.key", tmp_path / "k.pub"
    src = write(chain_table(events(500, 5)), tmp_path / "src.parquet")
    bucket = s3.bucket()
    target = f"s3://{bucket}/audit"
    out = cli("archive", src, "--to", target, "--key", key, "--json", "-")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["files_written"] == 5
    client = s3.client()
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == [f"audit/date=2026-01-0{d}/part-000000.parquet" for d in range(1, 6)] + [
        "audit/manifest.jsonl"]
    ok = cli("spot-check", target, "--public-key", pub, "--all", "--expect-head",
             doc["manifest_head"], "--json", "-")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["rows"] == 500
    again = cli("archive", src, "--to", target, "--key", key, "--json", "-")
    assert again.returncode == 0 and json.loads(again.stdout)["files_written"] == 0
    # an object replaced behind the archive's back
    victim = "audit/date=2026-01-03/part-000000.parquet"
    local = tmp_path / "victim.parquet"
    local.write_bytes(client.get_object(Bucket=bucket, Key=victim)["Body"].read())
    t = pq.read_table(local)
    pq.write_table(t.slice(0, 50), local)
    client.put_object(Bucket=bucket, Key=victim, Body=local.read_bytes())
    bad = cli("spot-check", target, "--public-key", pub, "--all", "--json", "-")
    assert bad.returncode == 1, bad.stderr
    found = {f["kind"]: f for f in json.loads(bad.stdout)["findings"]}
    assert found["file_digest_mismatch"]["path"] == "date=2026-01-03/part-000000.parquet"
    assert "missing_predecessor" in found
    missing = cli("spot-check", f"s3://{bucket}/nothing", "--public-key", pub)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
