"""The whole compliance checklist over 1M and 10M generated events.

    python benchmarks/bench_checks.py [--sizes 1000000,10000000]

Archives are generated with numpy/pyarrow (python-seed chained, so chain_integrity does
real work) and cached under benchmarks/_data/. Each size runs in a fresh subprocess
that reports wall seconds, per-check seconds and its peak RSS (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DATA = Path(__file__).resolve().parent / "_data"
CHUNK = 1_000_000
DAYS = 90
ACTORS = 5_000


def _chunk(start: int, n: int, total: int, rng: np.random.Generator) -> pa.Table:
    """Rows [start, start + n): day-shift users, a few exports, failures and log reads."""
    idx = np.arange(start, start + n)
    span_us = DAYS * 86_400_000_000
    step = span_us // total  # time order = chain order; no int64 overflow at 10M rows
    actor = rng.integers(0, ACTORS, n)
    ts = 1_704_067_200_000_000 + idx * step + rng.integers(0, step, n)
    actions = np.array(["read", "update", "create", "export", "login", "view_audit_log"])
    action = actions[rng.choice(6, n, p=[0.7, 0.15, 0.08, 0.03, 0.039, 0.001])]
    results = np.array(["success", "failure", "denied"])
    result = results[rng.choice(3, n, p=[0.985, 0.01, 0.005])]
    rtype = np.where(action == "view_audit_log", "audit_log",
                     np.where(action == "login", "user", "patient_record"))
    ids = [f"{i:08x}-b3c4-4000-8000-{i * 2654435761 % 2**48:012x}" for i in idx.tolist()]
    actor_ids = np.char.add("u-", np.char.zfill(actor.astype(str), 5))
    return pa.table({
        "id": pa.array(ids),
        "timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "actor_id": pa.array(actor_ids),
        "actor_type": pa.array(np.where(actor < 50, "service", "user")),
        "action": pa.array(action),
        "resource_type": pa.array(rtype),
        "resource_id": pa.array(np.char.add("MRN-", rng.integers(0, 200_000, n).astype(str))),
        "result": pa.array(result),
        "ip_address": pa.array(np.char.add("10.1.0.", (actor % 250 + 1).astype(str))),
        "user_agent": pa.array(np.full(n, "Mozilla/5.0")),
        "session_id": pa.array(np.char.add("s-", (actor * 7 + idx // 50_000).astype(str))),
    })


def build_archive(rows: int) -> Path:
    """Generate (once) a python-seed chained archive of ``rows`` events."""
    from audit_analytics.samples.activity import chain_table_from

    path = DATA / f"checks_{rows}.parquet"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(rows)
    tmp = path.with_suffix(".tmp")
    writer = None
    prev = "GENESIS"
    for start in range(0, rows, CHUNK):
        table, prev = chain_table_from(_chunk(start, min(CHUNK, rows - start), rows, rng), prev)
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
        writer.write_table(table, row_group_size=max(1, min(CHUNK, rows // 8)))
    writer.close()
    os.replace(tmp, path)
    return path


def measure(path: str) -> None:
    """Child process: run the checklist once, print JSON with seconds and peak RSS."""
    import resource

    import audit_analytics as aa
    from audit_analytics.checks import run_checks

    t0 = time.perf_counter()
    with aa.open(path, journal=False) as log:
        result = run_checks(log, None)
    wall = time.perf_counter() - t0
    print(json.dumps({
        "wall_s": wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "checks": {c.name: [c.status, len(c.findings), c.metrics.get("seconds")]
                   for c in result.checks},
        "events": result.events,
    }))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        measure(args.measure)
        return 0
    runs = {}
    for n in [int(s) for s in args.sizes.split(",")]:
        t = time.perf_counter()
        path = build_archive(n)
        print(f"archive {n:,} rows: {path.stat().st_size / 1e6:.0f} MB "
              f"(ready in {time.perf_counter() - t:.1f} s)", flush=True)
        proc = subprocess.run([sys.executable, __file__, "--measure", str(path)],
                              capture_output=True, text=True, check=True)
        runs[n] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = runs[n]
        chain = r["checks"]["chain_integrity"][2]
        print(f"{n:>12,} rows: {r['wall_s']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB "
              f"(chain_integrity {chain:.1f} s, other checks {r['wall_s'] - chain:.1f} s)")
        for name, (status, found, secs) in r["checks"].items():
            print(f"    {name:<22} {status:<5} {found:>6} findings {secs:>7.2f} s")
    sizes = sorted(runs)
    if len(sizes) >= 2:
        lo, hi = runs[sizes[0]], runs[sizes[-1]]
        print(f"ratio {sizes[-1]:,}/{sizes[0]:,}: {hi['wall_s'] / lo['wall_s']:.1f}x time, "
              f"{hi['peak_rss_mb'] / lo['peak_rss_mb']:.1f}x peak RSS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
