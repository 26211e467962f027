"""Writing output files, one rule for every path the toolkit writes, and file locks.

Every file the toolkit writes (``--json PATH``, report files, a ``load --into`` target)
follows one rule, whatever kind of thing the path names:

- a new path or an existing regular file: the data goes to a temporary file beside it,
  created exclusively (``mkstemp``), which is renamed into place once complete, so that
  nothing half-written is ever visible; a replaced file keeps its permission bits;
- a symbolic link: resolved, and its target replaced by that rule (the link stays a link);
- a character device, a FIFO or a Unix socket: opened and written directly, never
  replaced (``/dev/null`` stays a device). A FIFO that no process opens for reading
  within :data:`FIFO_WAIT` seconds is an :class:`~audit_analytics.errors.OutputError`;
  once a reader is there the write blocks like any pipe write;
- a folder, a block device or anything else: an ``OutputError``, nothing written;
- a file a source of the running command reads (:func:`mark_inputs`, within
  :func:`inputs_guarded`): an ``OutputError``, so that no output replaces its data.

``-`` (standard output) is the CLI's business: it never reaches this module.

:func:`exclusive_lock` holds an advisory ``flock`` on a lock file (created without
following links, removed afterwards) or a folder for as long as a multi-step write takes,
waiting a bounded time for another holder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputError

__all__ = ["FIFO_WAIT", "PendingWrite", "exclusive_lock", "inputs_guarded", "mark_inputs",
           "output_target", "prepare_write", "write_atomic"]

log = logging.getLogger("audit_analytics")

#: Seconds to wait for a process to open a FIFO for reading before giving up.
FIFO_WAIT = 5.0
_DIRECT = "direct"  # written in place: a device, a FIFO, a socket
_FILE = "file"      # an existing regular file: replaced by rename
_NEW = "new"        # nothing there yet: created by rename
_INPUTS: set[tuple[int, int]] = set()  # (device, inode) of the local files sources read
_guarded = False  # whether a command is running under inputs_guarded()


@contextlib.contextmanager
def inputs_guarded() -> Iterator[None]:
    """For the length of one command: no write may replace a file one of its sources reads.

    The command line runs every command inside it. Within it :func:`mark_inputs`
    records files; outside it (a notebook that opens a DuckDB file, then loads more rows
    into it) nothing is recorded.
    """
    global _guarded
    _INPUTS.clear()
    _guarded = True
    try:
        yield
    finally:
        _guarded = False
        _INPUTS.clear()


def mark_inputs(paths) -> None:
    """Remember local files a source reads: no write of the command may replace them.

    Files are known by device and inode, so another spelling of the path, a hard link or
    a symbolic link to one of them is refused as well. Paths that are not regular files
    (or no longer exist) are ignored, and so is every path outside :func:`inputs_guarded`.
    """
    if not _guarded:
        return
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            _INPUTS.add((info.st_dev, info.st_ino))


def _refuse_input(info: os.stat_result, path: str | os.PathLike) -> None:
    """Raise :class:`OutputError` if ``info`` (a ``stat`` of ``path``) is a marked input."""
    if (info.st_dev, info.st_ino) in _INPUTS:
        raise OutputError(f"cannot write {path}: it is a file the source reads",
                          path=str(path))


def output_target(path: str | os.PathLike) -> tuple[Path, str]:
    """Where a write to ``path`` lands, and how: ``(resolved path, kind)``.

    Symbolic links are resolved. ``kind`` is ``"new"`` (nothing there), ``"file"``
    (a regular file, to be replaced) or ``"direct"`` (a character device, FIFO or socket,
    to be written in place).

    Raises
    ------
    OutputError
        ``path`` is a folder, a block device or another kind of file, or cannot be examined.
    """
    real = Path(os.path.realpath(path))
    try:
        info = os.stat(real)
    except FileNotFoundError:
        return real, _NEW
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}", path=str(path)) from None
    if stat.S_ISREG(info.st_mode):
        _refuse_input(info, path)
        return real, _FILE
    if stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode):
        return real, _DIRECT
    what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file, device or FIFO"
    raise OutputError(f"cannot write {path}: {what}", path=str(path))


@dataclass
class PendingWrite:
    """One file's data, ready to be made visible by :meth:`commit` (see :func:`prepare_write`)."""

    path: Path
    data: bytes
    kind: str
    exclusive: bool = False
    tmp: str | None = None

    def commit(self) -> Path:
        """Make the data visible at :attr:`path` (rename, link or direct write)."""
        try:
            if self.kind == _DIRECT:
                _write_direct(self.path, self.data)
            elif self.exclusive:
                try:
                    os.link(self.tmp, self.path)  # fails if path exists: no silent replacement
                except FileExistsError:
                    raise OutputError(f"{self.path} already exists", path=str(self.path)) from None
            elif _now_direct(self.path):  # became a device or FIFO since it was examined
                _write_direct(self.path, self.data)
            else:
                os.replace(self.tmp, self.path)
                self.tmp = None
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}",
                              path=str(self.path)) from None
        finally:
            self.discard()
        return self.path

    def discard(self) -> None:
        """Remove the temporary file, if any (the destination is left as it was)."""
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
            self.tmp = None


def prepare_write(path: str | os.PathLike, data: str | bytes, *,
                  exclusive: bool = False) -> PendingWrite:
    """Stage ``data`` for ``path`` without changing what is visible there yet.

    For a new path or a regular file the data is written and synced to a temporary file
    beside the destination; for a device, FIFO or socket it is kept in memory. Commit
    several staged writes together, or discard them all, to change files all or nothing.

    Parameters
    ----------
    path
        The destination (see the module docstring for each kind of path).
    data
        Text (written as UTF-8) or bytes.
    exclusive
        Never replace anything: ``commit`` raises ``OutputError`` if ``path`` exists by
        then, whatever it is (links are not followed).
    """
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if exclusive:
        dest, kind = Path(path), _NEW
        if os.path.lexists(dest):
            raise OutputError(f"{dest} already exists", path=str(dest))
    else:
        dest, kind = output_target(path)
    pending = PendingWrite(dest, payload, kind, exclusive)
    if kind == _DIRECT:
        return pending
    folder = dest.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, pending.tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write into {folder}: {exc.strerror or exc}",
                          path=str(path)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            if kind == _FILE:  # the replacement keeps the file's permission bits
                with contextlib.suppress(OSError):
                    os.fchmod(handle.fileno(), stat.S_IMODE(os.stat(dest).st_mode))
            os.fsync(handle.fileno())
    except OSError as exc:
        pending.discard()
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}", path=str(path)) from None
    except BaseException:  # an interrupt leaves nothing behind either
        pending.discard()
        raise
    return pending


def write_atomic(path: str | os.PathLike, data: str | bytes, *,
                 exclusive: bool = False) -> Path:
    """Write ``data`` to ``path`` by the module's rule; returns where it was written.

    A new path or a regular file is replaced atomically (temporary file, then rename),
    a symbolic link is written through, a device, FIFO or socket is written directly.
    With ``exclusive=True`` an existing path is never replaced (``OutputError``).
    """
    return prepare_write(path, data, exclusive=exclusive).commit()


def _now_direct(path: Path) -> bool:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _write_direct(path: Path, data: bytes) -> None:
    """Write into a device, FIFO or socket in place, waiting at most FIFO_WAIT for a reader."""
    if stat.S_ISSOCK(os.stat(path).st_mode):
        _send_to_socket(path, data)
        return
    deadline = time.monotonic() + FIFO_WAIT
    flags = os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC  # never creates
    while True:
        try:
            fd = os.open(path, flags)
            break
        except OSError as exc:  # ENXIO: a FIFO that nobody has open for reading
            if exc.errno != errno.ENXIO or time.monotonic() >= deadline:
                if exc.errno == errno.ENXIO:
                    raise OutputError(f"cannot write {path}: no process is reading it "
                                      f"(waited {FIFO_WAIT:g} s)", path=str(path)) from None
                raise
            time.sleep(0.05)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # replaced by a regular file meanwhile
            os.close(fd)
            fd = -1
            write_atomic(path, data)
            return
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view):]
            except BrokenPipeError:
                raise OutputError(f"cannot write {path}: its reader closed it",
                                  path=str(path)) from None
    finally:
        if fd >= 0:
            os.close(fd)


def _send_to_socket(path: Path, data: bytes) -> None:
    """Connect to a Unix socket (stream, else datagram) and send the data."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_UNIX, kind) as sock:
            sock.settimeout(FIFO_WAIT)
            try:
                sock.connect(str(path))
            except OSError as exc:
                if exc.errno == errno.EPROTOTYPE and kind == socket.SOCK_STREAM:
                    continue  # a datagram socket
                raise
            if kind == socket.SOCK_STREAM:
                sock.sendall(data)
            else:
                sock.send(data)
            return


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, *, wait: float, busy: str) -> Iterator[None]:
    """Hold an exclusive advisory lock on the lock file ``path`` for the ``with`` block.

    An existing folder is locked itself. Otherwise the lock file is created (mode 0644
    less the umask) if absent, never through a symbolic link, and must be a regular file;
    it holds the holder's process id, for messages. The holder removes the lock file
    before it releases the lock, and a waiter that then gets the lock on the removed file
    sees that it is gone and starts again on a new one, so two holders never overlap and
    nothing is left behind. A process that dies releases its lock (its file stays, and
    is reused).

    Parameters
    ----------
    path
        The lock file (beside what it protects), or a folder.
    wait
        Seconds to wait for another holder to finish; ``0`` fails at once.
    busy
        What is being done, for the error when the wait runs out (``"FILE is being
        loaded"``).

    Raises
    ------
    OutputError
        The lock is still held by another process after ``wait`` seconds, or the lock
        file cannot be created or is not a regular file.
    """
    path = Path(path)
    deadline = time.monotonic() + max(wait, 0.0)
    pause = 0.01
    while True:
        fd = _open_lock(path)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = _holder(fd)
                        raise OutputError(f"{busy} by {holder or 'another process'} "
                                          f"(waited {wait:g} s); try again later",
                                          path=str(path)) from None
                    if pause == 0.01:
                        log.info("%s by another process: waiting up to %g s", busy, wait)
                    time.sleep(pause)
                    pause = min(pause * 2, 0.2)
            if _same_file(fd, path):  # not unlinked or replaced while we waited
                break
            os.close(fd)
        except BaseException:
            os.close(fd)
            raise
    try:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        if not os.path.isdir(path) and _same_file(fd, path):
            with contextlib.suppress(OSError):
                os.unlink(path)  # still held: a waiter on this file will start again
        os.close(fd)  # closing releases the lock


def _open_lock(path: Path) -> int:
    flags = os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    if os.path.isdir(path):  # a folder is locked itself, no lock file inside
        try:
            return os.open(os.path.realpath(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise OutputError(f"cannot lock {path}: {exc.strerror or exc}",
                              path=str(path)) from None
    try:
        try:
            fd = os.open(path, os.O_RDWR | flags, 0o644)
        except PermissionError:  # another user's lock file: flock needs only read access
            fd = os.open(path, os.O_RDONLY | flags)
    except OSError as exc:
        reason = ("it is a symbolic link" if exc.errno == errno.ELOOP
                  else exc.strerror or str(exc))
        raise OutputError(f"cannot use the lock file {path}: {reason}", path=str(path)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OutputError(f"cannot use the lock file {path}: not a regular file",
                          path=str(path))
    return fd


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(os.path.realpath(path) if os.path.isdir(path) else path,
                          follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


def _holder(fd: int) -> str | None:
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 32, 0).decode("ascii").strip()
        if text.isdigit():
            return f"process {int(text)}"
    return None
