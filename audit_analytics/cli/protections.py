"""``audit-analytics protections``: grade what keeps a PostgreSQL audit table unchanged."""

from __future__ import annotations

import click

from .app import cli, echo, emit_json
from .options import json_option, table_option


@cli.command()
@click.argument("source")
@table_option("The audit table, optionally schema-qualified.", default="audit_logs")
@json_option("report")
def protections(source, table, json_target) -> int:
    """Inspect triggers, grants and roles of SOURCE's table; exit 1 if any item fails."""
    import re

    from ..errors import SourceError
    from ..sources.protections import inspect_protections

    if not re.match(r"^postgres(ql)?(\+\w+)?://", source):
        raise SourceError("protections needs a postgresql:// URL", source=source)
    report = inspect_protections(source, table)
    if json_target:
        emit_json(report.to_dict(), json_target)
    if json_target != "-":
        echo(report.summary())
    return 0 if report.ok else 1
