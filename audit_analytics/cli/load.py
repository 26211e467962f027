"""``audit-analytics load``: append a source's new events to a DuckDB file."""

from __future__ import annotations

import click

from .app import cli, echo, emit_json
from .options import json_option, since_option, table_option, until_option


@cli.command()
@click.argument("source")
@click.option("--into", "target", required=True, metavar="FILE.duckdb",
              help="The DuckDB file to append to (created when absent).")
@table_option("Source table (default audit_logs).")
@since_option("Only events at or after this time (PostgreSQL sources).")
@until_option("Only events before this time (PostgreSQL sources).")
@click.option("--overlap", default=60, show_default=True, type=click.IntRange(min=0),
              metavar="MINUTES",
              help="Re-read this far before the last loaded event (late writers); "
                   "rows already loaded are skipped.")
@click.option("--wait", default=300, show_default=True, type=click.FloatRange(min=0),
              metavar="SECONDS",
              help="Wait this long for another load of FILE.duckdb to finish, then exit 2.")
@json_option()
@click.pass_context
def load(ctx, source, target, table, since, until, overlap, wait, json_target) -> int:
    """Append SOURCE's new events to FILE.duckdb; a failed load leaves it unchanged."""
    from datetime import timedelta

    from ..load import load_into

    longest = timedelta.max // timedelta(minutes=1)  # a larger overlap re-reads everything too
    result = load_into(source, target, source_table=table, since=since, until=until,
                       progress=ctx.obj["progress"],
                       overlap=timedelta(minutes=min(overlap, longest)), wait=wait)
    if json_target:
        emit_json(result.to_dict(), json_target)
    if json_target != "-":
        echo(result.summary())
    return 0
