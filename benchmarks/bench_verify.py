"""Verification speed and memory against the seed's own verify_chain loop, in one run.

    python benchmarks/bench_verify.py [--sizes 4000000,10000000] [--seed-rows 1000000]
                                      [--repeat 3] [--no-paths]

Builds python-seed archives (cached under benchmarks/_data/), then measures:

* the seed's verify_chain logic, row by row over rows read with pyarrow, the baseline
  (the ratio is given against reading + loop, "x seed", and the loop alone, "x loop");
* ``audit-analytics verify`` end to end as a subprocess (start-up included), its
  rows/s, the ratio to the baseline and its peak RSS;
* the digest options side by side on the same texts: hashlib in a loop, DuckDB's
  ``sha256()``, the native kernel's scalar SHA-256 and its SIMD SHA-256 (AVX-512 16 lanes
  or AVX2 8 lanes), and the running kernel's text + digest.

The kernel that runs (``audit_analytics.kernel_info()``) is printed first;
``AUDIT_ANALYTICS_KERNEL=python`` measures the pure-Python kernel.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from audit_analytics._engine import Engine
from audit_analytics.chain import kernel
from audit_analytics.chain.profiles import BUILTIN_PROFILES
from audit_analytics.samples.python_seed import seed_verify_chain

DATA = Path(__file__).resolve().parent / "_data"
PROFILE = BUILTIN_PROFILES["python-seed"]
CHUNK = 1_000_000

ACTIONS = ["read", "update", "create", "delete", "export", "login", "logout", "view_audit_log"]
RESOURCE_TYPES = ["patient_record", "invoice", "user", "report", "audit_log"]
RESULTS = ["success"] * 17 + ["failure", "denied"]


def _chunk(start: int, n: int, rng: np.random.Generator) -> dict[str, pa.Array]:
    """Event columns for rows [start, start + n), without hashes."""
    idx = np.arange(start, start + n)
    ids = pa.array([f"{i:08x}-7e57-4000-8000-{i * 2654435761 % 2**48:012x}" for i in idx.tolist()])
    # 4 events a second; every 4th on a whole second (no fraction in isoformat()).
    ts = 1_767_225_600_000_000 + idx * 250_000 + rng.integers(1, 999, n) * (idx % 4 != 0)
    actors = pa.array([f"u-{k:04d}" for k in range(2_000)])
    patients = pa.array([f"p-{k:06d}" for k in range(100_000)])

    def pick(values, size):
        return pa.array(values).take(pa.array(rng.integers(0, len(values), size)))

    return {
        "id": ids,
        "timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "actor_id": actors.take(pa.array(rng.integers(0, 2_000, n))),
        "actor_type": pick(["user"] * 9 + ["service"], n),
        "action": pick(ACTIONS, n),
        "resource_type": pick(RESOURCE_TYPES, n),
        "resource_id": patients.take(pa.array(rng.integers(0, 100_000, n))),
        "result": pick(RESULTS, n),
        "ip_address": pick([f"10.0.{a}.{b}" for a in range(4) for b in range(50)], n),
        "user_agent": pick(["Mozilla/5.0 (X11; Linux x86_64)", "ehr-sync/2.3"], n),
        "session_id": pick([f"s-{k:05d}" for k in range(5_000)], n),
    }


def build_archive(path: Path, rows: int) -> Path:
    """Write a python-seed chain of ``rows`` events, hashed the producer's way."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(rows)
    tmp = path.with_suffix(".tmp")
    writer = None
    prev = "GENESIS"
    marker = b'"prev_hash": ""'
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        cols = _chunk(start, n, rng)
        hashed = {**cols, "prev_hash": pa.array([""] * n)}
        texts = kernel.canonical_texts(PROFILE, [hashed[f] for f in PROFILE.ordered_fields])
        prevs, hashes = [], []
        for text in texts:  # the chain is sequential: each hash feeds the next row
            head, tail = text.split(marker)
            prevs.append(prev)
            prev = hashlib.sha256(
                head + b'"prev_hash": "' + prev.encode() + b'"' + tail
            ).hexdigest()
            hashes.append(prev)
        table = pa.table({**cols, "changed_fields": pa.nulls(n, pa.string()),
                          "old_values": pa.nulls(n, pa.string()),
                          "reason": pa.nulls(n, pa.string()),
                          "prev_hash": pa.array(prevs), "hash": pa.array(hashes)})
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
        writer.write_table(table, row_group_size=max(1, -(-rows // 8)))  # 8 row groups
    writer.close()
    os.replace(tmp, path)
    return path


def seed_baseline(path: Path, limit: int) -> dict:
    """The seed's verify_chain loop over the first ``limit`` rows, read with pyarrow.

    Only the rows it verifies are read (a baseline charged with reading the whole file
    would flatter the ratios).
    """
    t0 = time.perf_counter()
    batches, have = [], 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536,
                                                   columns=[*PROFILE.fields, "hash"]):
        batches.append(batch.slice(0, limit - have))
        have += batches[-1].num_rows
        if have >= limit:
            break
    rows = pa.Table.from_batches(batches).to_pylist()
    t1 = time.perf_counter()
    bad = seed_verify_chain(rows)
    t2 = time.perf_counter()
    return {"rows": len(rows), "read_s": t1 - t0, "loop_s": t2 - t1, "total_s": t2 - t0,
            "bad_rows": bad}


def run_verify(path: Path, workers: int = 1, kernel_env: str | None = None,
               extra_env: dict | None = None) -> dict:
    """``audit-analytics verify`` as a subprocess: wall time, peak RSS, outcome.

    The peak RSS is the largest of the process and of the workers it waited for (the
    usage ``wait4`` reports covers the process's own children).
    """
    exe = Path(sys.executable).parent / "audit-analytics"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(exe), "--no-progress", "verify", str(path),
                                 "--profile", "python-seed", "--json", str(out),
                                 *(["--workers", str(workers)] if workers > 1 else [])],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env={**_env(kernel_env), **(extra_env or {})})
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        doc = json.loads(out.read_text()) if out.exists() else {}
    return {"exit": proc.returncode, "wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "rows": doc.get("rows"), "ok": doc.get("ok"),
            "stderr": proc.stderr.read().decode()[-300:] if proc.returncode else ""}


def _env(kernel_env: str | None) -> dict:
    """This process's environment with ``AUDIT_ANALYTICS_KERNEL`` set (or left unset)."""
    env = {k: v for k, v in os.environ.items() if k != kernel.KERNEL_ENV}
    if kernel_env:
        env[kernel.KERNEL_ENV] = kernel_env
    return env


def kernel_passes(path: Path, rows: int = 500_000) -> dict[str, float]:
    """Milliseconds (best of 5) of two kernel passes the scan makes, each way it can run.

    ``repeated`` over 4M random 64-bit values (the partitioned tables on two threads);
    ``compare`` over the stored ``hash``/``prev_hash`` of ``rows`` rows, hex decoded with
    AVX2 and a character at a time (``AUDIT_ANALYTICS_NO_SIMD=1``).
    """
    def best(call) -> float:
        times = []
        for _ in range(5):
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        return min(times) * 1000

    values = np.random.default_rng(1).integers(0, 2**63, 4_000_000).astype(np.uint64)
    table = pq.ParquetFile(path).read_row_groups([0], columns=["hash", "prev_hash"])
    table = table.slice(0, rows).combine_chunks()
    stored, prev = table.column("hash").chunk(0), table.column("prev_hash").chunk(0)
    computed, _ = kernel.unhex(stored, PROFILE.genesis)
    out = {"repeated, 4M values": best(lambda: kernel.repeated(values))}
    for label, flag in (("AVX2 hex decoding", "0"), ("a character at a time", "1")):
        os.environ["AUDIT_ANALYTICS_NO_SIMD"] = flag
        try:
            out[f"compare, {rows:,} rows, {label}"] = best(
                lambda: kernel.compare(computed, stored, prev, PROFILE.genesis))
        finally:
            del os.environ["AUDIT_ANALYTICS_NO_SIMD"]
    return out


def digest_options(path: Path, rows: int = 1_000_000) -> dict[str, float]:
    """Rows/s of each SHA-256 option over the same canonical texts."""
    table = pq.read_table(path, columns=[*PROFILE.fields]).slice(0, rows)
    cols = [table.column(f).combine_chunks() for f in PROFILE.ordered_fields]
    texts = kernel.canonical_texts(PROFILE, cols)
    data = b"".join(texts)
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in texts], out=offsets[1:])
    n = len(texts)
    out: dict[str, float] = {}

    t = time.perf_counter()
    for text in texts:
        hashlib.sha256(text).digest()
    out["hashlib loop (1 thread)"] = n / (time.perf_counter() - t)

    engine = Engine()
    engine.register("texts", pa.table({"t": pa.array(texts, pa.binary()).cast(pa.string())}))
    t = time.perf_counter()
    engine.scalar("SELECT count(DISTINCT sha256(t)) FROM texts")
    out["DuckDB sha256() (all threads)"] = n / (time.perf_counter() - t)
    engine.close()

    info = kernel.kernel_info()
    if info["implementation"] == "native":
        from audit_analytics.chain import _native

        for simd, label in ((False, "native scalar SHA-256 (1 thread)"),
                            (True, f"native {info['isa']} SHA-256 (1 thread)")):
            t = time.perf_counter()
            _native._sha256_batch(data, offsets.tobytes(), simd=simd)
            out[label] = n / (time.perf_counter() - t)
    for threads in sorted({1, info["threads"]}):
        t = time.perf_counter()
        kernel.digests(PROFILE, cols, threads=threads)
        out[f"{info['implementation']} text + digest, {threads} thread(s)"] = (
            n / (time.perf_counter() - t))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4000000")
    parser.add_argument("--seed-rows", type=int, default=1_000_000,
                        help="rows the (slow) seed baseline verifies")
    parser.add_argument("--no-paths", dest="paths", action="store_false",
                        help="skip the runs with more workers and with the Python kernel")
    parser.add_argument("--workers", type=int, default=1,
                        help="verify --workers N (the map over the archive's files)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each verify path; the median run is shown")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    info = kernel.kernel_info()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, kernel: "
          f"{info['implementation']} (SHA-256 path {info['isa']}, {info['threads']} thread(s))"
          + (f", because {info['reason']}" if info["reason"] else ""))
    archives = {}
    for n in sizes:
        t = time.perf_counter()
        archives[n] = build_archive(DATA / f"python_seed_{n}_rg8.parquet", n)
        print(f"archive {n:,} rows: {archives[n].stat().st_size / 1e6:.0f} MB "
              f"(ready in {time.perf_counter() - t:.1f} s)")

    # Our runs first: a child forked later would inherit the baseline's rows in its RSS.
    def median_run(*how):
        done = sorted((run_verify(*how) for _ in range(max(1, args.repeat))),
                      key=lambda r: r["wall_s"])
        print(f"  {how[0].name} {how[1:]}: "
              + ", ".join(f"{r['wall_s']:.2f} s" for r in done))
        return done[len(done) // 2]

    print(f"verify runs (each path {max(1, args.repeat)} times, the median shown below):")
    runs = {n: median_run(path, args.workers) for n, path in archives.items()}
    smallest = archives[min(sizes)]
    others = []
    if args.paths:  # what the other code paths cost on the smallest archive
        more = max(2, args.workers + 1)
        others = [(f"native, {more} workers", median_run(smallest, more)),
                  ("native, huge pages", median_run(smallest, 1, None,
                                                    {"NUMPY_MADVISE_HUGEPAGE": "1"})),
                  ("Python kernel", run_verify(smallest, 1, "python"))]
    base = seed_baseline(smallest, args.seed_rows)
    base_rate = base["rows"] / base["total_s"]
    loop_rate = base["rows"] / base["loop_s"]
    print(f"\nseed verify_chain, {base['rows']:,} rows: {base['total_s']:.1f} s "
          f"({base_rate:,.0f} rows/s; reading the rows {base['read_s']:.1f} s, the loop alone "
          f"{base['loop_s']:.1f} s = {loop_rate:,.0f} rows/s), bad rows {base['bad_rows']}")

    print("\naudit-analytics verify (end to end, subprocess, start-up included):")
    print(f"{'path':<22} {'rows':>12} {'seconds':>8} {'CPU s':>6} {'rows/s':>12} {'x seed':>7} "
          f"{'x loop':>7} {'peak RSS':>10}  outcome")
    label = f"native, {args.workers} worker(s)"
    rows = [(label, n, r) for n, r in runs.items()]
    rows += [(label, min(sizes), r) for label, r in others]
    for label, n, r in rows:
        rate = n / r["wall_s"]
        outcome = "intact" if r["ok"] else f"exit {r['exit']} {r['stderr']}"
        print(f"{label:<22} {n:>12,} {r['wall_s']:>8.2f} {r['cpu_s']:>6.1f} {rate:>12,.0f} "
              f"{rate / base_rate:>7.1f} {rate / loop_rate:>7.1f} {r['peak_rss_mb']:>8.0f} MB  "
              f"{outcome}")

    print("\nkernel passes (ms, best of 5):")
    for label, ms in kernel_passes(smallest).items():
        print(f"  {label:<48} {ms:>8.1f}")

    print("\nSHA-256 options over the same 1M canonical texts (rows/s):")
    options = digest_options(smallest)
    slowest = min(options.values())
    for label, rate in options.items():
        print(f"  {label:<40} {rate:>12,.0f}  ({rate / slowest:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
