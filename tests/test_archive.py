"""Archives: keygen, archive, spot-check and verify DIR, through the real CLI on real files."""

import base64
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit_analytics.archive.spotcheck import choose
from audit_analytics.samples.activity import chain_table, chain_table_from

ROOT = Path(__file__).resolve().parent.parent
DAY_US = 86_400_000_000
START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


def events(n: int, days: int, first: int = 0) -> pa.Table:
    """``n`` unchained events spread evenly over ``days`` UTC days from 2026-01-01."""
    idx = np.arange(first, first + n)
    ts = START_US + idx * (days * DAY_US // n) + 7
    return pa.table({
        "id": [f"e-{i:08d}" for i in idx.tolist()],
        "timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "actor_id": [f"u{i % 7}" for i in idx.tolist()],
        "action": ["read"] * n,
        "resource_type": ["record"] * n,
        "resource_id": [f"r{i % 13}" for i in idx.tolist()],
        "result": ["success"] * n,
        "ip_address": ["10.0.0.1"] * n,
    })


def write(table: pa.Table, path: Path) -> Path:
    pq.write_table(table, path)
    return path


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """Keys and a 1,200-row chain over 12 days archived once; tests work on copies."""
    folder = tmp_path_factory.mktemp("pristine")
    cli = _run_cli()
    assert cli("keygen", "--out", folder / "k").returncode == 0
    src = write(chain_table(events(1200, 12)), folder / "src.parquet")
    out = cli("archive", src, "--to", folder / "arch", "--key", folder / "k.key", "--json", "-")
    assert out.returncode == 0, out.stderr
    return folder, json.loads(out.stdout)["manifest_head"]


def _run_cli():
    from conftest import run_cli

    return run_cli


@pytest.fixture
def keys(pristine, tmp_path):
    folder, _ = pristine
    for name in ("k.key", "k.pub"):
        shutil.copy2(folder / name, tmp_path / name)
    return tmp_path / "k.key", tmp_path / "k.pub"


@pytest.fixture
def archived(pristine, tmp_path, keys):
    """A copy of the pristine archive: (dir, source path, keys, head)."""
    folder, head = pristine
    shutil.copytree(folder / "arch", tmp_path / "arch")
    shutil.copy2(folder / "src.parquet", tmp_path / "src.parquet")
    return tmp_path / "arch", tmp_path / "src.parquet", keys, head


def manifest_lines(target: Path) -> list[bytes]:
    return (target / "manifest.jsonl").read_bytes().splitlines()


def check(cli, target, pub, *args):
    out = cli("spot-check", target, "--public-key", pub, "--json", "-", *args)
    assert out.returncode in (0, 1), out.stderr
    return out.returncode, json.loads(out.stdout)


def kinds(doc) -> set[str]:
    return {f["kind"] for f in doc["findings"]}


# --- keygen -----------------------------------------------------------------------------
def test_keygen_writes_pem_keys_private_0600_and_never_overwrites(cli, tmp_path):
    assert cli("keygen", "--out", tmp_path / "k").returncode == 0
    private, public = tmp_path / "k.key", tmp_path / "k.pub"
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert os.stat(private).st_mode & 0o777 == 0o600
    before = private.read_bytes(), public.read_bytes()
    again = cli("keygen", "--out", tmp_path / "k")
    assert again.returncode == 2
    assert "already exists" in one_line(again.stderr)
    assert (private.read_bytes(), public.read_bytes()) == before
    (tmp_path / "only.pub").write_text("x")  # half a pair present: still refused
    assert cli("keygen", "--out", tmp_path / "only").returncode == 2
    assert not (tmp_path / "only.key").exists()


# --- archive ----------------------------------------------------------------------------
def test_archive_writes_day_partitions_in_chain_order_with_one_signed_line_per_file(
        archived):
    target, src, (_, pub), head = archived
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*.parquet"))
    assert files == [f"date=2026-01-{d:02d}/part-000000.parquet" for d in range(1, 13)]
    lines = manifest_lines(target)
    assert len(lines) == 12
    assert head == hashlib.sha256(lines[-1]).hexdigest()
    original = pq.read_table(src)
    prev = "GENESIS"
    for seq, raw in enumerate(lines):
        entry = json.loads(raw)
        assert entry["seq"] == seq and entry["path"] == files[seq]
        data = (target / entry["path"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
        meta = pq.ParquetFile(target / entry["path"]).metadata
        assert meta.row_group(0).column(0).compression == "ZSTD"
        table = pq.read_table(target / entry["path"])
        assert entry["rows"] == table.num_rows == 100
        assert table.column("prev_hash")[0].as_py() == entry["first_prev_hash"] == prev
        hashes = table.column("hash").to_pylist()
        assert table.column("prev_hash").to_pylist()[1:] == hashes[:-1]  # chain order
        assert entry["last_hash"] == hashes[-1] and entry["last_id"] == table["id"][-1].as_py()
        assert entry["min_timestamp"].startswith(entry["path"][5:15])
        assert entry["profile"] == "python-seed"
        assert entry["prev_entry"] == ("" if seq == 0 else
                                       hashlib.sha256(lines[seq - 1]).hexdigest())
        prev = entry["last_hash"]
    archived_rows = pa.concat_tables(pq.read_table(target / f) for f in files)
    assert sorted(archived_rows.column("id").to_pylist()) == original.column("id").to_pylist()


def test_rows_stored_out_of_order_are_archived_in_chain_order(cli, tmp_path, keys):
    chained = chain_table(events(300, 3))
    shuffled = chained.take(pa.array(np.random.default_rng(3).permutation(300)))
    src = write(shuffled, tmp_path / "shuffled.parquet")
    out = cli("archive", src, "--to", tmp_path / "a", "--key", keys[0])
    assert out.returncode == 0, out.stderr
    for part in sorted((tmp_path / "a").rglob("*.parquet")):
        t = pq.read_table(part)
        assert t.column("prev_hash").to_pylist()[1:] == t.column("hash").to_pylist()[:-1]
    assert check(cli, tmp_path / "a", keys[1], "--all")[0] == 0


def test_rerun_appends_only_new_events_and_never_rewrites_a_file(cli, tmp_path, archived):
    target, _, (key, pub), head = archived
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in target.rglob("*.parquet")}
    same = cli("archive", tmp_path / "src.parquet", "--to", target, "--key", key, "--json", "-")
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["files_written"] == 0
    assert json.loads(same.stdout)["manifest_head"] == head
    # the log grew: 150 more events, from ten minutes before day 13 to day 15
    first = chain_table(events(1200, 12))
    more = events(150, 1, first=1200)
    ts = START_US + 12 * DAY_US - 600_000_000 + np.arange(150) * (DAY_US // 60)
    more = more.set_column(1, "timestamp", pa.array(ts, pa.timestamp("us", tz="UTC")))
    more, _ = chain_table_from(more, first.column("hash")[-1].as_py())
    grown = write(pa.concat_tables([first, more]), tmp_path / "grown.parquet")
    out = cli("archive", grown, "--to", target, "--key", key, "--json", "-")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["rows"] == 150
    assert doc["paths"][0] == "date=2026-01-12/part-000001.parquet"  # a new part, same day
    assert doc["files_written"] == len(doc["paths"]) == 4
    for path, (data, mtime) in before.items():
        assert path.read_bytes() == data and path.stat().st_mtime_ns == mtime
    lines = manifest_lines(target)
    assert len(lines) == 16 and doc["manifest_head"] == hashlib.sha256(lines[-1]).hexdigest()
    assert json.loads(lines[12])["first_prev_hash"] == json.loads(lines[11])["last_hash"]
    code, result = check(cli, target, pub, "--all", "--expect-head", head)
    assert code == 0, result["findings"]
    assert cli("reconcile", grown, target).returncode == 0


def test_month_partitions(cli, tmp_path, keys):
    src = write(chain_table(events(600, 75)), tmp_path / "s.parquet")
    out = cli("archive", src, "--to", tmp_path / "m", "--key", keys[0], "--partition", "month")
    assert out.returncode == 0, out.stderr
    assert sorted(p.parent.name for p in (tmp_path / "m").rglob("*.parquet")) == [
        "month=2026-01", "month=2026-02", "month=2026-03"]
    assert check(cli, tmp_path / "m", keys[1], "--all")[0] == 0


def test_archive_since_until_and_a_start_mid_chain_verifies(cli, tmp_path, keys):
    src = write(chain_table(events(1200, 12)), tmp_path / "s.parquet")
    out = cli("archive", src, "--to", tmp_path / "w", "--key", keys[0], "--since",
              "2026-01-04", "--until", "2026-01-06T00:00:00Z", "--json", "-")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rows"] == 200
    code, doc = check(cli, tmp_path / "w", keys[1], "--all")
    assert code == 0, doc["findings"]
    assert cli("verify", tmp_path / "w", "--public-key", keys[1]).returncode == 0


def test_archive_refuses_another_key_and_stray_files(cli, tmp_path, archived):
    target, src, _, _ = archived
    assert cli("keygen", "--out", tmp_path / "other").returncode == 0
    out = cli("archive", src, "--to", target, "--key", tmp_path / "other.key")
    assert out.returncode == 2 and "does not check out" in one_line(out.stderr)
    shutil.copy(target / "date=2026-01-01/part-000000.parquet",
                target / "date=2026-01-01/copy.parquet")
    out = cli("archive", src, "--to", target, "--key", archived[2][0])
    assert out.returncode == 2 and "no manifest entry lists" in one_line(out.stderr)


# --- the manifest format, checked with a few lines of one's own -------------------------
def test_the_readme_recipe_checks_a_manifest(archived):
    target, _, (_, pub), head = archived
    readme = (ROOT / "README.md").read_text()
    recipe = re.search(r"<!-- manifest-recipe -->\n```python\n(.*?)```", readme, re.S).group(1)
    namespace = {"MANIFEST": str(target / "manifest.jsonl"), "PUBLIC_KEY": str(pub)}
    exec(compile(recipe, "README recipe", "exec"), namespace)  # noqa: S102
    assert namespace["head"] == head
    # the recipe's own checks fail on a changed line
    lines = manifest_lines(target)
    entry = json.loads(lines[3])
    entry["rows"] += 1
    lines[3] = json.dumps(entry, separators=(",", ":")).encode()
    (target / "manifest.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(Exception):  # noqa: B017 - InvalidSignature or AssertionError
        exec(compile(recipe, "README recipe", "exec"), dict(namespace))  # noqa: S102


def test_signature_covers_the_sorted_compact_object(archived):
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    target, _, (_, pub), _ = archived
    key = load_pem_public_key(pub.read_bytes())
    entry = json.loads(manifest_lines(target)[0])
    signature = base64.b64decode(entry.pop("signature"))
    key.verify(signature, json.dumps(entry, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode())
    raw = key.public_bytes(*_raw())
    assert entry["key_id"] == hashlib.sha256(raw).hexdigest()[:16]


def _raw():
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.Raw, serialization.PublicFormat.Raw


# --- spot-check -------------------------------------------------------------------------
def test_spot_check_samples_by_seed_and_states_its_detection_probability(cli, archived):
    target, _, (_, pub), head = archived
    code, a = check(cli, target, pub, "--sample", "3", "--seed", "42", "--expect-head", head)
    assert code == 0, a["findings"]
    _, b = check(cli, target, pub, "--sample", "3", "--seed", "42")
    assert a["sampled"] == b["sampled"] and len(a["sampled"]) == 3
    other = next(s for s in range(100) if choose(12, 3, s) != choose(12, 3, 42))
    _, c = check(cli, target, pub, "--sample", "3", "--seed", str(other))
    assert c["sampled"] != a["sampled"]
    assert a["sampled"] == [f"date=2026-01-{i + 1:02d}/part-000000.parquet"
                            for i in choose(12, 3, 42)]
    assert a["partitions"] == 12
    assert a["detection_probability"] == pytest.approx(3 / 12)
    assert a["sample_for_95"] == 12 and a["sample_for_99"] == 12
    assert a["manifest"]["entries"] == 12 and a["manifest"]["head"] == head
    assert a["manifest"]["signatures"] == 12
    assert a["rows"] == 300
    _, everything = check(cli, target, pub, "--all")
    assert everything["detection_probability"] == 1.0 and everything["rows"] == 1200


def test_a_sample_holding_a_tampered_file_finds_it(cli, archived):
    target, _, (_, pub), _ = archived
    victim = target / "date=2026-01-05/part-000000.parquet"
    t = pq.read_table(victim)
    actions = t.column("action").to_pylist()
    actions[10] = "export"
    pq.write_table(t.set_column(t.schema.get_field_index("action"), "action",
                                pa.array(actions)), victim)
    hit = next(s for s in range(1000) if 4 in choose(12, 2, s))
    miss = next(s for s in range(1000) if 4 not in choose(12, 2, s))
    code, doc = check(cli, target, pub, "--sample", "2", "--seed", str(miss))
    assert code == 0  # a sample without it cannot see it: the stated 1 - K/N
    code, doc = check(cli, target, pub, "--sample", "2", "--seed", str(hit))
    assert code == 1
    assert {"file_digest_mismatch", "hash_mismatch"} <= kinds(doc)
    bad = [f for f in doc["findings"] if f["kind"] == "hash_mismatch"]
    assert bad[0]["path"] == "date=2026-01-05/part-000000.parquet"
    assert bad[0]["id"] == t.column("id")[10].as_py()


def test_missing_and_unlisted_files(cli, archived):
    target, _, (_, pub), _ = archived
    (target / "date=2026-01-07/part-000000.parquet").unlink()
    shutil.copy(target / "date=2026-01-02/part-000000.parquet",
                target / "date=2026-01-02/part-000001.parquet")
    code, doc = check(cli, target, pub, "--all")
    assert code == 1
    by_kind = {f["kind"]: f for f in doc["findings"]}
    assert by_kind["missing_file"]["path"] == "date=2026-01-07/part-000000.parquet"
    assert by_kind["unlisted_file"]["path"] == "date=2026-01-02/part-000001.parquet"


def test_a_rewritten_manifest_line_and_a_removed_line(cli, archived):
    target, _, (_, pub), _ = archived
    lines = manifest_lines(target)
    entry = json.loads(lines[4])
    entry["rows"] = 99
    lines[4] = json.dumps(entry, separators=(",", ":")).encode()
    (target / "manifest.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    code, doc = check(cli, target, pub, "--sample", "1", "--seed", "1")
    assert code == 1
    bad = [f for f in doc["findings"] if f["kind"] == "bad_signature"]
    assert [f["path"] for f in bad] == [entry["path"]]
    broken = [f for f in doc["findings"] if f["kind"] == "manifest_broken"]
    assert [f["line"] for f in broken] == [6]  # the next line's prev_entry no longer matches
    del lines[8]
    (target / "manifest.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    _, doc = check(cli, target, pub, "--sample", "1", "--seed", "1")
    assert {f["line"] for f in doc["findings"] if f["kind"] == "manifest_broken"} >= {6, 9}


def test_a_manifest_line_that_is_not_json_is_a_finding(cli, archived):
    target, _, (_, pub), _ = archived
    lines = manifest_lines(target)
    lines.insert(2, b"{not json")
    (target / "manifest.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    code, doc = check(cli, target, pub, "--sample", "2", "--seed", "0")
    assert code == 1
    assert any(f["kind"] == "manifest_broken" and f["line"] == 3
               and "not JSON" in f["reason"] for f in doc["findings"])


def test_a_deleted_tail_needs_the_head_kept_elsewhere(cli, archived):
    target, _, (_, pub), head = archived
    lines = manifest_lines(target)
    for raw in lines[-3:]:
        (target / json.loads(raw)["path"]).unlink()
    (target / "manifest.jsonl").write_bytes(b"\n".join(lines[:-3]) + b"\n")
    code, doc = check(cli, target, pub, "--all")
    assert code == 0  # a prefix of a signed manifest is a signed manifest: the chain's limit
    code, doc = check(cli, target, pub, "--all", "--expect-head", head)
    assert code == 1 and kinds(doc) == {"truncated"}
    out = cli("verify", target, "--public-key", pub, "--expect-head", head, "--json", "-")
    assert out.returncode == 1 and "truncated" in kinds(json.loads(out.stdout))


def test_another_archives_public_key_finds_every_signature_bad(cli, tmp_path, archived):
    target, _, _, _ = archived
    assert cli("keygen", "--out", tmp_path / "other").returncode == 0
    code, doc = check(cli, target, tmp_path / "other.pub", "--sample", "1", "--seed", "3")
    assert code == 1
    bad = [f for f in doc["findings"] if f["kind"] == "bad_signature"]
    assert len(bad) == 12 and "another archive's key" in bad[0]["reason"]


def test_a_gap_the_source_had_at_a_partition_boundary_is_its_missing_predecessor(
        cli, tmp_path, keys):
    chained = chain_table(events(600, 6))
    first_of_day_4 = 300
    src = write(pa.concat_tables([chained.slice(0, first_of_day_4),
                                  chained.slice(first_of_day_4 + 1)]), tmp_path / "gap.parquet")
    assert cli("archive", src, "--to", tmp_path / "g", "--key", keys[0]).returncode == 0
    entry = next(json.loads(x) for x in manifest_lines(tmp_path / "g")
                 if json.loads(x)["path"] == "date=2026-01-04/part-000000.parquet")
    assert entry["first_prev_at"] == "missing"  # recorded when archived
    source = json.loads(cli("verify", src, "--json", "-").stdout)
    expected = sorted((f["kind"], f["id"]) for f in source["findings"])
    assert expected == [("missing_predecessor", chained.column("id")[301].as_py())]
    for args in (("--all",), ("--sample", "1", "--seed", "0"), ("--sample", "6")):
        code, doc = check(cli, tmp_path / "g", keys[1], *args)
        assert sorted((f["kind"], f.get("id")) for f in doc["findings"]) == (
            expected if entry["path"] in doc["sampled"] else [])
        assert code == (1 if entry["path"] in doc["sampled"] else 0)
    # no boundary_mismatch: the manifest says where the run links, and it holds


def test_a_manifest_whose_links_disagree_with_its_rows_is_a_boundary_mismatch(cli, archived):
    target, _, (_, pub), _ = archived
    lines = manifest_lines(target)
    entry = json.loads(lines[3])
    entry["first_prev_hash"] = "0" * 64  # what the entry says its first row links to
    lines[3] = json.dumps(entry, separators=(",", ":")).encode()
    (target / "manifest.jsonl").write_bytes(b"".join(x + b"\n" for x in lines))
    out = cli("verify", target, "--json", "-")  # no key: the edit is not a bad signature
    doc = json.loads(out.stdout)
    found = [f for f in doc["findings"] if f["kind"] == "boundary_mismatch"]
    assert out.returncode == 1 and [f["path"] for f in found] == [entry["path"]]
    assert found[0]["found"] == "0" * 64


def test_a_file_that_is_not_parquet_is_a_finding(cli, archived):
    target, _, (_, pub), _ = archived
    (target / "date=2026-01-03/part-000000.parquet").write_text("not parquet at all\n")
    other = target / "date=2026-01-09/part-000000.parquet"
    pq.write_table(pq.read_table(other).drop_columns(["hash"]), other)  # Parquet, no chain
    code, doc = check(cli, target, pub, "--all")
    assert code == 1
    assert {"file_digest_mismatch", "unreadable_file"} <= kinds(doc)
    unreadable = sorted(f["path"] for f in doc["findings"] if f["kind"] == "unreadable_file")
    assert unreadable == ["date=2026-01-03/part-000000.parquet",
                          "date=2026-01-09/part-000000.parquet"]
    assert doc["rows"] == 1000


@pytest.mark.parametrize("case", ["no_manifest", "no_folder", "bad_key", "private_as_public",
                                  "bad_head", "sample_and_all"])
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path, archived, case):
    target, _, (key, pub), _ = archived
    args = [target, "--public-key", pub]
    if case == "no_manifest":
        (target / "manifest.jsonl").unlink()
    elif case == "no_folder":
        args[0] = tmp_path / "nowhere"
    elif case == "bad_key":
        (tmp_path / "bad.pub").write_text("hello\n")
        args[2] = tmp_path / "bad.pub"
    elif case == "private_as_public":
        args[2] = key
    elif case == "bad_head":
        args += ["--expect-head", "xyz"]
    else:
        args += ["--sample", "2", "--all"]
    out = cli("spot-check", *args)
    assert out.returncode == 2, out.stdout + out.stderr
    one_line(out.stderr)


def test_archive_bad_input(cli, tmp_path, archived):
    target, src, (key, pub), _ = archived
    (tmp_path / "junk.key").write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n")
    for args in ([src, "--to", tmp_path / "x", "--key", tmp_path / "junk.key"],
                 [src, "--to", tmp_path / "x", "--key", pub],
                 [src, "--to", tmp_path / "x", "--key", tmp_path / "absent.key"],
                 [src, "--to", tmp_path / "x", "--key", key, "--since", "yesterday"]):
        out = cli("archive", *args)
        assert out.returncode == 2, out.stdout + out.stderr
        one_line(out.stderr)
    assert not (tmp_path / "x" / "manifest.jsonl").exists()


# --- verify DIR -------------------------------------------------------------------------
def test_verify_dir_a_deleted_partition(cli, archived):
    target, _, (_, pub), _ = archived
    (target / "date=2026-01-06/part-000000.parquet").unlink()
    out = cli("verify", target, "--public-key", pub, "--json", "-")
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert {"missing_file", "missing_predecessor"} <= kinds(doc)
    gap = [f for f in doc["findings"] if f["kind"] == "missing_predecessor"]
    assert [f["path"] for f in gap] == ["date=2026-01-07/part-000000.parquet"]


def test_verify_dir_a_rewritten_suffix(cli, archived):
    target, _, (_, pub), _ = archived
    lines = [json.loads(x) for x in manifest_lines(target)]
    prev = lines[9]["first_prev_hash"]
    for e in lines[9:]:  # the last three days re-hashed: every link still holds
        t = pq.read_table(target / e["path"]).drop_columns(["prev_hash", "hash"])
        t = t.set_column(t.schema.get_field_index("action"), "action",
                         pa.array(["delete"] * t.num_rows))
        rechained, prev = chain_table_from(t, prev)
        pq.write_table(rechained, target / e["path"])
    assert cli("verify", target / "date=*" / "*.parquet").returncode == 0  # links hold
    out = cli("verify", target, "--public-key", pub, "--json", "-")
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert [f["path"] for f in doc["findings"] if f["kind"] == "file_digest_mismatch"] == [
        e["path"] for e in lines[9:]]
    assert len([f for f in doc["findings"] if f["kind"] == "anchor_mismatch"]) == 3


def test_verify_dir_matches_verify_of_the_same_files(cli, archived):
    target, _, (_, pub), _ = archived
    victim = target / "date=2026-01-08/part-000000.parquet"
    t = pq.read_table(victim)
    keep = [i for i in range(t.num_rows) if i != 40]
    pq.write_table(t.take(pa.array(keep)), victim)
    plain = json.loads(cli("verify", target / "date=*" / "*.parquet", "--json", "-").stdout)
    out = cli("verify", target, "--public-key", pub, "--json", "-")
    doc = json.loads(out.stdout)
    row_level = [(f["kind"], f["id"]) for f in doc["findings"]
                 if f["kind"] in plain["counts"]]
    assert sorted(row_level) == sorted((f["kind"], f["id"]) for f in plain["findings"])
    assert doc["rows"] == plain["rows"] == 1199


def test_verify_dir_without_key_leaves_signatures_unchecked(cli, archived):
    target, _, _, _ = archived
    out = cli("verify", target, "--json", "-")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["manifest"]["signatures_checked"] is False
    assert "NOT checked" in cli("verify", target).stdout


# --- reconcile --------------------------------------------------------------------------
def test_reconcile_lists_differences_and_per_day_counts(cli, tmp_path, archived):
    target, src, _, _ = archived
    t = pq.read_table(src)
    hashes = t.column("hash").to_pylist()
    hashes[5] = "0" * 64
    changed = t.set_column(t.schema.get_field_index("hash"), "hash", pa.array(hashes))
    changed = changed.take(pa.array([i for i in range(1200) if i != 700]))
    extra = chain_table(events(1, 1, first=5000))
    b = write(pa.concat_tables([changed, extra]), tmp_path / "b.parquet")
    out = cli("reconcile", target, b, "--json", "-")
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert doc["counts"] == {"missing_in_b": 1, "missing_in_a": 1, "hash_differs": 1,
                             "content_differs": 0}
    assert {(d["kind"], d["id"]) for d in doc["differences"]} == {
        ("hash_differs", "e-00000005"), ("missing_in_b", "e-00000700"),
        ("missing_in_a", "e-00005000")}
    day7 = next(d for d in doc["days"] if d["day"] == "2026-01-08")
    assert day7 == {"day": "2026-01-08", "a": 100, "b": 99}
    window = cli("reconcile", target, b, "--since", "2026-01-09", "--until", "2026-01-13",
                 "--json", "-")
    assert window.returncode == 0, window.stdout
    assert json.loads(window.stdout)["rows_a"] == 400


def test_reconcile_lists_the_first_thousand_differences(cli, tmp_path, archived):
    target, src, _, _ = archived
    b = write(pq.read_table(src).slice(0, 10), tmp_path / "b.parquet")
    doc = json.loads(cli("reconcile", src, b, "--json", "-").stdout)
    assert doc["counts"]["missing_in_b"] == 1190 and len(doc["differences"]) == 1000
    assert doc["differences"][0]["id"] == "e-00000010"
    bad = cli("reconcile", src, tmp_path / "absent.parquet")
    assert bad.returncode == 2
    one_line(bad.stderr)


@pytest.mark.parametrize("sample", ["python_seed/tampered/all.parquet",
                                    "node_seed/tampered/all.parquet"])
def test_an_archive_of_a_tampered_log_reports_what_verify_of_the_log_reports(
        cli, tmp_path, keys, samples, sample):
    plain = json.loads(cli("verify", samples / sample, "--json", "-").stdout)
    assert not plain["ok"]
    assert cli("archive", samples / sample, "--to", tmp_path / "t", "--key", keys[0]
               ).returncode == 0
    out = cli("verify", tmp_path / "t", "--public-key", keys[1], "--workers", "2",
              "--json", "-")
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    row_level = sorted((f["kind"], f["id"]) for f in doc["findings"]
                       if f["kind"] in plain["counts"])
    assert row_level == sorted((f["kind"], f["id"]) for f in plain["findings"])
    # what the archive adds is only where the log itself breaks across two days
    extra = {f["kind"] for f in doc["findings"] if f["kind"] not in plain["counts"]}
    assert extra <= {"boundary_mismatch"}
    assert doc["rows"] == plain["rows"]
    one = json.loads(cli("verify", tmp_path / "t", "--public-key", keys[1], "--json", "-").stdout)
    assert one["findings"] == doc["findings"]  # --workers changes nothing found
