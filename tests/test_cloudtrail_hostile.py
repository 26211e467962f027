"""Hostile CloudTrail trees: what the files name, how they are compressed, how much they hold.

Every tree is a real trail (``cloudtrail_tree``: digests signed with this module's RSA key),
changed only where the test says; digests that a test rewrites are signed again with the
same key, so that only the hostile part differs. The CLI runs as a subprocess, under an
address-space limit and a time limit (:func:`run_bounded`), so that a defect shows as a
failure rather than as an exhausted machine or a hung suite.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import cloudtrail_tree as ct
import pytest

ROOT = Path(__file__).resolve().parent.parent
START = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
HOURS = 6
RANGE = ("--start-time", "2026-11-02T00:00:00Z", "--end-time", "2026-11-02T06:00:00Z")
MIB = 1 << 20


def run_bounded(*args, timeout: float = 60, memory: int = 1536 * MIB):
    """The CLI under ``RLIMIT_AS`` of ``memory`` bytes: ``(completed process, peak RSS MiB)``.

    The peak is the child's own (``wait4``); a run past ``timeout`` seconds is killed and
    fails the test.
    """
    exe = Path(sys.executable).parent / "audit-analytics"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([str(exe), *map(str, args)], stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, preexec_fn=limit, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                pytest.fail(f"no answer within {timeout} s: {args}")
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(args, proc.returncode,
                                           out.read().decode("utf-8", "replace"),
                                           err.read().decode("utf-8", "replace"))
    return done, usage.ru_maxrss >> 10


def zeros_gzip(size: int) -> bytes:
    """One gzip member of ``size`` zero bytes (a multiple of 1 MiB), made in well under a second.

    Each MiB of zeros after a full flush compresses to the same bytes, so they are computed
    once and repeated; the trailer holds the real CRC-32 and length.
    """
    zeros = bytes(MIB)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    again = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.flush()
    crc = 0
    for _ in range(size // MIB):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return (header + first + again * (size // MIB - 1) + tail
            + struct.pack("<II", crc, size & 0xFFFFFFFF))


@pytest.fixture(scope="module")
def key():
    return ct.new_key(START - dt.timedelta(days=30), START + dt.timedelta(days=30))


@pytest.fixture(scope="module")
def built(key):
    return ct.build_trail(START, HOURS, [key])


@pytest.fixture
def keys_file(key, tmp_path):
    return ct.write_keys(tmp_path / "keys.json", [key])


@pytest.fixture
def root(built, tmp_path):
    return built.write(tmp_path / "trail")


def resign_newest(tree, root, key, change) -> str:
    """Change the newest digest's data (``change(data)``), sign it again, write it."""
    name = tree.digests[-1]
    data = ct.digest_data(tree, name)
    change(data)
    copy = ct.Tree(bucket=tree.bucket, files={})
    ct.resign(copy, name, data, key)
    (root / name).write_bytes(copy.files[name][0])
    (root / (name + ".metadata.json")).write_text(json.dumps(copy.files[name][1]))
    return name


def validate(root, keys_file, *extra, json_out=True):
    args = ["cloudtrail", "validate", root, "--public-keys", keys_file, *RANGE, *extra]
    proc, peak = run_bounded(*args, *(["--json", "-"] if json_out else []))
    doc = json.loads(proc.stdout) if json_out and proc.stdout.startswith("{") else None
    return proc, doc, peak


def findings(doc, kind=None):
    return [f for f in doc["findings"] if kind is None or f["kind"] == kind]


# --- a log file is exactly one gzip member ---------------------------------------------

@pytest.mark.parametrize("extra", [gzip.compress(b'{"Records": []}', mtime=0),
                                   gzip.compress(b"", mtime=0), b"\0" * 16],
                         ids=["second-member", "empty-member", "trailing-bytes"])
def test_data_after_the_gzip_member_is_invalid(cli, built, root, keys_file, extra):
    """What follows the gzip member is not what CloudTrail hashed: INVALID, read by no one.

    An empty second member leaves the uncompressed stream, and so its hash, unchanged:
    still INVALID, the file is not the one CloudTrail delivered.
    """
    path = root / built.logs[3]
    path.write_bytes(path.read_bytes() + extra)
    proc, doc, _ = validate(root, keys_file)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
    bad = findings(doc)
    assert [(f["kind"], f["file"]) for f in bad] == [("log_file_hash_mismatch", str(path))]
    assert bad[0]["detail"].startswith("invalid format: data after the end of the gzip stream")
    assert doc["log_files"]["invalid"] == 1
    assert doc["log_files"]["valid"] == len(built.logs) - 1
    proc, _, _ = validate(root, keys_file, json_out=False)
    assert f"Log file\t{path}\tINVALID: invalid format" in proc.stdout.splitlines()
    # the source reads it as validate judged it: refused, never a silent read of more or less
    proc = cli("check", root, "--public-keys", keys_file, *RANGE, "--json", "-")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert path.name in proc.stderr and "data after the end of the gzip stream" in proc.stderr


def test_appended_digest_member_is_invalid(built, root, keys_file):
    name = built.digests[2]
    path = root / name
    path.write_bytes(path.read_bytes() + gzip.compress(b"", mtime=0))
    proc, doc, _ = validate(root, keys_file)
    assert proc.returncode == 1 and proc.stderr == ""
    bad = findings(doc, "digest_signature_invalid")
    assert [f["file"] for f in bad] == [str(path)]
    assert bad[0]["detail"].startswith("invalid format: data after the end of the gzip stream")


# --- paths named by a file stay inside the tree and are regular files -------------------

def test_log_files_named_outside_the_tree_are_not_read(built, root, keys_file, key, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    names = ["AWSLogs/" + "../" * 40 + "etc/hostname", "/etc/hostname", "/dev/zero",
             "../fifo", "AWSLogs/../../fifo", "AWSLogs//x.json.gz", "AWSLogs/./x.json.gz"]

    def change(data):
        data["logFiles"] += [{"s3Bucket": built.bucket, "s3Object": n, "hashValue": "0" * 64}
                             for n in names]

    resign_newest(built, root, key, change)
    proc, doc, peak = validate(root, keys_file)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
    bad = findings(doc)
    assert len(bad) == len(names) and {f["kind"] for f in bad} == {"log_file_hash_mismatch"}
    assert all(f["detail"] == "not read: the digest names a path outside the location"
               for f in bad)
    assert doc["log_files"] == {"valid": len(built.logs), "invalid": len(names), "missing": 0,
                                "unlisted": 0, "not_checked": 0}
    proc, _, _ = validate(root, keys_file, json_out=False)
    refused = [line for line in proc.stdout.splitlines()
               if line.endswith("\tINVALID: not read: names a path outside the location")]
    assert len(refused) == len(names)


def test_listed_files_that_are_not_regular_files_inside_are_not_read(built, root, keys_file,
                                                                     tmp_path):
    outside = tmp_path / "secret.json.gz"
    outside.write_bytes((root / built.logs[0]).read_bytes())
    swaps = {built.logs[1]: lambda p: os.mkfifo(p),
             built.logs[2]: lambda p: p.symlink_to("/dev/zero"),
             built.logs[4]: lambda p: p.symlink_to(outside),
             built.logs[5]: lambda p: p.mkdir()}
    for name, swap in swaps.items():
        (root / name).unlink()
        swap(root / name)
    proc, doc, _ = validate(root, keys_file)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
    by_file = {f["file"]: f for f in findings(doc)}
    assert set(by_file) == {str(root / n) for n in swaps}
    assert "is a FIFO, not a regular file" in by_file[str(root / built.logs[1])]["detail"]
    assert "leads outside the location" in by_file[str(root / built.logs[2])]["detail"]
    assert "leads outside the location" in by_file[str(root / built.logs[4])]["detail"]
    assert "is a directory, not a regular file" in by_file[str(root / built.logs[5])]["detail"]
    # a link inside the tree to a regular file inside it is read
    (root / built.logs[4]).unlink()
    (root / built.logs[4]).symlink_to(root / built.logs[0])
    proc, doc, _ = validate(root, keys_file)
    assert str(root / built.logs[4]) in {f["file"] for f in findings(doc)}  # another hash
    assert "hash value doesn't match" in next(
        f["detail"] for f in findings(doc) if f["file"] == str(root / built.logs[4]))


def test_a_link_to_a_folder_outside_is_not_walked(built, root, keys_file):
    """Listing does not descend into ``AWSLogs/x -> /`` (nor into a loop to ``..``)."""
    (root / "AWSLogs" / "everything").symlink_to("/")
    (root / "AWSLogs" / ct.ACCOUNT / "loop").symlink_to("..")
    proc, doc, _ = validate(root, keys_file)
    assert proc.returncode == 0, proc.stderr
    assert doc["ok"] and doc["log_files"]["valid"] == len(built.logs)


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_signature_file_that_is_not_a_regular_file(built, root, keys_file, tmp_path, target):
    """A ``.metadata.json`` that is a device or a FIFO is not read (ignored, with a warning).

    The second newest digest is still checked against the signature its successor
    recorded; the newest has nothing else to check it with.
    """
    for name in built.digests[-2:]:
        meta = root / (name + ".metadata.json")
        meta.unlink()
        if target == "fifo":
            os.mkfifo(meta)
        else:
            meta.symlink_to(target)
    proc, doc, peak = validate(root, keys_file)
    assert proc.returncode == 1, proc.stderr
    assert doc["digests"] == {"valid": HOURS, "invalid": 0, "missing": 0, "unsigned": 1}
    assert not findings(doc)
    warnings = proc.stderr.splitlines()
    reason = "is a FIFO, not a regular file" if target == "fifo" else \
        "leads outside the location (to /dev/zero)"
    assert len(warnings) == 2 and all(reason in w and w.endswith("not read: ignored")
                                      for w in warnings), proc.stderr
    assert peak < 1024


def test_unsigned_digest_log_files_are_not_read_unless_accepted(cli, built, tmp_path,
                                                                keys_file):
    """A plain copy: nothing vouches for the newest digest's list until it is accepted."""
    root = built.write(tmp_path / "plain", signatures=False)
    newest = ct.digest_data(built, built.digests[-1])["logFiles"]
    tampered = root / newest[0]["s3Object"]
    tampered.write_bytes(gzip.compress(b'{"Records": []}'))
    proc, doc, _ = validate(root, keys_file)
    assert proc.returncode == 1 and proc.stderr == ""
    assert not findings(doc) and doc["digests"]["unsigned"] == 1
    assert doc["log_files"]["not_checked"] == len(newest)
    assert doc["log_files"]["valid"] == len(built.logs) - len(newest)
    proc, _, _ = validate(root, keys_file, json_out=False)
    assert (f"Log file\t{tampered}\tnot checked: its digest's signature was not checked"
            in proc.stdout.splitlines())
    assert f"{len(newest)} log file(s) not checked" in proc.stdout
    proc, doc, _ = validate(root, keys_file, "--allow-unsigned")
    assert proc.returncode == 1
    assert [(f["kind"], f["file"]) for f in findings(doc)] == [
        ("log_file_hash_mismatch", str(tampered))]
    assert doc["log_files"]["not_checked"] == 0


# --- gzip bombs: streamed, capped, memory bounded ---------------------------------------

def test_digest_bomb_is_refused_within_bounded_memory(built, root, keys_file):
    """3 MB inflating to 3 GiB: refused at the digest cap, far below a gigabyte."""
    name = built.digests[-1]
    (root / name).write_bytes(zeros_gzip(3 << 30))
    started = time.monotonic()
    proc, doc, peak = validate(root, keys_file)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
    bad = findings(doc, "digest_signature_invalid")
    assert [f["file"] for f in bad] == [str(root / name)]
    assert bad[0]["detail"] == ("invalid format: more than 16 MiB uncompressed, more than a "
                                "digest file can be")
    assert peak < 1024 and time.monotonic() - started < 30


def test_log_bomb_is_hashed_streaming(built, root, keys_file):
    """A log file of 512 KB inflating to 512 MiB is hashed in constant memory."""
    path = root / built.logs[4]
    path.write_bytes(zeros_gzip(512 << 20))
    proc, doc, peak = validate(root, keys_file)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
    bad = findings(doc)
    assert [(f["kind"], f["file"]) for f in bad] == [("log_file_hash_mismatch", str(path))]
    assert "hash value doesn't match" in bad[0]["detail"]
    assert peak < 400, f"peak RSS {peak} MiB"


def check_source(root, keys_file):
    return run_bounded("check", root, "--public-keys", keys_file, *RANGE, "--json", "-")


def test_log_bomb_is_refused_by_the_source(built, root, keys_file):
    """1 MB inflating to 1 GiB: the source stops at its cap, one line, exit 2."""
    path = root / built.logs[2]
    path.write_bytes(zeros_gzip(1 << 30))
    proc, peak = check_source(root, keys_file)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert path.name in proc.stderr
    assert "more than 32 MiB uncompressed (a log file is read as records up to 32 MiB)" \
        in proc.stderr
    assert peak < 1024, f"peak RSS {peak} MiB"


def test_dense_json_log_file_is_refused_by_the_source(built, root, keys_file):
    """30 MiB of ``{},`` would be 700 MB of Python objects, and 10 million rows."""
    path = root / built.logs[2]
    body = b"{}," * (10 * MIB)
    path.write_bytes(gzip.compress(b'{"Records": [' + body[:-1] + b"]}", 1))
    proc, peak = check_source(root, keys_file)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert path.name in proc.stderr
    assert ("10,485,762 JSON objects and arrays, more than the 2,097,152 read (one per 16 "
            "bytes of the 32 MiB cap)") in proc.stderr
    assert peak < 1024, f"peak RSS {peak} MiB"


def test_too_many_records_in_one_log_file(built, root, keys_file):
    path = root / built.logs[2]
    record = json.dumps({"eventName": "GetObject", "eventSource": "s3.amazonaws.com",
                         "eventID": "x" * 40})
    text = '{"Records": [' + ",".join([record] * 140_000) + "]}"
    path.write_bytes(gzip.compress(text.encode(), 1))
    proc, peak = check_source(root, keys_file)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "140,000 records, more than the 131,072 read from one log file" in proc.stderr


# --- the text output: tabs as validate-logs prints them, values escaped ------------------

def test_text_lines_are_tab_separated_and_values_escaped(built, root, keys_file, key):
    hostile = "AWSLogs/x\tforged\tvalid\nDigest file\tz\tvalid\x1b[2J.json.gz"

    def change(data):
        data["logFiles"].append({"s3Bucket": built.bucket, "s3Object": hostile,
                                 "hashValue": "0" * 64})
        data["previousDigestS3Bucket"] = "other\tbucket\n"

    name = resign_newest(built, root, key, change)
    proc, _, _ = validate(root, keys_file, json_out=False)
    assert proc.returncode == 1 and proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert f"Digest file\t{root / name}\tvalid" in lines
    assert (f"Digest file\t{root / name}\tprevious digest in bucket other\\tbucket\\n: not "
            "checked") in lines
    assert (f"Log file\t{root}/AWSLogs/x\\tforged\\tvalid\\nDigest file\\tz\\tvalid"
            f"\\x1b[2J.json.gz\tINVALID: not found") in lines
    assert all(line.count("\t") in (0, 2) for line in lines)
    assert not any(line.startswith(("forged", "Digest file\tz")) for line in lines)
    assert "\x1b" not in proc.stdout
    log = ct.digest_data(built, name)["logFiles"][0]["s3Object"]
    assert f"Log file\t{root / log}\tvalid" in lines


# --- missing digests: only hours whose digest is due -----------------------------------

@pytest.mark.parametrize("end", ["given", "now"])
def test_the_hour_in_progress_is_not_a_missing_digest(tmp_path, end):
    """Newest digest 3 h 45 min ago: three hours have ended since; the fourth has not."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    signer = ct.new_key(now - dt.timedelta(days=30), now + dt.timedelta(days=30))
    newest = now - dt.timedelta(hours=3, minutes=45)
    start = newest - HOURS * ct.HOUR - ct.OFFSET
    tree = ct.build_trail(start, HOURS, [signer])
    root = tree.write(tmp_path / "recent")
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps(ct.keys_document([signer])))
    window = ["--start-time", start.strftime("%Y-%m-%dT%H:%M:%SZ")]
    if end == "given":
        window += ["--end-time", (now - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")]
    proc, _ = run_bounded("cloudtrail", "validate", root, "--public-keys", keys_file, *window,
                          "--json", "-")
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["digests"]["missing"] == 3 and doc["digests"]["valid"] == HOURS
    [missing] = findings(doc, "digest_missing")
    last = (newest + 3 * ct.HOUR).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert missing["detail"].endswith(f"3 hourly digest file(s) missing, the last due at {last}")
