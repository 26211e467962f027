"""Render the generated month's review report as a reviewer sees it: PNG pictures.

``python -m audit_analytics.samples.preview OUT`` (``make preview``) generates the sample
hospital month (injected anomalies, an America/New_York policy), writes its report (HTML,
JSON, CSV, PDF; not recorded in the ledger), takes a full-page screenshot of the HTML in
headless Chromium and turns every PDF page into a PNG with ``pdftoppm``. It needs the
``chromium`` and ``poppler-utils`` Debian packages (``make preview`` installs them).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "screenshot"]

_CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                   "--no-first-run", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def screenshot(html: Path, png: Path, width: int = 1200, height: int = 6000) -> Path:
    """A screenshot of ``html`` (the top ``height`` pixels) by headless Chromium."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("preview: chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, *_CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                        f"--window-size={width},{height}", f"--screenshot={png}",
                        html.resolve().as_uri()], check=True, capture_output=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    return png


def main(argv: Sequence[str] | None = None) -> int:
    """Write the report and its pictures into the folder named on the command line."""
    import pyarrow.parquet as pq

    import audit_analytics as aa
    from audit_analytics.policy import Policy
    from audit_analytics.report import build_report

    from .activity import generate_month, month_policy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AUDIT_ANALYTICS_JOURNAL", "off")
    table, _ = generate_month(seed=args.seed)
    source = args.out / "month.parquet"
    pq.write_table(table, source)
    with aa.open(source) as log:
        report = build_report(log, "2024-03", policy=Policy.from_dict(month_policy()))
    written = report.write(args.out, ("html", "json", "csv", "pdf"), replace=True,
                           ledger=False)
    print(screenshot(written.paths["html"], args.out / "report-html.png"))
    if shutil.which("pdftoppm") is None:
        raise SystemExit("preview: pdftoppm is not installed (apt-get install poppler-utils)")
    for stale in args.out.glob("report-pdf-*.png"):
        stale.unlink()
    subprocess.run(["pdftoppm", "-png", "-r", "70", str(written.paths["pdf"]),
                    str(args.out / "report-pdf")], check=True, timeout=300)
    for page in sorted(args.out.glob("report-pdf-*.png")):
        print(page)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
