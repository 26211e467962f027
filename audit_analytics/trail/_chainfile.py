"""Append-only JSON-lines files hash-chained like the seed's Python producer.

The review ledger and the access journal are both such files. Each line is one JSON
object holding the seed's hashed fields (``id``, ``timestamp``, ``actor_id``, ``action``,
``resource_type``, ``resource_id``, ``result``, ``prev_hash``) plus details, and a
``hash`` computed with the ``python-seed`` profile (the row-wise reference,
:func:`audit_analytics.chain.canonical.row_digest`). Appends take an exclusive ``flock`` on the
file, read the last entry's hash and write one line, so concurrent writers (cron and an
analyst's notebook) never fork the chain.

The file must be a regular file: a symbolic link, device, FIFO or socket in its place is
refused with a :class:`~audit_analytics.errors.LedgerError` (appending and verifying
alike), and so is a non-empty file holding no entry at all (an unrelated file planted in
its place is never appended to).

Damage never stops the record. When the file ends with lines that are not entries (a
line cut short by a crash or a full disk, or edited), the next entry chains from the last
intact entry before them and is written on a line of its own (a newline is added first
when the file does not end with one); the damaged bytes stay where they are, and
verification reports each of them as ``malformed`` at ``file line N``. Nothing already
written is ever rewritten.

Verification reuses the toolkit's own verifier: the lines become an Arrow table exposed
as a :class:`~audit_analytics.sources.jsonlines.JsonLinesSource`, and findings point at
``file line N``.

A detail the seed's fields cannot hold can still be protected by the chain: appended with
``bind``, it is stored beside the entry and the entry's ``id`` commits to it
(:func:`bound_id`: a version 8 UUID made of the SHA-256 of the previous hash, the
timestamp and the bound values). The ``id`` is hashed, so editing a bound value breaks the
entry's ``id`` (:func:`binding_problem` says so), and editing the ``id`` to match breaks its
hash.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import stat
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .._engine import Engine
from .._files import default_home
from ..chain.canonical import row_digest
from ..chain.profiles import BUILTIN_PROFILES, SEED_FIELDS
from ..errors import LedgerError
from ..sources.jsonlines import JsonLinesSource

__all__ = ["ChainFile", "binding_problem", "bound_id", "default_home"]

log = logging.getLogger("audit_analytics")

PROFILE = BUILTIN_PROFILES["python-seed"]
GENESIS = PROFILE.genesis
_TAIL_CHUNK = 65_536
_DIGEST = re.compile(r"[0-9a-f]{64}")


def _now_text() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class ChainFile:
    """One append-only, hash-chained JSON-lines file.

    Parameters
    ----------
    path
        The file (created with its folder on the first append, mode 0600).
    what
        A name for messages (``"ledger"``, ``"journal"``).
    """

    path: Path
    what: str = "chain file"

    def append(self, fields: Mapping[str, object], details: Mapping[str, object], *,
               bind: Mapping[str, str] | None = None) -> dict:
        """Append one entry; returns it with its ``id``, ``timestamp``, ``prev_hash``, ``hash``.

        ``fields`` supplies the hashed seed fields (``actor_id``, ``action``,
        ``resource_type``, ``resource_id``, ``result``; ``id`` and ``timestamp`` default to a
        fresh UUID and the current time); ``details`` are stored beside them, unhashed.
        ``bind`` are text details the ``id`` commits to (:func:`bound_id`; it replaces any
        ``id`` given).
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = _open_chain(self.path, self.what, os.O_RDWR | os.O_CREAT | os.O_APPEND)
        except OSError as exc:
            raise LedgerError(f"cannot open the {self.what} {self.path}: "
                              f"{exc.strerror or exc}", path=str(self.path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            tail = _tail(fd)
            if tail.hash is None and tail.damaged:
                raise LedgerError(
                    f"cannot append to the {self.what} {self.path}: it holds no {self.what} "
                    f"entry ({tail.damaged} line(s) that are not entries); move it aside",
                    path=str(self.path))
            if tail.damaged:
                log.warning("the %s %s ends with %d damaged line(s) (line %d on): appending "
                            "after them; verification reports them as malformed", self.what,
                            self.path, tail.damaged, tail.first_damaged_line)
            entry: dict = {
                "id": str(fields.get("id") or uuid.uuid4()),
                "timestamp": str(fields.get("timestamp") or _now_text()),
            }
            for name in SEED_FIELDS[2:-1]:
                value = fields.get(name)
                entry[name] = None if value is None else str(value)
            entry["prev_hash"] = tail.hash or GENESIS
            if bind:
                entry["id"] = bound_id(entry["prev_hash"], entry["timestamp"], bind)
            entry["hash"] = row_digest(PROFILE, entry)
            extra = {**details, **(bind or {})}
            line = {**entry, **{k: v for k, v in extra.items() if k not in entry}}
            data = (json.dumps(line, ensure_ascii=False, default=str, sort_keys=False)
                    + "\n").encode("utf-8")
            # a line cut short by an earlier crash must not swallow this one
            _write_all(fd, data if tail.ends_with_newline else b"\n" + data)
            os.fsync(fd)
            return line
        except OSError as exc:
            raise LedgerError(f"cannot append to the {self.what} {self.path}: "
                              f"{exc.strerror or exc}", path=str(self.path)) from None
        finally:
            os.close(fd)  # closing releases the lock

    def read(self) -> list[dict]:
        """Every entry, in file order; an unparsable line becomes ``{"__line_error": ...}``.

        Lines are split on the newline character alone: values may hold U+2028 and other
        characters that :meth:`str.splitlines` would break a line at.
        """
        if not os.path.lexists(self.path):  # a dangling link is refused, not absent
            return []
        try:
            fd = _open_chain(self.path, self.what, os.O_RDONLY)
            with open(fd, encoding="utf-8", errors="replace", newline="") as handle:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
                lines = handle.read().split("\n")
        except OSError as exc:
            raise LedgerError(f"cannot read the {self.what} {self.path}: "
                              f"{exc.strerror or exc}", path=str(self.path)) from None
        out = []
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
                if reserved := sorted(k for k in obj if str(k).startswith("__")):
                    raise ValueError(f"holds the reserved key {reserved[0]!r}")
            except ValueError as exc:
                obj = {"__line_error": f"not an entry: {exc}"}
            except RecursionError:
                obj = {"__line_error": "not an entry: JSON nested too deeply"}
            obj["__line"] = number
            out.append(obj)
        return out

    def verify(self, engine: Engine | None = None):
        """Verify the file with the toolkit's verifier (python-seed profile).

        Returns a :class:`~audit_analytics.chain.results.VerifyResult`, or ``None`` when the
        file is absent or empty (nothing to verify). Unparsable lines are ``malformed``.
        """
        from ..chain.verify import verify_source

        entries = self.read()
        if not entries:
            return None
        source = JsonLinesSource(self.path, entries, [*SEED_FIELDS, "hash"])
        own = engine is None
        engine = engine or Engine(threads=1)
        try:
            source.attach(engine)
            return verify_source(engine, source, PROFILE, None, False)
        finally:
            if own:
                engine.close()


def bound_id(prev_hash: str, timestamp: str, values: Mapping[str, str]) -> str:
    """The ``id`` of an entry that commits to ``values`` (a version 8 UUID, RFC 9562).

    Its 122 free bits are the first of the SHA-256 of ``prev_hash``, ``timestamp`` and each
    name and value (names sorted), each written as its length in characters, ``:`` and the
    text (so no two lists of texts give the same bytes). ``prev_hash`` differs for every
    entry of a chain, so two entries never share an id.
    """
    parts = [prev_hash, timestamp, *(t for k in sorted(values) for t in (k, values[k]))]
    text = "".join(f"{len(str(t))}:{t}" for t in parts)
    raw = bytearray(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8: custom
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 9562 variant
    return str(uuid.UUID(bytes=bytes(raw)))


def binding_problem(entry: Mapping, names: tuple[str, ...]) -> str | None:
    """What is wrong with an entry's ``names`` bound to its ``id`` (``None``: nothing).

    An entry whose ``id`` is not a version 8 UUID was written without a binding (by an
    earlier version): it must then hold none of ``names``. One whose ``id`` is must hold
    every one of them as text, with the very values its ``id`` commits to.
    """
    try:
        version = uuid.UUID(str(entry.get("id"))).version
    except ValueError:
        version = None
    present = [name for name in names if name in entry]
    if version != 8:
        return (f"{', '.join(present)} beside an id that does not commit to it"
                if present else None)
    values = {name: entry.get(name) for name in names}
    if not all(isinstance(v, str) for v in values.values()):
        return f"{', '.join(names)} missing beside an id that commits to it"
    prev, stamp = entry.get("prev_hash"), entry.get("timestamp")
    if not (isinstance(prev, str) and isinstance(stamp, str)) \
            or bound_id(prev, stamp, values) != entry.get("id"):
        return f"{', '.join(names)} no longer what the entry's id commits to"
    return None


def _open_chain(path: Path, what: str, flags: int) -> int:
    """Open a chain file, which must be a regular file (never blocking on a FIFO).

    The journal and the ledger are security records: whoever can write their folder must
    not be able to switch them off. A symbolic link is refused, not followed
    (``O_NOFOLLOW``: a link to ``/dev/null`` would discard every record, one to another
    file would record elsewhere), and so is anything but a regular file (a character
    device, FIFO, socket or folder).
    """
    try:
        fd = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        if os.path.islink(path):
            raise LedgerError(f"cannot use the {what} {path}: a symbolic link (it must be a "
                              "regular file)", path=str(path)) from None
        if exc.errno in (errno.ENXIO, errno.EISDIR):  # a FIFO nobody reads, a socket, a folder
            raise LedgerError(f"cannot use the {what} {path}: not a regular file",
                              path=str(path)) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise LedgerError(f"cannot use the {what} {path}: not a regular file", path=str(path))
    os.set_blocking(fd, True)
    return fd


@dataclass
class _Tail:
    """What an append needs to know about the end of the file."""

    hash: str | None = None
    damaged: int = 0
    first_damaged_line: int = 0
    ends_with_newline: bool = True


def _tail(fd: int) -> _Tail:
    """The last intact entry's ``hash`` and the damaged lines after it (read backwards).

    An intact entry is a JSON object whose ``hash`` is a 64-digit lowercase hex digest;
    any other non-blank line after the last one is damage. Only the damaged end of the
    file is read, in chunks from its end.
    """
    size = os.lseek(fd, 0, os.SEEK_END)
    out = _Tail()
    if size == 0:
        return out
    out.ends_with_newline = os.pread(fd, 1, size - 1) == b"\n"
    pos, carry, from_end = size, b"", 0
    while pos > 0:
        step = min(_TAIL_CHUNK, pos)
        pos -= step
        parts = (os.pread(fd, step, pos) + carry).split(b"\n")
        carry = parts[0] if pos > 0 else b""  # the first piece may be cut by the chunk
        for line in reversed(parts if pos == 0 else parts[1:]):
            from_end += 1
            if not line.strip():
                continue
            digest = _entry_hash(line)
            if digest is not None:
                out.hash = digest
                break
            out.damaged += 1
            out.first_damaged_line = from_end
        if out.hash is not None:
            break
    if out.damaged:  # counted from the end so far: turn it into a line number
        pieces = 1 + sum(os.pread(fd, _TAIL_CHUNK, at).count(b"\n")
                         for at in range(0, size, _TAIL_CHUNK))
        out.first_damaged_line = pieces - out.first_damaged_line + 1
    return out


def _entry_hash(line: bytes) -> str | None:
    """The line's ``hash`` when it is an intact entry, else ``None``."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError included
        return None
    value = obj.get("hash") if isinstance(obj, dict) else None
    return value if isinstance(value, str) and _DIGEST.fullmatch(value) else None


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte (``os.write`` may write fewer than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
