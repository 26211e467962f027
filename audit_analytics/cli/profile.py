"""``audit-analytics profile test``: try a hash profile on a source, row by row."""

from __future__ import annotations

import click

from .app import cli, echo, emit_json
from .options import json_option, table_option


@cli.group()
def profile() -> None:
    """Write and check hash profiles for a producer's chain."""


@profile.command("test")
@click.argument("source")
@click.option("--profile", "profile_spec", required=True, metavar="FILE.toml|NAME",
              help="The profile to try: a FILE.toml, a built-in name, or auto.")
@click.option("--rows", default=5, show_default=True, type=click.IntRange(min=1),
              help="Rows whose text and digests are shown.")
@table_option()
@json_option("rows, match rate and hints")
@click.pass_context
def test(ctx, source, profile_spec, rows, table, json_target) -> int:
    """Show the text a profile builds for SOURCE's rows and whether their hashes match.

    Exit 0 when every sampled row matches, 1 when some do not, 2 on bad input.
    """
    from ..session import AuditLog

    with AuditLog(source, table=table, progress=ctx.obj["progress"],
                  profile=profile_spec) as audit:
        probe = audit.probe_profile(profile_spec, rows=rows)
    if json_target:
        emit_json(probe.to_dict(), json_target)
    if json_target != "-":
        echo(probe.summary())
    return 0 if probe.ok else 1
