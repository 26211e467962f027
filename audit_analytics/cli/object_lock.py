"""``audit-analytics object-lock``: grade an S3 bucket's WORM setup (Object Lock, retention).

Exit codes (a contract): 0 with no ``fail`` finding, 1 with any, 2 on bad input (not an
``s3://`` location, a missing bucket, denied access, an invalid policy).
"""

from __future__ import annotations

import click

from .app import cli, echo, emit_json
from .options import json_option, policy_option


@cli.command("object-lock")
@click.argument("location", metavar="s3://BUCKET[/PREFIX]")
@policy_option("Policy whose retention regime is required (hipaa: 6 years, pci_dss: 12 "
               "months, soc2: as configured; default: the default policy).")
@click.option("--max-objects", type=click.IntRange(min=0), default=None, metavar="N",
              help="Check the retention of at most N objects under PREFIX (default 10000).")
@json_option("report")
def object_lock(location, policy, max_objects, json_target) -> int:
    """Grade versioning, Object Lock and retention of a bucket and the objects under PREFIX."""
    from ..policy import Policy
    from ..storage.object_lock import DEFAULT_MAX_OBJECTS, inspect_object_lock

    loaded = Policy.load(policy)  # validate the policy before any request
    report = inspect_object_lock(location, loaded, max_objects=DEFAULT_MAX_OBJECTS
                                 if max_objects is None else max_objects)
    if json_target:
        emit_json(report.to_dict(), json_target)
    if json_target != "-":
        echo(report.summary())
    return 0 if report.ok else 1
