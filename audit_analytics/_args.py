"""Arguments of the public API checked at the door: one-line :class:`UsageError` messages.

Each check returns the value (converted where that is lossless: a path-like to text) or
raises :class:`~audit_analytics.errors.UsageError` naming the parameter and what it
accepts. Values are shown escaped and clipped: an argument may come from a log.
"""

from __future__ import annotations

import os
from datetime import timedelta
from numbers import Real

from ._text import shown
from .errors import UsageError

__all__ = ["audit_log", "count", "duration", "flag", "number", "path", "policy", "text"]


def _seen(value) -> str:
    return shown(repr(value), 80)


def _fail(argument: str, expected: str, value) -> UsageError:
    return UsageError(f"{argument} must be {expected}, not {_seen(value)}", argument=argument)


def text(value, argument: str, *, optional: bool = False, empty: bool = False) -> str | None:
    """``value`` when it is a string (non-blank unless ``empty``); ``None`` when ``optional``."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _fail(argument, "text", value)
    if not empty and not value.strip():
        raise UsageError(f"{argument} must not be empty", argument=argument)
    return value


def path(value, argument: str, *, optional: bool = False,
         expected: str = "a path (text or os.PathLike)") -> str | os.PathLike | None:
    """``value`` when it is a non-empty string or path-like object.

    ``expected`` says what the argument takes, for the message.
    """
    if value is None and optional:
        return None
    if isinstance(value, os.PathLike):
        value_text = os.fspath(value)
        if isinstance(value_text, bytes) or not value_text:
            raise _fail(argument, expected, value)
        return value
    if not isinstance(value, str):
        raise _fail(argument, expected, value)
    if not value.strip():
        raise UsageError(f"{argument} must not be empty", argument=argument)
    return value


def count(value, argument: str, *, minimum: int = 0, optional: bool = False) -> int | None:
    """``value`` when it is a whole number (not a bool) of at least ``minimum``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(argument, f"a whole number of at least {minimum}", value)
    return int(value)


def number(value, argument: str, *, minimum: float = 0, optional: bool = False
           ) -> float | None:
    """``value`` when it is a finite real number (not a bool) of at least ``minimum``."""
    if value is None and optional:
        return None
    if (isinstance(value, bool) or not isinstance(value, Real) or value != value
            or value in (float("inf"), float("-inf")) or value < minimum):
        raise _fail(argument, f"a number of at least {minimum:g}", value)
    return float(value)


def duration(value, argument: str) -> timedelta:
    """``value`` when it is a ``timedelta`` of zero or more."""
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise _fail(argument, "a datetime.timedelta of zero or more", value)
    return value


def flag(value, argument: str, *, optional: bool = False) -> bool | None:
    """``value`` when it is ``True`` or ``False`` (or ``None`` when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, bool):
        raise _fail(argument, "True or False", value)
    return value


def audit_log(value, argument: str = "log"):
    """``value`` when it is an opened log: what an AuditLog offers (or a view of one)."""
    if all(hasattr(value, name) for name in ("source", "engine", "columns", "verify")):
        return value
    raise UsageError(f"{argument} must be an opened AuditLog (audit_analytics.open), not "
                     f"{type(value).__name__}", argument=argument)


def policy(value, default=None, argument: str = "policy"):
    """``value`` as a Policy: itself, or loaded (``Policy.load``); ``None`` is ``default``."""
    from .policy import Policy

    value = default if value is None else value
    if isinstance(value, Policy):
        return value
    if value is not None and not isinstance(value, str | os.PathLike):
        raise UsageError(f"{argument} must be a Policy, a TOML path or a built-in name, not "
                         f"{type(value).__name__}", argument=argument)
    return Policy.load(value)
