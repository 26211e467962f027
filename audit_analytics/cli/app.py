"""The ``audit-analytics`` command: parse arguments, call the API, format the answer.

The group and the error handling; the subcommands (one module each, registered by the
package, which imports them) only parse, call the Python API and format.

Exit codes: 0 success (verify: intact), 1 findings (verify: evidence of tampering;
check/report: only with ``--fail-on``), 2 bad input, usage error or unreadable source,
3 an internal error. Errors are one line on stderr, never a traceback.

Human output reaches the terminal through :func:`echo` and the log handler, which show
control, bidi and other invisible characters as escapes (values are escaped where they
are formatted; this is the last guard). JSON is exact: such characters are written as
JSON unicode escapes, which parse back to the same values.
"""

from __future__ import annotations

import json
import logging
import os
import sys

import click

from .._io import inputs_guarded, write_atomic
from .._secrets import mask_secrets
from .._text import escape_json, shown, terminal_text
from .._version import __version__
from ..errors import AuditAnalyticsError

__all__ = ["cli", "echo", "emit_json", "main"]

log = logging.getLogger("audit_analytics")

#: Characters of an error or log message shown before it is clipped.
MESSAGE_LIMIT = 2000


def echo(text: str, err: bool = False, *, tabs: bool = False) -> None:
    """Print human output: every control, bidi or invisible character shown as an escape.

    Parameters
    ----------
    text
        Lines to print; its newlines are kept (values inside were escaped already).
    err
        Print to stderr instead of stdout.
    tabs
        Keep tabs too: ``text`` is tab-separated columns whose values were escaped.
    """
    click.echo(terminal_text(str(text), tabs=tabs), err=err)


def _line(message: str) -> str:
    """One line of an error message, values in it escaped and clipped."""
    return shown(message, MESSAGE_LIMIT)


class _MessageFormatter(logging.Formatter):
    """Log lines with the message made one safe line (a logged value is the log's)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging API)
        record.message = _line(record.message)
        return super().formatMessage(record)


def emit_json(document: dict, target: str) -> None:
    """Write ``document`` as JSON to stdout (``-``) or to a path by the one output rule.

    A regular file or new path is replaced atomically, a symbolic link written through, a
    device or FIFO written directly (see :mod:`audit_analytics._io`). Characters a terminal
    would act on (DEL, C1 controls, bidi controls...) are written as JSON unicode escapes:
    the document parses to exactly the same values.
    """
    text = escape_json(json.dumps(document, indent=2, ensure_ascii=False, default=str)) + "\n"
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(target, text)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="audit-analytics")
@click.option("-v", "--verbose", count=True, help="Log progress details to stderr.")
@click.option("--no-progress", is_flag=True, help="Never show progress bars (for cron).")
@click.option("--actor", default=None, envvar="AUDIT_ANALYTICS_ACTOR",
              help="Who runs this, for the access journal and the review ledger "
                   "(default: $AUDIT_ANALYTICS_ACTOR, else the OS user).")
@click.option("--home", default=None, type=click.Path(file_okay=False),
              help="Folder of the review ledger and access journal (default: "
                   "$AUDIT_ANALYTICS_HOME, else ~/.local/share/audit_analytics).")
@click.pass_context
def cli(ctx: click.Context, verbose: int, no_progress: bool, actor: str | None,
        home: str | None) -> None:
    """Verify, check and report on tamper-evident audit logs."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_MessageFormatter("audit-analytics: %(message)s"))
    logging.basicConfig(level=logging.WARNING - 10 * min(verbose, 2), handlers=[handler])
    ctx.obj = {"progress": False if no_progress else None}
    from ..trail.journal import set_context

    set_context(actor=actor, home=home, command=ctx.invoked_subcommand)


def _small_pages() -> None:
    """Let fresh arrays take ordinary 4 KiB pages, in this process and the workers it starts.

    numpy advises huge pages for large arrays; where the kernel's THP defrag setting is
    ``madvise`` (the usual default) that makes the first touch of new memory compact
    memory synchronously, which measured 3.5x slower than ordinary pages (about 0.4
    CPU-s of a 4M-row verification). An explicit ``NUMPY_MADVISE_HUGEPAGE`` is kept.
    """
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    from numpy._core import multiarray

    setter = getattr(multiarray, "_set_madvise_hugepage", None)
    if setter is not None:
        setter(os.environ["NUMPY_MADVISE_HUGEPAGE"] != "0")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the command, turn errors into one line and an exit code."""
    _small_pages()
    try:
        with inputs_guarded():
            code = cli.main(args=argv, prog_name="audit-analytics", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        echo("audit-analytics: aborted", err=True)
        code = 130
    except click.ClickException as exc:
        echo(f"audit-analytics: error: {_line(mask_secrets(exc.format_message()))}", err=True)
        code = 2
    except AuditAnalyticsError as exc:
        echo(f"audit-analytics: error: {_line(mask_secrets(exc))}", err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        echo("audit-analytics: interrupted", err=True)
        code = 130
    except BrokenPipeError:  # the reader went away: not a finding, not bad input
        code = 141
    except Exception as exc:  # an internal error still gets one line, not a traceback
        log.debug("internal error", exc_info=True)
        echo(f"audit-analytics: internal error: {type(exc).__name__}: {_line(mask_secrets(exc))}",
             err=True)
        code = 3
    sys.exit(code or 0)
