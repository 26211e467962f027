"""A spot check of K part files costs K files and the manifest, whatever the archive's size.

    python benchmarks/bench_archive.py [--days 30,300] [--rows-per-day 10000] [--sample 5]

Builds python-seed chains of ``rows-per-day`` events a day over each number of days,
archives each with ``audit-analytics archive`` (cached under benchmarks/_data/), then, in
this process, measures on each archive:

* ``spot-check --sample K`` (the same seed): seconds and the bytes the process read
  (``rchar`` of /proc/self/io: every read system call, DuckDB's included);
* ``spot-check --all`` (what ``verify DIR`` does), the baseline: the same measures.

It prints the bytes of the K sampled files plus the manifest next to what the spot check
read, and the ratios between archive sizes: the spot check stays flat while the full check
grows with the archive.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from audit_analytics.archive.spotcheck import check_archive
from audit_analytics.samples.activity import chain_table_from

DATA = Path(__file__).resolve().parent / "_data" / "archive"
DAY_US = 86_400_000_000
START_US = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z
CLI = [sys.executable, "-m", "audit_analytics", "--no-progress"]


def _events(first: int, n: int, days: int, per_day: int) -> pa.Table:
    idx = np.arange(first, first + n)
    rng = np.random.default_rng(first)
    ts = START_US + idx * (DAY_US // per_day) + rng.integers(1, 999, n)
    return pa.table({
        "id": [f"{i:08x}-7e57-4000-8000-{i * 2654435761 % 2**48:012x}" for i in idx.tolist()],
        "timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "actor_id": [f"u-{k:04d}" for k in rng.integers(0, 2000, n).tolist()],
        "action": pa.array(["read", "update", "export"]).take(pa.array(rng.integers(0, 3, n))),
        "resource_type": ["patient_record"] * n,
        "resource_id": [f"p-{k:06d}" for k in rng.integers(0, 100_000, n).tolist()],
        "result": ["success"] * n,
    })


def build(days: int, per_day: int, key: Path) -> Path:
    """The archive of ``days`` days (built once)."""
    target = DATA / f"days{days}_{per_day}"
    if (target / "manifest.jsonl").exists():
        return target
    src = DATA / f"src_days{days}_{per_day}"
    src.mkdir(parents=True, exist_ok=True)
    prev, chunk = "GENESIS", 1_000_000
    total = days * per_day
    for k, first in enumerate(range(0, total, chunk)):
        table, prev = chain_table_from(_events(first, min(chunk, total - first), days, per_day),
                                       prev)
        pq.write_table(table, src / f"chunk-{k:04d}.parquet")
    subprocess.run([*CLI, "archive", str(src), "--to", str(target), "--key", str(key)],
                   check=True, stdout=subprocess.DEVNULL)
    return target


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def measure(target: Path, pub: Path, **options) -> tuple[float, int, object]:
    before, started = _rchar(), time.perf_counter()
    result = check_archive(str(target), str(pub), progress=False, **options)
    seconds = time.perf_counter() - started
    assert result.ok, result.findings[:3]
    return seconds, _rchar() - before, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", default="30,300")
    parser.add_argument("--rows-per-day", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=5)
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    key = DATA / "bench"
    if not key.with_suffix(".key").exists():
        subprocess.run([*CLI, "keygen", "--out", str(key)], check=True,
                       stdout=subprocess.DEVNULL)
    pub = key.with_suffix(".pub")
    rows = []
    for days in [int(d) for d in args.days.split(",")]:
        target = build(days, args.rows_per_day, key.with_suffix(".key"))
        measure(target, pub, sample=args.sample, seed=1)  # warm the page cache alike
        spot_s, spot_b, spot = measure(target, pub, sample=args.sample, seed=1)
        full_s, full_b, full = measure(target, pub, everything=True)
        sampled = sum((target / p).stat().st_size for p in spot.sampled)
        manifest = (target / "manifest.jsonl").stat().st_size
        archive_bytes = sum(p.stat().st_size for p in target.rglob("*.parquet"))
        rows.append((days, full.verification.rows, archive_bytes, sampled, manifest,
                     spot_s, spot_b, full_s, full_b))
    print(f"spot check of K={args.sample} part files vs the whole archive, "
          f"{args.rows_per_day:,} rows a day")
    print(f"{'files':>6} {'rows':>11} {'archive MB':>10} {'K files+manifest MB':>20} "
          f"{'spot s':>7} {'spot read MB':>12} {'all s':>7} {'all read MB':>11}")
    for days, n, size, sampled, manifest, ss, sb, fs, fb in rows:
        print(f"{days:>6} {n:>11,} {size / 1e6:>10.1f} {(sampled + manifest) / 1e6:>20.2f} "
              f"{ss:>7.2f} {sb / 1e6:>12.2f} {fs:>7.2f} {fb / 1e6:>11.1f}")
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        print(f"archive {b[0] / a[0]:.0f}x larger: spot check {b[5] / a[5]:.2f}x the time and "
              f"{b[6] / a[6]:.2f}x the bytes; the whole check {b[7] / a[7]:.1f}x the time and "
              f"{b[8] / a[8]:.1f}x the bytes")


if __name__ == "__main__":
    main()
