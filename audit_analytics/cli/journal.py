"""``audit-analytics journal`` and ``ledger``: the access journal and the review ledger.

Both are shown and verified; ``verify`` exits 1 on any evidence of tampering.
"""

from __future__ import annotations

import json

import click

from .._text import escape_json, shown
from .app import cli, echo, emit_json
from .options import json_option, policy_option, since_option

#: Characters of one value shown in a table column before it is clipped.
COLUMN_WIDTH = 60


def _show(frame, columns: list[str], limit: int | None, as_json: bool) -> None:
    frame = frame.tail(limit) if limit else frame
    if as_json:  # exact values: JSON escapes, never the terminal's
        text = frame.to_json(orient="records", date_format="iso", lines=True)
        click.echo(escape_json(text.rstrip("\n"))) if text.strip() else None
        return
    if frame.empty:
        echo("(empty)")
        return
    # every value on one line of its row, every character visible, clipped to the column
    cells = frame[columns].map(lambda v: shown(v, COLUMN_WIDTH - 1, count=False)
                               if isinstance(v, str) else v)
    echo(cells.to_string(index=False, max_colwidth=COLUMN_WIDTH))


@cli.group()
def journal() -> None:
    """The access journal: every read of an audit log made with this toolkit."""


@journal.command("show")
@click.option("--source", default=None, help="Only reads of this source.")
@since_option("Only entries at or after this time.")
@click.option("-n", "--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="Show the last N entries (0: all).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def journal_show(source, since, limit, as_json) -> int:
    """List journal entries: when, who, what, which source, result."""
    from ..periods import parse_when
    from ..trail.journal import Journal

    frame = Journal().access_rows(source, since=parse_when(since, "UTC", what="--since"))
    _show(frame, ["timestamp", "actor_id", "action", "resource_id", "result", "command"],
          limit, as_json)
    return 0


@journal.command("verify")
@json_option("verification result")
def journal_verify(json_target) -> int:
    """Re-verify the journal's hash chain; exit 1 on any evidence of tampering."""
    from ..trail.journal import Journal

    book = Journal()
    result = book.verify()
    if result is None:
        if json_target:
            emit_json({"ok": True, "rows": 0, "path": str(book.path)}, json_target)
        if json_target != "-":
            echo(f"{book.path}: empty (no access recorded yet)")
        return 0
    if json_target:
        emit_json(result.to_dict(), json_target)
    if json_target != "-":
        echo(result.summary())
    return 0 if result.ok else 1


@cli.group()
def ledger() -> None:
    """The review ledger: every report produced, with its SHA-256."""


@ledger.command("show")
@click.option("-n", "--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="Show the last N entries (0: all).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def ledger_show(limit, as_json) -> int:
    """List recorded reports: period, source, version, who, when, SHA-256."""
    from ..trail.ledger import Ledger

    frame = Ledger().entries()
    _show(frame, ["timestamp", "actor_id", "period", "source", "version", "status", "sha256"],
          limit, as_json)
    return 0


@ledger.command("verify")
@click.option("--no-files", is_flag=True, help="Do not re-hash the recorded report files.")
@json_option("verification result")
def ledger_verify(no_files, json_target) -> int:
    """Re-verify the ledger's chain and the recorded reports; exit 1 on tampering."""
    from ..trail.ledger import Ledger

    outcome = Ledger().verify(check_files=not no_files)
    if json_target:
        emit_json(outcome.to_dict(), json_target)
    if json_target != "-":
        echo(outcome.summary())
    return 0 if outcome.ok else 1


@ledger.command("cadence")
@policy_option("Policy (PCI DSS: daily reviews; otherwise monthly).")
@click.option("--cadence", type=click.Choice(["daily", "weekly", "monthly"]), default=None,
              help="Override the policy's review cadence.")
@click.option("--source", default=None, help="Only reviews of this source.")
@since_option("First period expected (default: the first recorded review).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def ledger_cadence(policy, cadence, source, since, as_json) -> int:
    """Were reviews done on schedule? Exit 1 when a due period was missed."""
    from ..checks import parse_when
    from ..policy import Policy
    from ..trail.cadence import review_cadence
    from ..trail.ledger import Ledger

    loaded = Policy.load(policy)
    result = review_cadence(Ledger(), loaded, source=source, cadence=cadence,
                            since=parse_when(since, loaded.timezone, what="--since"))
    if as_json:
        click.echo(escape_json(json.dumps(result.to_dict(), indent=2, default=str)))
    else:
        echo(f"review_cadence: {result.status.upper()}: {shown(result.summary, 2000)}")
        for row in result.findings.head(20).itertuples(index=False):
            echo(f"  - {row.period}: {row.state} (due {row.due:%Y-%m-%d %H:%M %Z})")
        if len(result.findings) > 20:
            echo(f"  ... and {len(result.findings) - 20} more (use --json for all)")
    return 1 if result.status == "fail" else 0
