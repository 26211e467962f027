"""Small files a user hands the toolkit (policies, profiles, anchors), read safely.

Every such file is read through :func:`read_small_file`, so that a path naming something
other than a small regular file is a one-line error, never a hang or an exhausted memory:

- the path is opened with ``O_NONBLOCK`` (opening a FIFO never waits for a writer) and the
  *opened descriptor* is checked with ``fstat`` (no window between a check and the read);
  anything but a regular file after symlinks are resolved (a FIFO, a device such as
  ``/dev/zero``, a socket, a directory) is refused;
- at most ``limit`` bytes are accepted: the size on record is checked first and the read
  stops one byte past the limit, so a file that grows while it is read is refused too;
- the bytes must be UTF-8.

The limits sit far above any real file of each kind: :data:`TOML_LIMIT` (1 MiB) for
policies and profiles, a few hundred bytes to a few KiB in practice; :data:`ANCHOR_LIMIT`
(64 MiB) for anchor files, about 150 bytes a checkpoint, so an hourly anchor kept for
fifty years still fits.

:func:`read_toml` parses a TOML file read that way. Python's TOML and JSON parsers
recurse once per nested array or table, so a file nested thousands deep would exhaust
the interpreter's stack: that is reported as a nesting too deep for such a file.
"""

from __future__ import annotations

import errno
import os
import stat
import tomllib
from pathlib import Path

from .errors import AuditAnalyticsError

__all__ = ["ANCHOR_LIMIT", "TOML_LIMIT", "default_home", "file_kind", "read_small_file",
           "read_toml"]

#: Largest policy or profile file accepted, in bytes.
TOML_LIMIT = 1 << 20
#: Largest anchor file accepted, in bytes.
ANCHOR_LIMIT = 64 << 20

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """The kind of file a ``st_mode`` names: ``"a FIFO"``, ``"a directory"``..."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"


def read_small_file(path: str | os.PathLike, *, what: str, limit: int,
                    error: type[AuditAnalyticsError], missing: str | None = None) -> str:
    """The UTF-8 text of a small regular file, or ``error`` with a one-line message.

    Parameters
    ----------
    path
        The file (a symlink is followed to its target).
    what
        What the file is, for messages: ``"policy file"``, ``"anchor file"``...
    limit
        The largest size accepted, in bytes.
    error
        The exception class raised (it gets a ``path`` field).
    missing
        The message when the file does not exist (default: "``what`` not found: path").

    Raises
    ------
    AuditAnalyticsError
        ``error``: the file is missing, unreadable, not a regular file, larger than
        ``limit`` or not UTF-8.
    """
    shown = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(missing or f"{what} not found: {shown}", path=shown) from None
    except OSError as exc:
        reason = "a directory" if exc.errno == errno.EISDIR else (exc.strerror or str(exc))
        raise error(f"cannot read {what} {shown}: {reason}", path=shown) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"cannot read {what} {shown}: {file_kind(info.st_mode)}, not a regular "
                        "file", path=shown)
        if info.st_size > limit:
            raise error(f"cannot read {what} {shown}: {info.st_size} bytes, more than the "
                        f"{_size(limit)} such a file can be", path=shown)
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise error(f"cannot read {what} {shown}: more than the {_size(limit)} such a "
                        "file can be", path=shown)
    except OSError as exc:
        raise error(f"cannot read {what} {shown}: {exc.strerror or exc}", path=shown) from None
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"cannot read {what} {shown}: not UTF-8 text (byte {exc.start})",
                    path=shown) from None


def read_toml(path: str | os.PathLike, *, what: str, error: type[AuditAnalyticsError],
              missing: str | None = None) -> dict:
    """Read and parse a TOML file through :func:`read_small_file` (limit :data:`TOML_LIMIT`).

    Raises
    ------
    AuditAnalyticsError
        ``error``: the file cannot be read (see :func:`read_small_file`), is not valid
        TOML or nests arrays or tables too deeply to parse.
    """
    shown = str(path)
    text = read_small_file(path, what=what, limit=TOML_LIMIT, error=error, missing=missing)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what} {shown} is not valid TOML: {exc}", path=shown) from None
    except RecursionError:
        raise error(f"{what} {shown} nests arrays or tables too deeply", path=shown) from None


def default_home(home: str | os.PathLike | None = None) -> Path:
    """Where the ledger and journal live.

    ``home`` if given, else ``$AUDIT_ANALYTICS_HOME``, else
    ``$XDG_DATA_HOME/audit_analytics`` or ``~/.local/share/audit_analytics``.
    """
    if home:
        return Path(home).expanduser()
    if env := os.environ.get("AUDIT_ANALYTICS_HOME"):
        return Path(env).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "audit_analytics"
