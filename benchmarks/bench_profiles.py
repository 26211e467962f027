"""Custom profiles against the built-in one, on the same events, in one run.

    python benchmarks/bench_profiles.py [--rows 1000000] [--repeat 2]

The same events (the python-seed archive of ``bench_verify.py``, cached under
benchmarks/_data/) are chained three ways, each by its own producer:

* ``python-seed``: the seed's Python logger (the built-in profile, the baseline);
* ``trigger``: a database trigger's delimited text (``prev || '|' || timestamp || ...``),
  SHA-256 hex, columns named its own way: a ``text = "sql"`` profile with ``columns``;
* ``trigger-hmac``: the same text under HMAC-SHA256, stored as base64;
* ``concat-sha512``: a plain concatenation (epoch milliseconds + fields), SHA-512 hex.

Each is verified in process (``AuditLog.verify``, best of ``--repeat``), and the rows per
second are printed with the ratio to the built-in profile (the contract: a SQL profile
verifies at no less than half the built-in's rows per second).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_verify import DATA, build_archive  # noqa: E402

import audit_analytics as aa  # noqa: E402
from audit_analytics._engine import Engine  # noqa: E402

KEY = "bench-key"
TS = "strftime(timezone('UTC', {c}), '%Y-%m-%dT%H:%M:%S.%fZ')"
VARIANTS = {
    "trigger": ("sha256", "hex", "|", TS),
    "trigger-hmac": ("hmac-sha256", "base64", "|", TS),
    "concat-sha512": ("sha512", "hex", "", "CAST(epoch_ms({c}) AS VARCHAR)"),
}
GENESIS = {"sha256": "0" * 64, "hmac-sha256": "", "sha512": "0" * 128}


def _profile(name: str, folder: Path) -> Path:
    digest, encoding, sep, ts = VARIANTS[name]
    s = f" || '{sep}' || " if sep else " || "
    expression = s.join(["prior_hash", ts.format(c="logged_at"), "event_id", "user_ref", "action",
                         "resource_type", "resource_id"])
    keyed = 'key_env = "BENCH_CHAIN_KEY"\n' if digest.startswith("hmac") else ""
    path = folder / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\ntext = "sql"\nexpression = "{expression}"\ndigest = "{digest}"\n'
        f'encoding = "{encoding}"\ngenesis = "{GENESIS[digest]}"\n{keyed}'
        'columns = { id = "event_id", timestamp = "logged_at", actor_id = "user_ref", '
        'hash = "row_hash", prev_hash = "prior_hash" }\n')
    return path


def build_variant(name: str, seed_archive: Path, rows: int) -> Path:
    """Chain the archive's events the way ``name``'s producer does (sequentially)."""
    path = DATA / f"{name}_{rows}.parquet"
    if path.exists():
        return path
    digest, encoding, sep, ts = VARIANTS[name]
    engine = Engine()
    try:
        parts = [ts.format(c='"timestamp"'), "id", "actor_id", "action", "resource_type",
                 "resource_id"]
        joined = f" || '{sep}' || ".join(parts) if sep else " || ".join(parts)
        table = engine.arrow(f"SELECT * RENAME (id AS event_id, \"timestamp\" AS logged_at, "
                             f"actor_id AS user_ref), {joined} AS __suffix "
                             f"FROM read_parquet(?)", [str(seed_archive)])
    finally:
        engine.close()
    suffixes = table.column("__suffix").to_pylist()
    prev, prevs, hashes = GENESIS[digest], [], []
    key = KEY.encode()
    for suffix in suffixes:
        text = (prev + sep + suffix).encode()
        if digest.startswith("hmac"):
            raw = hmac.digest(key, text, "sha256")
        else:
            raw = hashlib.new(digest, text).digest()
        h = base64.b64encode(raw).decode() if encoding == "base64" else raw.hex()
        prevs.append(prev)
        hashes.append(h)
        prev = h
    table = table.drop_columns(["__suffix", "prev_hash", "hash"])
    table = table.append_column("prior_hash", pa.array(prevs))
    table = table.append_column("row_hash", pa.array(hashes))
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd", row_group_size=1_000_000)
    os.replace(tmp, path)
    return path


def timed(path: Path, profile: str, repeat: int) -> float:
    """Best wall time of ``repeat`` verifications (the source opened once)."""
    best = float("inf")
    with aa.open(path, journal=False, progress=False) as log:
        for _ in range(repeat):
            t0 = time.perf_counter()
            result = log.verify(profile=profile, progress=False)
            best = min(best, time.perf_counter() - t0)
            if not result.ok:
                raise SystemExit(f"{path} is not intact under {profile}")
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    os.environ["BENCH_CHAIN_KEY"] = KEY
    print(f"kernel: {aa.kernel_info()}")
    seed = build_archive(DATA / f"python_seed_{args.rows}.parquet", args.rows)
    base = timed(seed, "python-seed", args.repeat)
    print(f"{'profile':<16} {'seconds':>8} {'rows/s':>12} {'x built-in':>11}")
    print(f"{'python-seed':<16} {base:8.2f} {args.rows / base:12,.0f} {1.0:11.2f}")
    for name in VARIANTS:
        path = build_variant(name, seed, args.rows)
        took = timed(path, str(_profile(name, DATA)), args.repeat)
        print(f"{name:<16} {took:8.2f} {args.rows / took:12,.0f} {base / took:11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
