"""``audit-analytics cloudtrail``: validate a trail's digests offline, fetch a range locally."""

from __future__ import annotations

import click

from .app import cli, echo, emit_json
from .options import json_option


@cli.group()
def cloudtrail() -> None:
    """AWS CloudTrail: validate digests and log files offline, fetch a range."""


@cloudtrail.command()
@click.argument("location")
@click.option("--public-keys", "public_keys", required=True, metavar="KEYS.json",
              type=click.Path(dir_okay=False),
              help="What 'aws cloudtrail list-public-keys' printed for the range.")
@click.option("--start-time", default=None, metavar="ISO",
              help="Validate digests delivered at or after this UTC time.")
@click.option("--end-time", default=None, metavar="ISO",
              help="Validate digests delivered up to this UTC time (default: now).")
@click.option("--account", default=None, metavar="ID", help="Only this account's files.")
@click.option("--region", default=None, metavar="R", help="Only this region's files.")
@click.option("--allow-unsigned", is_flag=True,
              help="Accept digests without a signature to check (a plain copy): exit 0 "
                   "when hashes and chain hold.")
@json_option("validation")
@click.pass_context
def validate(ctx, location, public_keys, start_time, end_time, account, region,
             allow_unsigned, json_target) -> int:
    """Validate LOCATION's digest files and log files; exit 1 when any is invalid.

    LOCATION is s3://bucket[/prefix] or a local folder with the same layout
    (AWSLogs/ACCOUNT/CloudTrail/... and AWSLogs/ACCOUNT/CloudTrail-Digest/...).
    """
    from ..cloudtrail.api import validate_cloudtrail

    result = validate_cloudtrail(location, public_keys, start_time=start_time,
                                 end_time=end_time, account=account, region=region,
                                 allow_unsigned=allow_unsigned, progress=ctx.obj["progress"])
    if json_target:
        emit_json(result.to_dict(), json_target)
    if json_target != "-":
        echo(result.text(), tabs=True)  # tab-separated like validate-logs, values escaped
    return 0 if result.ok else 1


@cloudtrail.command()
@click.argument("location")
@click.option("--to", "target", required=True, metavar="DIR",
              type=click.Path(file_okay=False), help="The local folder to copy into.")
@click.option("--start-time", default=None, metavar="ISO",
              help="Copy files delivered at or after this UTC time.")
@click.option("--end-time", default=None, metavar="ISO",
              help="Copy files delivered up to this UTC time (default: now).")
@click.option("--account", default=None, metavar="ID", help="Only this account's files.")
@click.option("--region", default=None, metavar="R", help="Only this region's files.")
@click.pass_context
def fetch(ctx, location, target, start_time, end_time, account, region) -> int:
    """Copy a range of an S3 trail into DIR, each digest's signature stored beside it."""
    from ..cloudtrail.api import fetch_cloudtrail

    copied = fetch_cloudtrail(location, target, start_time=start_time, end_time=end_time,
                              account=account, region=region, progress=ctx.obj["progress"])
    echo(f"{copied['digests']} digest file(s) and {copied['log_files']} log file(s) copied "
         f"to {target}")
    return 0
