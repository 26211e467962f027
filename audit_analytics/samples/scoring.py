"""Precision and recall of the checklist against the generated month's labels.

A finding is a true positive when it matches a label of its check: the same actor (when
the label names one), an overlapping window and, for ``failed_access_burst``, the same
``kind``; required-field findings match on ``field`` and ``problem``. Recall is the share
of labels found, precision the share of findings that match a label.

Run ``python -m audit_analytics.samples.scoring --seeds 1,2,3,7`` to print the table for
several generated months (with and without injected anomalies).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

__all__ = ["ANOMALY_CHECKS", "Score", "matches", "score", "score_month"]

log = logging.getLogger("audit_analytics")

#: The checks whose findings the generated month labels.
ANOMALY_CHECKS = ("failed_access_burst", "off_hours_access", "volume_spike", "broad_access",
                  "bulk_export", "retention_coverage", "log_access", "required_fields")


@dataclass(frozen=True)
class Score:
    """One check's figures against the labels."""

    check: str
    recall: float
    precision: float
    findings: int
    labels: int
    status: str


def _overlaps(finding: dict, label: dict) -> bool:
    if label.get("actor_id") is not None and finding.get("actor_id") != label["actor_id"]:
        return False
    if "kind" in label and finding.get("kind") != label["kind"]:
        return False
    start = pd.Timestamp(finding["window_start"])
    end = pd.Timestamp(finding["window_end"])
    return start <= pd.Timestamp(label["window_end"]) and pd.Timestamp(label["window_start"]) <= end


def matches(check: str, finding: dict, label: dict) -> bool:
    """Whether ``finding`` of ``check`` is the anomaly ``label`` describes."""
    if label["check"] != check:
        return False
    if check == "required_fields":
        return (finding["field"], finding["problem"]) == (label["field"], label["problem"])
    return _overlaps(finding, label)


def score(result, labels: Sequence[dict], check: str) -> Score:
    """Recall and precision of one check of a :class:`ChecklistResult` against ``labels``."""
    findings = result[check].to_dict()["findings"]
    mine = [lab for lab in labels if lab["check"] == check]
    hit = [f for f in findings if any(matches(check, f, lab) for lab in mine)]
    found = [lab for lab in mine if any(matches(check, f, lab) for f in findings)]
    return Score(check, len(found) / len(mine) if mine else 1.0,
                 len(hit) / len(findings) if findings else 1.0, len(findings), len(mine),
                 result[check].status)


def score_month(seed: int, *, clean: bool = False, folder: Path | None = None) -> list[Score]:
    """Generate one month, run the checklist with :func:`month_policy`, score every check."""
    import pyarrow.parquet as pq

    from .. import open as open_log
    from ..checks import run_checks
    from ..policy import Policy
    from .activity import generate_month, month_policy

    table, labels = generate_month(seed=seed, clean=clean)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = Path(tmp) / "month.parquet"
        pq.write_table(table, path)
        with open_log(path, journal=False) as audit_log:
            result = run_checks(audit_log, Policy.from_dict(month_policy()))
    return [score(result, labels, name) for name in ANOMALY_CHECKS]


def main(argv: Sequence[str] | None = None) -> int:
    """Print recall and precision per check for each seed."""
    parser = argparse.ArgumentParser(prog="python -m audit_analytics.samples.scoring")
    parser.add_argument("--seeds", default="1,2,3,7", help="comma-separated seeds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for seed in (int(s) for s in args.seeds.split(",")):
        for clean in (False, True):
            scores = score_month(seed, clean=clean)
            log.info("seed %d%s", seed, " (no injected anomalies)" if clean else "")
            for s in scores:
                log.info("  %-20s %-4s recall %.2f precision %.2f (%d findings, %d labels)",
                         s.check, s.status, s.recall, s.precision, s.findings, s.labels)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
