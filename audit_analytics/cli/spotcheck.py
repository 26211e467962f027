"""``audit-analytics spot-check``: an archive's manifest and K of its part files, checked."""

from __future__ import annotations

import click

from .app import cli, echo, emit_json
from .options import json_option


@cli.command("spot-check")
@click.argument("archive_dir", metavar="DIR")
@click.option("--public-key", "public_key", required=True, metavar="PREFIX.pub",
              help="The archive's Ed25519 public key (from keygen).")
@click.option("--sample", type=click.IntRange(min=1), default=None, metavar="K",
              help="Check K part files chosen at random (default 10).")
@click.option("--all", "everything", is_flag=True, help="Check every part file.")
@click.option("--seed", type=int, default=None, metavar="N",
              help="Seed the choice: the same seed picks the same files (default: drawn "
                   "and reported).")
@click.option("--expect-head", "expect_head", default=None, metavar="SHA256",
              help="The manifest head kept from an archive run: its absence is 'truncated'.")
@json_option()
@click.pass_context
def spot_check(ctx, archive_dir, public_key, sample, everything, seed, expect_head,
               json_target) -> int:
    """Check DIR's signed manifest and K part files; exit 1 on any evidence of tampering."""
    from ..archive.spotcheck import check_archive
    from ..archive.store import ArchiveStore

    if everything and sample is not None:
        raise click.UsageError("--sample and --all exclude each other")
    ArchiveStore(archive_dir).refuse_inside(json_target)
    result = check_archive(archive_dir, public_key, sample=sample, everything=everything,
                           seed=seed, expect_head=expect_head, progress=ctx.obj["progress"])
    if json_target:
        emit_json(result.to_dict(), json_target)
    if json_target != "-":
        echo(result.summary())
    return 0 if result.ok else 1
