"""Write the generated hospital month to files, for notebooks and demonstrations.

``python -m audit_analytics.samples.month OUT [--seed 7] [--split]`` writes
``OUT/month.parquet`` (the month of :func:`~.activity.generate_month`, anomalies injected)
and ``OUT/hospital.toml`` (its policy, :func:`~.activity.month_policy`). With ``--split``
it also writes the month as two trails, each chained by its own producer:
``OUT/clinical.parquet`` (patient-record events) and ``OUT/admin.parquet`` (the rest).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "policy_toml", "write_month"]


def policy_toml(policy: dict) -> str:
    """The month's policy (:func:`~.activity.month_policy`) as TOML text."""
    hours = policy["business_hours"]
    access = policy["thresholds"]["log_access"]
    days = ", ".join(f'"{d}"' for d in hours["weekdays"])
    return "\n".join([
        f'name = "{policy["name"]}"', f'timezone = "{policy["timezone"]}"', "",
        "[business_hours]", f'start = "{hours["start"]}"', f'end = "{hours["end"]}"',
        f"weekdays = [{days}]", "", "[retention]", f'regime = "{policy["retention"]["regime"]}"',
        f"logging_started = {policy['retention']['logging_started'].isoformat()}", "",
        "[thresholds.log_access]",
        "allowed_actors = [" + ", ".join(f'"{a}"' for a in access["allowed_actors"]) + "]",
        "allowed_actor_types = ["
        + ", ".join(f'"{a}"' for a in access["allowed_actor_types"]) + "]", ""])


def write_month(out: Path, seed: int = 7, split: bool = False) -> dict[str, Path]:
    """Write the month (and, with ``split``, its two trails) and its policy into ``out``."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from .activity import chain_table, generate_month, month_policy

    out.mkdir(parents=True, exist_ok=True)
    table, _ = generate_month(seed=seed)
    paths = {"month": out / "month.parquet", "policy": out / "hospital.toml"}
    pq.write_table(table, paths["month"])
    paths["policy"].write_text(policy_toml(month_policy()), encoding="utf-8")
    if split:
        events = table.drop_columns(["prev_hash", "hash"]).sort_by([("timestamp", "ascending")])
        clinical = pc.fill_null(pc.equal(events["resource_type"], "patient_record"), False)
        paths["clinical"] = out / "clinical.parquet"
        paths["admin"] = out / "admin.parquet"
        pq.write_table(chain_table(events.filter(clinical)), paths["clinical"])
        pq.write_table(chain_table(events.filter(pc.invert(clinical))), paths["admin"])
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Write the files named in the module docstring; print their paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--split", action="store_true")
    args = parser.parse_args(argv)
    for path in write_month(args.out, args.seed, args.split).values():
        print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
