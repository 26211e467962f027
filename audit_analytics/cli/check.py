"""``audit-analytics check``: run the compliance checklist over a source.

Exit codes (a contract): 0 whatever was found, unless ``--fail-on`` is given and the
worst status reaches it (then 1); 2 on bad input (unreadable source, invalid policy,
unknown check, unparsable ``--since``/``--until``). A window without events is reported
explicitly: every check gets ``warn`` and the summary "no events in the window".
``--json`` keeps each check's first 1,000 findings with their count (``findings_total``),
like every other list it holds (:mod:`audit_analytics._caps`).
"""

from __future__ import annotations

import click

from .app import cli, echo, emit_json
from .options import (
    PROFILE_HELP,
    anchor_option,
    archive_options,
    archive_source_options,
    cloudtrail_options,
    cloudtrail_source_options,
    fail_on_option,
    json_option,
    policy_option,
    profile_option,
    since_option,
    table_option,
    until_option,
)


@cli.command()
@click.argument("source")
@policy_option("Policy file, or a built-in policy: default, hipaa, pci_dss, soc2, cloudtrail.")
@since_option("Start of the checked window (inclusive); naive times are in the "
              "policy's time zone.")
@until_option("End of the checked window (exclusive).")
@click.option("--only", "only", multiple=True, metavar="CHECK",
              help="Run only this check (repeatable).")
@json_option()
@fail_on_option(("warn", "fail"), "Exit 1 when any check ends with this status or worse.")
@profile_option(None, "chain_integrity: " + PROFILE_HELP)
@anchor_option("chain_integrity: trusted anchors, JSON lines of {\"id\", \"hash\"}.")
@table_option()
@cloudtrail_options
@archive_options
@click.pass_context
def check(ctx, source, policy, since, until, only, json_target, fail_on, profile, anchor,
          table, public_keys, start_time, end_time, public_key, expect_head) -> int:
    """Run the compliance checklist over SOURCE."""
    from .._caps import LISTED
    from ..chain.anchors import load_anchors
    from ..checks import CHECKS, STATUSES, run_checks
    from ..checks.runner import parse_when
    from ..errors import PeriodError, PolicyError
    from ..policy import Policy
    from ..session import AuditLog

    loaded = Policy.load(policy)  # validate everything before opening the source
    start = parse_when(since, loaded.timezone, what="--since")
    end = parse_when(until, loaded.timezone, what="--until")
    if start and end and end <= start:
        raise PeriodError(f"--until ({end.isoformat()}) must be after --since "
                          f"({start.isoformat()})")
    unknown = [name for name in only if name not in CHECKS]
    if unknown:
        raise PolicyError(f"unknown check {unknown[0]!r} (known: {', '.join(CHECKS)})",
                          check=unknown[0])
    anchors = load_anchors(anchor) if anchor else None
    with AuditLog(source, table=table, progress=ctx.obj["progress"],
                  profile=profile or "auto",
                  **cloudtrail_source_options(public_keys, start_time, end_time),
                  **archive_source_options(public_key, expect_head)) as audit:
        if policy is None and getattr(audit.source, "default_policy", None):
            loaded = Policy.load(audit.source.default_policy)  # the source's own preset
        result = run_checks(audit, loaded, since=since, until=until, only=list(only) or None,
                            profile=profile, anchors=anchors)
    if json_target:  # each check's first findings, with their count
        emit_json(result.to_dict(LISTED), json_target)
    if json_target != "-":
        echo(result.summary())
    if fail_on and STATUSES.index(result.worst) >= STATUSES.index(fail_on):
        return 1
    return 0
