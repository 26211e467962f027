"""Hostile CloudTrail trees: what the files name, how they are compressed, how much they hold.

Every tree is a real trail (``cloudtrail_tree``: digests signed with this module's RSA key),
changed only where the test says; digests that a test rewrites are signed again with the
same key, so that only the hostile part differs. The CLI runs as a subprocess, under an
address-space limit and a time limit (:func:`run_bounded`), so that a defect shows as a
failure rather than as an exhausted machine or a hung suite.
"""

from __future__ import annotations

import datetime as dt
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
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(ct.keys_document([key])))
    return path


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
