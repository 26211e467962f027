"""``audit-analytics report``: write one period's review report (HTML, JSON, PDF)."""

from __future__ import annotations

import click

from .app import cli, echo
from .options import (
    anchor_option,
    archive_options,
    archive_source_options,
    cloudtrail_options,
    cloudtrail_source_options,
    fail_on_option,
    policy_option,
    profile_option,
    table_option,
)

FAIL_ON = {"fail": ("fail",), "warn": ("warn", "fail")}


@cli.command()
@click.argument("source")
@click.option("--period", required=True, metavar="PERIOD",
              help="YYYY-MM, YYYY-Www (ISO week), YYYY-MM-DD, last-day, last-week or "
                   "last-month (calendar of the policy's time zone).")
@policy_option("Policy file or built-in name (default, hipaa, pci_dss, soc2, cloudtrail).")
@click.option("--out", "out_dir", default="reports", show_default=True, metavar="DIR",
              help="Folder to write the report into (created if needed).")
@click.option("--format", "formats", default="html,json", show_default=True,
              metavar="html,json,csv,pdf", help="Comma-separated output formats.")
@click.option("--framework", default="all", show_default=True, metavar="soc2|hipaa|pci_dss|all",
              help="Framework of the control matrix (its controls, each with its status).")
@profile_option()
@anchor_option()
@table_option()
@fail_on_option(("fail", "warn"),
                "Exit 1 when a check of the period ended in this status (or worse).")
@click.option("--replace", is_flag=True,
              help="Overwrite the period's latest report instead of writing a new version.")
@cloudtrail_options
@archive_options
@click.pass_context
def report(ctx, source, period, policy, out_dir, formats, framework, profile, anchor, table,
           fail_on, replace, public_keys, start_time, end_time, public_key,
           expect_head) -> int:
    """Write SOURCE's review report for PERIOD into --out and record it in the ledger.

    Files are named by period (audit-report_2024-01.html and .json; .csv holds the
    first 10,000 findings of each check, .pdf the printable report). A second run for a
    period never replaces the first: it writes audit-report_2024-01_v2.html and says so
    (--replace overwrites instead). Prints the written paths. Exit 0 on success, 1 only
    with --fail-on when a check reached that status, 2 on bad input or unwritable output.
    """
    from ..chain.anchors import load_anchors
    from ..chain.profiles import load_profile
    from ..periods import parse_period
    from ..policy import Policy
    from ..report import build_report, check_formats
    from ..report.controls import check_framework
    from ..report.write import probe_out_dir
    from ..session import AuditLog

    # Everything that can be refused is refused before the work starts.
    chosen = check_formats(formats)
    framework = check_framework(framework)
    loaded = Policy.load(policy)
    span = parse_period(period, tz=loaded.timezone)
    anchors = load_anchors(anchor) if anchor else None
    if profile != "auto":
        load_profile(profile)
    probe_out_dir(out_dir)
    with AuditLog(source, table=table, progress=ctx.obj["progress"],
                  profile=profile,
                  **cloudtrail_source_options(public_keys, start_time, end_time),
                  **archive_source_options(public_key, expect_head)) as audit:
        if policy is None and getattr(audit.source, "default_policy", None):
            loaded = Policy.load(audit.source.default_policy)  # the source's own preset
        built = build_report(audit, span, policy=loaded, anchors=anchors, profile=profile,
                             framework=framework)
        written = built.write(out_dir, chosen, replace=replace)
    if written.version > 1 and not written.replaced:
        echo(f"audit-analytics: a report for {span.label} already exists in {out_dir}: "
                   f"wrote version {written.version} (use --replace to overwrite)", err=True)
    elif written.replaced:
        echo(f"audit-analytics: replaced the report for {span.label} (version "
                   f"{written.version})", err=True)
    if built.empty:
        echo(f"audit-analytics: no events in {span.label}: the report says so", err=True)
    for path in written.paths.values():
        echo(str(path))
    if fail_on and built.status in FAIL_ON[fail_on]:
        return 1
    return 0
