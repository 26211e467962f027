"""Verification of a large archive of day partitions: workers, rows/s and memory per process.

    python benchmarks/bench_verify_scale.py [--rows 20000000] [--workers 1,2]

Builds (once, cached under benchmarks/_data/) a python-seed chain of ``--rows`` events as
one Parquet file, and the same rows cut into day partitions
(``date=YYYY-MM-DD/part-000000.parquet``, rows in chain order, 4 events a second: about
346,000 rows a day). Then, each in a fresh process:

* the baseline: the single file, one part, verified in one pass;
* the day partitions with ``workers=N`` for each N asked: N = 1 scans the parts one after
  the other in the verifying process; N > 1 on a pool of N processes.

Each run prints its wall time, rows/s, its ratio to the baseline, the peak RSS of the
verifying process (the reduce) and the largest peak RSS of a pool worker (the map), and
checks that every run finds what the baseline finds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_verify import DATA, build_archive  # noqa: E402

from audit_analytics.chain import kernel  # noqa: E402


def day_partitions(single: Path, folder: Path) -> Path:
    """The rows of ``single`` as one file per UTC day, in chain order (built once)."""
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    writer, day = None, None
    for batch in pq.ParquetFile(single).iter_batches(batch_size=500_000):
        days = pc.strftime(batch.column("timestamp"), format="%Y-%m-%d").to_pylist()
        start = 0
        while start < len(days):
            end = start
            while end < len(days) and days[end] == days[start]:
                end += 1
            if days[start] != day:
                if writer is not None:
                    writer.close()
                day = days[start]
                target = folder / f"date={day}" / "part-000000.parquet"
                target.parent.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(target, batch.schema, compression="zstd")
            writer.write_table(pa.Table.from_batches([batch.slice(start, end - start)]))
            start = end
    if writer is not None:
        writer.close()
    done.write_text(datetime.now(UTC).isoformat())
    return folder


def child(path: str, workers: int) -> None:
    """Verify ``path`` here and print the outcome and the peak RSS of this process and its pool."""
    import audit_analytics as aa

    t0 = time.perf_counter()
    with aa.open(path, journal=False, progress=False) as log:
        result = log.verify(profile="python-seed", workers=workers)
    wall = time.perf_counter() - t0
    doc = result.to_dict()
    print(json.dumps({
        "wall_s": wall, "rows": result.rows, "ok": result.ok, "counts": doc["counts"],
        "segments": len(doc["segments"]), "head": doc["head"]["id"] if doc["head"] else None,
        "self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "workers_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }))


def run(path: Path, workers: int) -> dict:
    """:func:`child` in a fresh interpreter (nothing inherited in its RSS)."""
    out = subprocess.run([sys.executable, __file__, "--child", str(path), str(workers)],
                         capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"verify of {path} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0
    info = kernel.kernel_info()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, kernel: "
          f"{info['implementation']} (SHA-256 path {info['isa']})")
    t = time.perf_counter()
    single = build_archive(DATA / f"python_seed_{args.rows}.parquet", args.rows)
    folder = day_partitions(single, DATA / f"python_seed_{args.rows}_days")
    files = sorted(folder.rglob("*.parquet"))
    largest = max(pq.read_metadata(f).num_rows for f in files)
    print(f"archive: {args.rows:,} rows, {len(files)} day partitions (largest {largest:,} "
          f"rows), ready in {time.perf_counter() - t:.0f} s")

    base = run(single, 1)
    rows = [("one file, one pass (baseline)", base)]
    for w in (int(x) for x in args.workers.split(",")):
        rows.append((f"day partitions, {w} worker(s)", run(folder, w)))
    print(f"\n{'run':<34} {'seconds':>8} {'rows/s':>11} {'x base':>7} {'reduce RSS':>11} "
          f"{'worker RSS':>11}  findings")
    for label, r in rows:
        rate = r["rows"] / r["wall_s"]
        same = all(r[k] == base[k] for k in ("rows", "ok", "counts", "segments", "head"))
        worker = f"{r['workers_mb']:>8.0f} MB" if r["workers_mb"] > 1 else f"{'-':>11}"
        print(f"{label:<34} {r['wall_s']:>8.1f} {rate:>11,.0f} "
              f"{rate / (base['rows'] / base['wall_s']):>7.2f} {r['self_mb']:>8.0f} MB "
              f"{worker}  {'same as baseline' if same else 'DIFFERENT'}"
              + ("" if r["ok"] else " (tampering evident)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
