"""Options several commands share, defined once: each returns a ``click.option`` decorator.

The help text differs where the option means something slightly different for a command
(``--since`` filters PostgreSQL for ``verify``, the checked window for ``check``); the
name, destination and metavar are the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable

import click

__all__ = ["PROFILE_HELP", "anchor_option", "archive_options", "archive_source_options",
           "cloudtrail_options", "cloudtrail_source_options",
           "fail_on_option", "json_option", "policy_option", "profile_option", "since_option",
           "table_option", "until_option"]

PROFILE_HELP = "Hash profile: auto, python-seed, node-seed or a FILE.toml (default: auto)."
_ANCHOR_HELP = "Trusted anchors: JSON lines of {\"id\", \"hash\"}."

Decorator = Callable[[Callable], Callable]


def json_option(what: str = "result") -> Decorator:
    """``--json PATH|-``: write the command's ``what`` as JSON (stdout with ``-``)."""
    return click.option("--json", "json_target", default=None, metavar="PATH|-",
                        help=f"Write the {what} as JSON to PATH, or to stdout with '-'.")


def profile_option(default: str | None = "auto", text: str = PROFILE_HELP) -> Decorator:
    """``--profile``: the hash profile."""
    return click.option("--profile", default=default, show_default=default is not None,
                        help=text)


def anchor_option(text: str = _ANCHOR_HELP) -> Decorator:
    """``--anchor FILE``: trusted ``{"id", "hash"}`` checkpoints."""
    return click.option("--anchor", "anchor", type=click.Path(dir_okay=False), default=None,
                        help=text)


def table_option(text: str = "Database table (default audit_logs).",
                 default: str | None = None) -> Decorator:
    """``--table``: the audit table of a database source."""
    return click.option("--table", default=default, show_default=default is not None,
                        help=text)


def policy_option(text: str) -> Decorator:
    """``--policy FILE.toml|NAME``: a policy file or a built-in policy."""
    return click.option("--policy", "policy", default=None, metavar="FILE.toml|NAME", help=text)


def since_option(text: str) -> Decorator:
    """``--since ISO``: the start of a time window (inclusive)."""
    return click.option("--since", default=None, metavar="ISO", help=text)


def until_option(text: str) -> Decorator:
    """``--until ISO``: the end of a time window (exclusive)."""
    return click.option("--until", default=None, metavar="ISO", help=text)


def fail_on_option(choices: tuple[str, ...], text: str) -> Decorator:
    """``--fail-on STATUS``: exit 1 when a check reaches this status."""
    return click.option("--fail-on", "fail_on", type=click.Choice(list(choices)), default=None,
                        help=text)


def _stacked(*options: Decorator) -> Decorator:
    """One decorator applying ``options`` so that ``--help`` lists them in this order."""
    def apply(func: Callable) -> Callable:
        for option in reversed(options):
            func = option(func)
        return func
    return apply


#: ``--public-keys``, ``--start-time``, ``--end-time``: a CloudTrail source's digests.
cloudtrail_options = _stacked(
    click.option("--public-keys", "public_keys", default=None, metavar="KEYS.json",
                 type=click.Path(dir_okay=False),
                 help="CloudTrail sources: 'aws cloudtrail list-public-keys' output, to "
                      "check the digests' signatures."),
    click.option("--start-time", "start_time", default=None, metavar="ISO",
                 help="CloudTrail sources: read and validate from this UTC time."),
    click.option("--end-time", "end_time", default=None, metavar="ISO",
                 help="CloudTrail sources: read and validate up to this UTC time."),
)

#: ``--public-key``, ``--expect-head``: an archive folder's manifest, checked whole.
archive_options = _stacked(
    click.option("--public-key", "public_key", default=None, metavar="PREFIX.pub",
                 type=click.Path(dir_okay=False),
                 help="Archive folders: the archive's public key, to check the manifest's "
                      "signatures (without it they are not checked, and said so)."),
    click.option("--expect-head", "expect_head", default=None, metavar="SHA256",
                 help="Archive folders: the manifest head kept from an archive run; its "
                      "absence is 'truncated'."),
)


def archive_source_options(public_key, expect_head) -> dict:
    """The archive options given, as source options (none given: none passed)."""
    given = {"public_key": public_key, "expect_head": expect_head}
    return {k: v for k, v in given.items() if v is not None}


def cloudtrail_source_options(public_keys, start_time, end_time) -> dict:
    """The CloudTrail options given, as source options (none given: none passed)."""
    given = {"public_keys": public_keys, "start_time": start_time, "end_time": end_time}
    return {k: v for k, v in given.items() if v is not None}
