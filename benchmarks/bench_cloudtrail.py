"""``cloudtrail validate`` on a generated week: parallel hashing against one file at a time.

    python benchmarks/bench_cloudtrail.py [--hours 168] [--logs-per-hour 6] [--records 400]

The baseline, measured in the same run, reads and hashes the files one by one, as
``validate-logs`` does (``WORKERS = 1``); the toolkit's path uses its thread pool. Both
validate the same local tree (cached under benchmarks/_data/) with the same keys; the
ratio is printed. Over S3 the gap widens: each read waits on the network.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
DATA = ROOT / "benchmarks" / "_data"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=int, default=168)
    parser.add_argument("--logs-per-hour", type=int, default=6)
    parser.add_argument("--records", type=int, default=400)
    args = parser.parse_args()
    import cloudtrail_tree as ct

    from audit_analytics.cloudtrail import validation
    from audit_analytics.cloudtrail.api import validate_cloudtrail

    start = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    key = ct.new_key(start - dt.timedelta(days=30), start + dt.timedelta(days=60))
    folder = DATA / f"cloudtrail_{args.hours}_{args.logs_per_hour}_{args.records}"
    t0 = time.perf_counter()
    if not (folder / "keys.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        tree = ct.build_trail(start, args.hours, [key],
                              logs_per_hour=lambda h: args.logs_per_hour,
                              records=lambda when, rng: [ct.record(when, rng)
                                                         for _ in range(args.records)])
        tree.write(folder / "trail")
        (folder / "keys.json").write_text(json.dumps(ct.keys_document([key])))
    size = sum(p.stat().st_size for p in (folder / "trail").rglob("*.json.gz"))
    print(f"tree: {size / 1e6:.1f} MB compressed ({time.perf_counter() - t0:.1f} s to build "
          "or find)")
    end = start + dt.timedelta(hours=args.hours)
    timings = {}
    import os

    cores = max(2, os.cpu_count() or 2)
    for name, workers in (("one file at a time", 1), ("parallel", cores),
                          ("one file at a time", 1), ("parallel", cores)):
        validation.WORKERS = workers
        t0 = time.perf_counter()
        result = validate_cloudtrail(folder / "trail", folder / "keys.json", start_time=start,
                                     end_time=end, progress=False)
        timings[name] = min(timings.get(name, 1e9), time.perf_counter() - t0)
        assert result.ok, result.findings[:3]
        print(f"{name:>20}: {timings[name]:.2f} s ({workers} thread(s)), "
              f"{result.log_files['valid']} log files valid")
    ratio = timings["one file at a time"] / timings["parallel"]
    print(f"parallel is {ratio:.2f}x the one-at-a-time baseline (best of two runs each)")


if __name__ == "__main__":
    main()
