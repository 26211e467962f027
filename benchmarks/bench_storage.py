"""Reading the same chain from a local folder, an S3 bucket and a SQLite file, in one run.

    python benchmarks/bench_storage.py [--scale 4] [--repeat 3]

Generates a month of chained activity (``samples.activity``; ``--scale`` multiplies the
actors and so the rows), writes it as day partitions to a local folder, uploads the same
objects to an S3-protocol server started on 127.0.0.1 (moto in server mode, a Python
server: an upper bound on the cost of the S3 path, not a measure of S3 itself), and writes
it to a SQLite file. Each is verified end to end by ``audit-analytics verify`` as a
subprocess (start-up included), best of ``--repeat``; the local folder is the baseline and
the others are given as a ratio to it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds

from audit_analytics.samples.activity import generate_month

EXE = Path(sys.executable).parent / "audit-analytics"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _verify(where: str, env: dict, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run([str(EXE), "--no-progress", "verify", where], env=env,
                              capture_output=True, text=True)
        best = min(best, time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"verify {where} failed: {done.stderr.strip()}")
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    table, _ = generate_month(seed=11, clean=True, scale=args.scale)
    rows = table.num_rows
    work = Path(tempfile.mkdtemp(prefix="aa-bench-storage-"))
    local = work / "archive"
    day = pc.strftime(table.column("timestamp"), format="%Y-%m-%d")
    ds.write_dataset(table.append_column("date", day), local, format="parquet",
                     partitioning=["date"], partitioning_flavor="hive")
    db = work / "audit.db"
    con = sqlite3.connect(db)
    names = table.column_names
    con.execute(f"CREATE TABLE audit_logs ({', '.join(f'{n} TEXT' for n in names)})")
    columns = [table.column(n).to_pylist() for n in names]
    columns[names.index("timestamp")] = [t.isoformat() for t in columns[names.index("timestamp")]]
    con.executemany(f"INSERT INTO audit_logs VALUES ({', '.join('?' * len(names))})",
                    zip(*columns))
    con.commit()
    con.close()

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_REGION="us-east-1",
               AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench-secret",
               AWS_EC2_METADATA_DISABLED="true", AUDIT_ANALYTICS_HOME=str(work / "home"))
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=env)
    try:
        import boto3

        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench-secret")
        s3.create_bucket(Bucket="bench-archive")
        files = sorted(local.rglob("*.parquet"))
        for path in files:
            s3.put_object(Bucket="bench-archive", Key=f"app/{path.relative_to(local)}",
                          Body=path.read_bytes())
        size = sum(p.stat().st_size for p in files)
        print(f"{rows:,} rows in {len(files)} day partitions, {size / 1e6:.1f} MB of Parquet")
        base = _verify(str(local), env, args.repeat)
        remote = _verify("s3://bench-archive/app/", env, args.repeat)
        sqlite = _verify(f"sqlite:///{db}", env, args.repeat)
        for name, seconds in (("local folder (baseline)", base),
                              ("s3:// on moto, 127.0.0.1", remote),
                              ("sqlite:/// (SQLAlchemy Core)", sqlite)):
            print(f"  {name:<30} {seconds:6.2f} s  {rows / seconds:>10,.0f} rows/s  "
                  f"{seconds / base:5.2f}x the local time")
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
