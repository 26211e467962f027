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
@click.option("--public-key", "public_key", default=None, metavar="FILE",
              help="An archive's public key: its manifest's signatures are checked too.")
@click.option("--expect-head", "expect_head", default=None, metavar="SHA256",
              help="An archive's manifest head kept elsewhere: its absence is 'truncated'.")
@click.pass_context
def verify(ctx, source, profile, anchor, json_target, table, since, until, workers, scheduler,
           public_key, expect_head) -> int:
    """Re-verify SOURCE's hash chain; exit 1 on any evidence of tampering.

    A folder holding an archive's manifest.jsonl is checked as an archive: the manifest,
    every part file's bytes, rows and boundaries (the manifest's entries as anchors).
    """
    from ..archive.spotcheck import is_archive
    from ..chain.anchors import load_anchors
    from ..session import AuditLog

    if workers is not None and scheduler is not None:
        raise click.UsageError("--workers and --scheduler exclude each other")
    if is_archive(source):
        return _verify_archive(ctx, source, profile, anchor, json_target, public_key,
                               expect_head, workers=workers,
                               scheduler=scheduler)
    if public_key or expect_head:
        raise click.UsageError("--public-key and --expect-head apply to archive folders "
                               "(holding manifest.jsonl) only")

    anchors = load_anchors(anchor) if anchor else None
    window = {k: v for k, v in (("since", since), ("until", until)) if v is not None}
    with AuditLog(source, table=table, progress=ctx.obj["progress"],
                  profile=profile, **window) as audit:
        result = audit.verify(profile=profile, anchors=anchors, workers=workers,
                              scheduler=scheduler)
    if json_target:
        emit_json(result.to_dict(), json_target)
    if json_target != "-":
        echo(result.summary())
    return 0 if result.ok else 1


def _verify_archive(ctx, source, profile, anchor, json_target, public_key, expect_head,
                    **verify_options) -> int:
    from ..archive.spotcheck import check_archive
    from ..archive.store import ArchiveStore

    if anchor:
        raise click.UsageError("--anchor does not apply to an archive folder: its manifest's "
                               "entries are the anchors (keep its head for --expect-head)")
    ArchiveStore(source).refuse_inside(json_target)
    result = check_archive(source, public_key, everything=True, expect_head=expect_head,
                           profile=None if profile == "auto" else profile,
                           progress=ctx.obj["progress"], **verify_options)
    if json_target:
        emit_json(result.to_dict(), json_target)
    if json_target != "-":
        echo(result.summary())
    return 0 if result.ok else 1
