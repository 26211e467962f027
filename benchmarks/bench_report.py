"""A monthly review report over 10M generated events, beside the checklist alone.

    python benchmarks/bench_report.py [--rows 10000000] [--period 2026-01] [--repeat 1]
    python benchmarks/bench_report.py --crowd [--rows 1000000] [--repeat 1]

Reuses the verification benchmark's archive (benchmarks/bench_verify.py: a python-seed
chain whose events all fall in January 2026, cached under benchmarks/_data/), so the
monthly report covers every one of the 10M events. ``--crowd`` measures the many-actors
month instead (:mod:`audit_analytics.samples.crowd`: every event by an actor of its own,
in January 2024, cached under benchmarks/_data/ too): every list a check or a report
keeps per actor, per resource or per finding is as long as it gets. Each measurement runs
in a fresh subprocess and reports wall seconds, CPU seconds (every thread's) and peak RSS
(ru_maxrss):

- ``checks``: ``run_checks`` over the month (chain_integrity verifies the whole log);
  then, after those figures are taken, the size of its JSON document (what ``check
  --json`` writes) and the seconds to make it;
- ``report``: ``build_report`` for the month (verify once, checklist, anomalies with
  evidence, charts) and ``Report.write`` (HTML + JSON, and CSV with ``--crowd``; ledger
  entry).

Then the ratio report / checklist, of wall and of CPU seconds. With ``--repeat N`` the two
run alternately N times and the ratios are of the medians: on a shared machine the wall
times of one run move with the load (the load average is printed), the CPU seconds much
less.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_verify import DATA, build_archive  # noqa: E402


def measure(kind: str, path: str, period: str, out: str, formats: str) -> None:
    """Child process: one measurement, printed as JSON."""
    import resource

    import audit_analytics as aa
    from audit_analytics.periods import parse_period

    t0 = time.perf_counter()
    span = parse_period(period)
    detail: dict = {}
    with aa.open(path, journal=False) as log:
        if kind == "checks":
            from audit_analytics._caps import LISTED
            from audit_analytics.checks import run_checks

            result = run_checks(log, None, since=span.start, until=span.end)
            detail = {"status": result.worst, "events": result.events}
            usage = resource.getrusage(resource.RUSAGE_SELF)
            figures = {"wall_s": time.perf_counter() - t0,
                       "cpu_s": usage.ru_utime + usage.ru_stime,
                       "peak_rss_mb": usage.ru_maxrss / 1024}
            t1 = time.perf_counter()
            text = json.dumps(result.to_dict(LISTED), default=str)
            print(json.dumps({**figures, **detail, "json_kb": len(text.encode()) / 1024,
                              "json_s": time.perf_counter() - t1}))
            return
        else:
            from audit_analytics.report import build_report

            t1 = time.perf_counter()
            report = build_report(log, span)
            built = time.perf_counter() - t1
            t2 = time.perf_counter()
            written = report.write(out, formats.split(","))
            detail = {"status": report.status, "events": report.scope["rows_in_period"],
                      "build_s": built, "write_s": time.perf_counter() - t2,
                      **{f"{fmt}_kb": file.stat().st_size / 1024
                         for fmt, file in written.paths.items()}}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "wall_s": time.perf_counter() - t0,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        **detail,
    }))


def crowd_archive(rows: int) -> Path:
    """Generate (once) the many-actors month of ``rows`` events."""
    import pyarrow.parquet as pq

    from audit_analytics.samples.crowd import crowd_month

    path = DATA / f"crowd_{rows}.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        pq.write_table(crowd_month(rows), tmp, compression="zstd")
        os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None,
                        help="events (default 10M, with --crowd 1M)")
    parser.add_argument("--period", default=None,
                        help="the reported month (default 2026-01, with --crowd 2024-01)")
    parser.add_argument("--crowd", action="store_true",
                        help="the many-actors month: every event by an actor of its own")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the checklist and the report alternately this many times")
    parser.add_argument("--measure", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        measure(*args.measure)
        return 0
    t = time.perf_counter()
    if args.crowd:
        args.rows = args.rows or 1_000_000
        args.period = args.period or "2024-01"
        path = DATA / f"crowd_{args.rows}.parquet"
        formats = "html,json,csv"
    else:
        args.rows = args.rows or 10_000_000
        args.period = args.period or "2026-01"
        path = DATA / f"python_seed_{args.rows}.parquet"
        formats = "html,json"
    if args.prepare:
        if args.crowd:
            crowd_archive(args.rows)
        else:
            build_archive(path, args.rows)
        return 0
    if not path.exists():
        # in a process of its own: a child's peak RSS (ru_maxrss) starts from its parent's
        # resident size when it is started, and generating the rows takes gigabytes
        subprocess.run([sys.executable, __file__, "--prepare", "--rows", str(args.rows),
                        *(["--crowd"] if args.crowd else [])], check=True)
    kind = "many-actors archive" if args.crowd else "archive"
    print(f"{kind} {args.rows:,} rows: {path.stat().st_size / 1e6:.0f} MB "
          f"(ready in {time.perf_counter() - t:.1f} s)", flush=True)
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    runs: dict[str, list[dict]] = {"checks": [], "report": []}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "AUDIT_ANALYTICS_HOME": str(Path(tmp) / "home"),
               "AUDIT_ANALYTICS_JOURNAL": "off"}
        for _ in range(max(1, args.repeat)):
            for kind in ("checks", "report"):
                proc = subprocess.run(
                    [sys.executable, __file__, "--measure", kind, str(path), args.period,
                     str(Path(tmp) / "out"), formats], capture_output=True, text=True,
                    env=env)
                if proc.returncode:
                    print(proc.stderr, file=sys.stderr)
                    return 1
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                runs[kind].append(r)
                if kind == "report":
                    files = ", ".join(f"{fmt.upper()} {r[f'{fmt}_kb']:,.0f} KB"
                                      for fmt in formats.split(","))
                    extra = (f" (build {r['build_s']:.1f} s, write {r['write_s']:.1f} s; "
                             f"{files})")
                else:
                    extra = f" (its JSON {r['json_kb']:,.0f} KB in {r['json_s']:.1f} s)"
                print(f"{kind:<7} {args.period}: {r['events']:,} events in the period, "
                      f"{r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s, peak RSS "
                      f"{r['peak_rss_mb']:.0f} MB, status {r['status']}{extra}", flush=True)
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    median = {kind: {key: statistics.median(r[key] for r in rs)
                     for key in ("wall_s", "cpu_s", "peak_rss_mb")} for kind, rs in runs.items()}
    n = len(runs["checks"])
    label = f"median of {n} runs" if n > 1 else "one run"
    print(f"report / checklist ({label}): wall "
          f"{median['report']['wall_s'] / median['checks']['wall_s']:.2f}x, CPU "
          f"{median['report']['cpu_s'] / median['checks']['cpu_s']:.2f}x; peak RSS "
          f"{median['checks']['peak_rss_mb']:.0f} MB / {median['report']['peak_rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
