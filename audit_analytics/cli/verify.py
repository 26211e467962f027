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
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Scan the source's files on N local processes.")
@click.pass_context
def verify(ctx, source, profile, anchor, json_target, table, since, until, workers) -> int:
    """Re-verify SOURCE's hash chain; exit 1 on any evidence of tampering."""
    from ..chain.anchors import load_anchors
    from ..session import AuditLog

    anchors = load_anchors(anchor) if anchor else None
    window = {k: v for k, v in (("since", since), ("until", until)) if v is not None}
    with AuditLog(source, table=table, progress=ctx.obj["progress"],
                  profile=profile, **window) as audit:
        result = audit.verify(profile=profile, anchors=anchors, workers=workers)
    if json_target:
        emit_json(result.to_dict(), json_target)
    if json_target != "-":
        echo(result.summary())
    return 0 if result.ok else 1
