"""One corpus of tamperings, generated and deterministic, for every path that gives a verdict.

A *case* is a source (a Parquet file of one producer's chain, tampered or not) and a signed
archive (written from the source by ``archive``, then perhaps tampered itself), with the
manifest head kept from the archive run and the archive's public key:

- **row-level** cases damage the source's rows before they are archived (the archive holds
  them faithfully): alter, delete the first/a middle/the last row, insert, fork, duplicate a
  row or an id, a second genesis, re-hash a suffix, reorder, NULL id/hash/timestamp/
  prev_hash, a timestamp regression; for each built-in producer profile;
- **archive-level** cases damage the archive after a clean source was archived: a part file
  altered, a row deleted from one, a file deleted, replaced by another archive's file, a
  hidden or ``_``-named extra file, a manifest line removed, reordered or duplicated, the
  manifest re-signed with another key, its tail truncated.

``expect_ok`` says whether a complete verification finds nothing; ``expect_kinds`` the
finding kinds it must report (the agreement test checks that every path agrees with it and
with each other).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from audit_analytics.samples import node_seed, python_seed
from audit_analytics.samples.events import generate_events, new_uuid, random_event

START = datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
DAYS = 6
ROWS = 180
COLUMNS = ("id", "timestamp", "actor_id", "actor_type", "action", "resource_type",
           "resource_id", "result", "ip_address", "user_agent", "session_id", "prev_hash",
           "hash")
PRODUCERS = {"python-seed": python_seed, "node-seed": node_seed}


@dataclass
class Case:
    """One tampering, ready to judge."""

    name: str
    level: str            # "row" or "archive"
    profile: str
    source: Path          # the (tampered) source the archive was written from
    archive: Path
    public_key: Path
    head: str             # the manifest head kept from the archive run
    expect_ok: bool
    expect_kinds: set[str] = field(default_factory=set)
    # whether the archive holds exactly the source's events (reconcile says "same")
    same_events: bool = True


# --- chains -----------------------------------------------------------------------------
def clean_chain(profile: str, seed: int = 11) -> list[dict]:
    """A clean chain of :data:`ROWS` events over :data:`DAYS` UTC days, in chain order."""
    gap = DAYS * 86_400 / ROWS
    events = generate_events(ROWS, seed=seed, start=START, mean_gap_seconds=gap * 0.9)
    return PRODUCERS[profile].chain(events)


def to_table(rows: list[dict]) -> pa.Table:
    """Rows as Parquet columns (timestamps microseconds UTC, NULLs kept)."""
    return pa.table({c: pa.array([r.get(c) for r in rows],
                                 pa.timestamp("us", tz="UTC") if c == "timestamp"
                                 else pa.string()) for c in COLUMNS})


def _forge(profile: str, rng: random.Random, prev: str, when: datetime,
           row_id: str | None = None) -> dict:
    row = random_event(rng, when)
    row["id"] = row_id or new_uuid(rng)
    if profile == "node-seed":  # that producer keeps milliseconds
        row["timestamp"] = when.replace(microsecond=when.microsecond // 1000 * 1000)
    row["prev_hash"] = prev
    row["hash"] = PRODUCERS[profile].compute_hash(row)
    return row


def _rehash(profile: str, row: dict) -> None:
    row["hash"] = PRODUCERS[profile].compute_hash(row)


# --- row-level tamperings: (rows in chain order) -> rows as stored, expected kinds ----------
def _row_cases(profile: str) -> dict:
    rng = random.Random(f"corpus:{profile}")
    mid = ROWS // 2

    def alter(rows):
        rows[mid]["action"] = "export" if rows[mid]["action"] != "export" else "delete"
        return rows, False, {"hash_mismatch"}

    def delete_first(rows):
        return rows[1:], False, {"missing_predecessor"}

    def delete_middle(rows):
        return rows[:mid] + rows[mid + 1:], False, {"missing_predecessor"}

    def delete_last(rows):  # no anchor kept: a chain cannot show a deleted tail
        return rows[:-1], True, set()

    def insert(rows):
        p = rows[mid - 20]
        forged = _forge(profile, rng, p["hash"], p["timestamp"] + timedelta(milliseconds=3))
        return rows + [forged], False, {"fork"}

    def fork(rows):
        p, out = rows[mid + 10], list(rows)
        prev = p["hash"]
        for k in range(3):
            forged = _forge(profile, rng, prev, p["timestamp"] + timedelta(minutes=5 + k))
            out.append(forged)
            prev = forged["hash"]
        return out, False, {"fork"}

    def duplicate_copy(rows):
        return rows + [dict(rows[mid - 30])], False, {"duplicate_id"}

    def duplicate_id(rows):
        tip = rows[-1]
        forged = _forge(profile, rng, tip["hash"], tip["timestamp"] + timedelta(seconds=1),
                        row_id=rows[mid]["id"])
        return rows + [forged], False, {"duplicate_id"}

    def re_genesis(rows):
        at = rows[mid + 25]
        forged = _forge(profile, rng, "GENESIS", at["timestamp"] + timedelta(milliseconds=2))
        return rows + [forged], False, {"extra_genesis"}

    def rehash_suffix(rows):  # undetectable without an anchor kept elsewhere
        rows[-4]["actor_id"] = "u-9999"
        _rehash(profile, rows[-4])
        for a, b in zip(rows[-4:], rows[-3:]):
            b["prev_hash"] = a["hash"]
            _rehash(profile, b)
        return rows, True, set()

    def reorder(rows):
        out = list(rows)
        random.Random(5).shuffle(out)
        return out, True, set()

    def null_id(rows):
        rows[mid]["id"] = None
        return rows, False, {"malformed"}

    def null_hash(rows):
        rows[mid]["hash"] = None
        return rows, False, {"malformed", "missing_predecessor"}

    def null_timestamp(rows):
        rows[mid]["timestamp"] = None
        return rows, False, {"malformed"}

    def null_prev_hash(rows):
        rows[mid]["prev_hash"] = None
        return rows, False, {"malformed"}

    def timestamp_regression(rows):
        tip = rows[-1]
        forged = _forge(profile, rng, tip["hash"], tip["timestamp"] - timedelta(minutes=30))
        return rows + [forged], False, {"timestamp_regression"}

    return {f.__name__: f for f in (
        alter, delete_first, delete_middle, delete_last, insert, fork, duplicate_copy,
        duplicate_id, re_genesis, rehash_suffix, reorder, null_id, null_hash, null_timestamp,
        null_prev_hash, timestamp_regression)}


# --- archive-level tamperings: (archive folder, helpers) -> expected kinds, same events -----
def _parts(archive: Path) -> list[str]:
    return [json.loads(x)["path"] for x in (archive / "manifest.jsonl").read_bytes().splitlines()]


def _rewrite(path: Path, change) -> None:
    table = pq.read_table(path)
    rows = change(table.to_pylist())
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)


def _resign(archive: Path, key_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from audit_analytics.archive.keys import key_id
    from audit_analytics.archive.manifest import signing_bytes

    key = load_pem_private_key(key_path.read_bytes(), None)
    lines, prev = [], None
    for raw in (archive / "manifest.jsonl").read_bytes().splitlines():
        entry = json.loads(raw)
        entry["prev_entry"] = "" if prev is None else hashlib.sha256(prev).hexdigest()
        entry["key_id"] = key_id(key.public_key())
        entry.pop("signature")
        entry["signature"] = base64.b64encode(key.sign(signing_bytes(entry))).decode()
        prev = json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode()
        lines.append(prev)
    (archive / "manifest.jsonl").write_bytes(b"".join(x + b"\n" for x in lines))


def _archive_cases(profile: str, other_archive: Path, attacker_key: Path) -> dict:
    rng = random.Random(f"corpus-archive:{profile}")

    def file_altered(a: Path, chain):
        def change(rows):
            rows[3]["action"] = "export" if rows[3]["action"] != "export" else "delete"
            return rows
        _rewrite(a / _parts(a)[2], change)
        return {"file_digest_mismatch", "hash_mismatch"}, False

    def file_row_deleted(a: Path, chain):
        _rewrite(a / _parts(a)[2], lambda rows: rows[:5] + rows[6:])
        return {"file_digest_mismatch", "missing_predecessor"}, False

    def file_deleted(a: Path, chain):
        (a / _parts(a)[3]).unlink()
        return {"missing_file", "missing_predecessor"}, False

    def file_replaced(a: Path, chain):
        rel = _parts(a)[1]
        shutil.copyfile(other_archive / rel, a / rel)
        return {"file_digest_mismatch"}, False

    def hidden_file(a: Path, chain):
        tip = chain[-1]
        forged = _forge(profile, rng, tip["hash"], tip["timestamp"] + timedelta(seconds=1))
        folder = a / _parts(a)[-1].rsplit("/", 1)[0]
        pq.write_table(to_table([forged]), folder / ".part-000001.parquet")
        return {"unlisted_file"}, False

    def underscore_folder(a: Path, chain):
        tip = chain[-1]
        forged = _forge(profile, rng, tip["hash"], tip["timestamp"] + timedelta(seconds=2))
        (a / "_staging").mkdir()
        pq.write_table(to_table([forged]), a / "_staging" / "part-000000.parquet")
        return {"unlisted_file"}, False

    def manifest_line_removed(a: Path, chain):
        lines = (a / "manifest.jsonl").read_bytes().splitlines()
        del lines[2]
        (a / "manifest.jsonl").write_bytes(b"".join(x + b"\n" for x in lines))
        return {"manifest_broken", "unlisted_file"}, True

    def manifest_lines_reordered(a: Path, chain):
        lines = (a / "manifest.jsonl").read_bytes().splitlines()
        lines[1], lines[2] = lines[2], lines[1]
        (a / "manifest.jsonl").write_bytes(b"".join(x + b"\n" for x in lines))
        return {"manifest_broken"}, True

    def manifest_line_duplicated(a: Path, chain):
        lines = (a / "manifest.jsonl").read_bytes().splitlines()
        lines.insert(3, lines[2])
        (a / "manifest.jsonl").write_bytes(b"".join(x + b"\n" for x in lines))
        return {"manifest_broken"}, True

    def manifest_resigned(a: Path, chain):
        _resign(a, attacker_key)
        return {"bad_signature"}, True

    def tail_truncated(a: Path, chain):
        lines = (a / "manifest.jsonl").read_bytes().splitlines()
        last = json.loads(lines[-1])["path"]
        (a / last).unlink()
        (a / "manifest.jsonl").write_bytes(b"".join(x + b"\n" for x in lines[:-1]))
        return {"truncated"}, False

    return {f.__name__: f for f in (
        file_altered, file_row_deleted, file_deleted, file_replaced, hidden_file,
        underscore_folder, manifest_line_removed, manifest_lines_reordered,
        manifest_line_duplicated, manifest_resigned, tail_truncated)}


# --- the corpus ---------------------------------------------------------------------------
def _archive(source: Path, target: Path, key: Path) -> str:
    from audit_analytics.archive.writer import archive_source

    return archive_source(source, str(target), str(key), progress=False).manifest_head


def build(folder: Path, profiles=tuple(PRODUCERS)) -> list[Case]:
    """Write every case under ``folder`` (sources, archives, keys) and describe them."""
    folder.mkdir(parents=True, exist_ok=True)
    from audit_analytics.archive.keys import generate_keys

    for name in ("k", "attacker"):
        generate_keys(folder / name)
    key, pub = folder / "k.key", folder / "k.pub"
    cases: list[Case] = []
    for profile in profiles:
        chain = clean_chain(profile)
        base = folder / profile
        base.mkdir()
        clean = base / "clean.parquet"
        pq.write_table(to_table(chain), clean)
        pristine = base / "clean.archive"
        head = _archive(clean, pristine, key)
        cases.append(Case("clean", "row", profile, clean, pristine, pub, head, True))
        for name, tamper in _row_cases(profile).items():
            rows, ok, kinds = tamper(copy.deepcopy(chain))
            src = base / f"{name}.parquet"
            pq.write_table(to_table(rows), src)
            target = base / f"{name}.archive"
            cases.append(Case(name, "row", profile, src, target, pub,
                              _archive(src, target, key), ok, kinds))
        if profile != profiles[0]:
            continue  # damage done to an archive is the same whichever producer wrote it
        other_src = base / "other.parquet"
        pq.write_table(to_table(clean_chain(profile, seed=12)), other_src)
        _archive(other_src, base / "other.archive", key)
        for name, tamper in _archive_cases(profile, base / "other.archive",
                                           folder / "attacker.key").items():
            target = base / f"{name}.archive"
            shutil.copytree(pristine, target)
            kinds, same = tamper(target, chain)
            cases.append(Case(name, "archive", profile, clean, target, pub, head, False,
                              kinds, same_events=same))
    return cases
