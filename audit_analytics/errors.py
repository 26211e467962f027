"""Errors raised by audit_analytics.

Every error derives from one base, so callers can catch the family at once::

    AuditAnalyticsError                 base; ``exit_code`` 2 for the CLI
    ├── SourceError                     a source cannot be found, opened or read
    │   └── ConnectionFailed            a database refused or dropped the connection
    ├── SchemaError                     a source lacks required columns or has wrong types
    ├── ProfileError                    an unknown, invalid or undetectable hash profile
    ├── AnchorError                     an anchor file that cannot be read or parsed
    ├── PolicyError                     an invalid policy file or an unknown check name
    ├── PeriodError                     an unknown or malformed report period
    ├── OutputError                     an output path that cannot be written
    ├── LedgerError                     a ledger or journal that cannot be read or appended
    ├── ArchiveError                    an archive folder, manifest or key file that is unusable
    ├── ClusterError                    a Dask scheduler that cannot be reached
    ├── QueryError                      the engine (DuckDB) refused or failed a statement
    └── UsageError                      a call with an argument of the wrong type, empty,
                                        out of range or unknown (also a ValueError)

Each error carries the fields an analyst needs (``source``, ``column``, ``path``...) and a
one-line message that never contains credentials.
"""

from __future__ import annotations

__all__ = [
    "AnchorError",
    "ArchiveError",
    "AuditAnalyticsError",
    "ClusterError",
    "ConnectionFailed",
    "LedgerError",
    "OutputError",
    "PeriodError",
    "PolicyError",
    "ProfileError",
    "QueryError",
    "SchemaError",
    "SourceError",
    "UsageError",
    "first_line",
]


class AuditAnalyticsError(Exception):
    """Base of every error raised by audit_analytics."""

    exit_code = 2

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        for key, value in fields.items():
            setattr(self, key, value)

    def __reduce__(self):  # keep the fields across pickling (process pools)
        return (_rebuild, (type(self), self.message, self.fields))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls, message, fields):
    return cls(message, **fields)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class SourceError(AuditAnalyticsError):
    """A source path or URL that does not exist, cannot be opened or cannot be read."""


class ConnectionFailed(SourceError):
    """A database that refused the connection, rejected the login or dropped the session."""


class SchemaError(AuditAnalyticsError):
    """A source whose columns are missing, misnamed or of the wrong type."""


class ProfileError(AuditAnalyticsError):
    """An unknown or invalid hash profile, or one that ``auto`` could not detect."""


class AnchorError(AuditAnalyticsError):
    """An anchor file that cannot be read or holds malformed lines."""


class PolicyError(AuditAnalyticsError):
    """An invalid policy file, an unknown check name or an impossible setting."""


class PeriodError(AuditAnalyticsError):
    """A report period that is unknown or malformed."""


class OutputError(AuditAnalyticsError):
    """An output folder or file that cannot be written."""


class LedgerError(AuditAnalyticsError):
    """A review ledger or access journal that cannot be read or appended to."""


class ArchiveError(AuditAnalyticsError):
    """An archive that cannot be written or checked: no manifest, a bad key file, a clash.

    Tampering is never an error: it is a finding of the check.
    """


class ClusterError(AuditAnalyticsError):
    """A Dask scheduler that cannot be reached, or a cluster run without its package."""


class QueryError(AuditAnalyticsError):
    """A statement the engine refused or could not finish.

    Bad SQL, a value it cannot convert, a file it cannot decode. ``kind`` names DuckDB's
    error class (``ParserException``, ``ConversionException``...).
    """


class UsageError(AuditAnalyticsError, ValueError):
    """A call of the Python API with an argument it cannot take.

    Of the wrong type, empty, negative or out of range, ``None`` where a value is needed,
    or a name the call does not know. ``argument`` names the parameter. Also a
    :class:`ValueError`, Python's own error for a bad argument.
    """
