"""``audit-analytics reconcile``: two copies of one log compared event by event."""

from __future__ import annotations

import click

from .app import cli, echo, emit_json
from .options import json_option, since_option, table_option, until_option


@cli.command()
@click.argument("source_a")
@click.argument("source_b")
@since_option("Compare only events at or after this time (naive: UTC).")
@until_option("Compare only events before this time (naive: UTC).")
@table_option()
@json_option()
@click.pass_context
def reconcile(ctx, source_a, source_b, since, until, table, json_target) -> int:
    """Check that every event of SOURCE_A is in SOURCE_B with the same hash, and the reverse.

    Exit 0 when they hold the same events, 1 when they differ, 2 on bad input.
    """
    from ..archive.reconcile import reconcile as compare

    result = compare(source_a, source_b, since=since, until=until, table=table,
                     progress=ctx.obj["progress"])
    if json_target:
        emit_json(result.to_dict(), json_target)
    if json_target != "-":
        echo(result.summary())
    return 0 if result.same else 1
