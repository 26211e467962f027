"""``audit-analytics verify``: re-verify a source's hash chain."""

from __future__ import annotations

import click

from .app import cli, echo, emit_json
from .options import (
    anchor_option,
    json_option,
    profile_option,
    since_option,
    table_option,
    until_option,
)


@cli.command()
@click.argument("source")
@profile_option()
@anchor_option()
@json_option()
@table_option()
@since_option("PostgreSQL only: verify events at or after this time (a link to a row "
              "before the window starts a window_start segment).")
@until_option("PostgreSQL only: verify events before this time.")
@click.option("--workers", default=None, type=click.IntRange(min=1), metavar="N",
              help="Scan the source's files on N local processes (default: one per core "
                   "for a large folder of files).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Scan the source's files on the Dask cluster of this scheduler "
                   "(tcp://host:8786); its workers read the files from the same paths.")
@click.pass_context
def verify(ctx, source, profile, anchor, json_target, table, since, until, workers,
           scheduler) -> int:
    """Re-verify SOURCE's hash chain; exit 1 on any evidence of tampering."""
    from ..chain.anchors import load_anchors
    from ..session import AuditLog

    if workers is not None and scheduler is not None:
        raise click.UsageError("--workers and --scheduler exclude each other")
    anchors = load_anchors(anchor) if anchor else None
    window = {k: v for k, v in (("since", since), ("until", until)) if v is not None}
    with AuditLog(source, table=table, progress=ctx.obj["progress"], **window) as audit:
        result = audit.verify(profile=profile, anchors=anchors, workers=workers,
                              scheduler=scheduler)
    if json_target:
        emit_json(result.to_dict(), json_target)
    if json_target != "-":
        echo(result.summary())
    return 0 if result.ok else 1
