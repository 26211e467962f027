"""``audit-analytics keygen`` and ``archive``: signing keys, and a source written as an archive."""

from __future__ import annotations

import click

from .app import cli, echo, emit_json
from .options import json_option, profile_option, since_option, table_option, until_option


@cli.command()
@click.option("--out", "prefix", required=True, metavar="PREFIX",
              help="Write PREFIX.key (private, mode 0600) and PREFIX.pub (public).")
def keygen(prefix) -> int:
    """Make an Ed25519 key pair for signing archive manifests (never overwrites)."""
    from ..archive.keys import generate_keys

    private, public, kid = generate_keys(prefix)
    echo(f"private key: {private} (mode 0600; keep it where the archiver runs)\n"
         f"public key:  {public} (give it to whoever checks the archive)\n"
         f"key id:      {kid}")
    return 0


@cli.command()
@click.argument("source")
@click.option("--to", "target", required=True, metavar="DIR",
              help="The archive folder (created when absent).")
@click.option("--key", "key", required=True, metavar="PREFIX.key",
              help="The Ed25519 private key that signs the manifest (from keygen).")
@click.option("--partition", type=click.Choice(["day", "month"]), default="day",
              show_default=True, help="One folder per UTC day or month.")
@profile_option()
@since_option("Archive only events at or after this time (naive: UTC).")
@until_option("Archive only events before this time (naive: UTC).")
@table_option()
@click.option("--overlap", default=60, show_default=True, type=click.IntRange(min=0),
              metavar="MINUTES",
              help="Re-read this far before the latest archived event (late writers); "
                   "events already archived are skipped.")
@json_option()
@click.pass_context
def archive(ctx, source, target, key, partition, profile, since, until, table, overlap,
            json_target) -> int:
    """Write SOURCE's events not archived yet to DIR as part files and signed manifest lines."""
    from datetime import timedelta

    from ..archive.store import ArchiveStore
    from ..archive.writer import archive_source

    ArchiveStore(target).refuse_inside(json_target)
    longest = timedelta.max // timedelta(minutes=1)
    result = archive_source(source, target, key, partition=partition, profile=profile,
                            since=since, until=until, table=table,
                            overlap=timedelta(minutes=min(overlap, longest)),
                            progress=ctx.obj["progress"])
    if json_target:
        emit_json(result.to_dict(), json_target)
    if json_target != "-":
        echo(result.summary())
    return 0
