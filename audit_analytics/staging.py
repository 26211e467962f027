"""The staging copies a load writes into, beside its target.

A load copies its target into a private staging folder (see :mod:`.load`), loads into
the copy and renames it over the target; a load killed mid-way leaves its folder behind,
which the next load of the same target removes.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
from pathlib import Path

__all__ = ["copy_exclusive", "remove_stale_staging"]

log = logging.getLogger("audit_analytics")


def copy_exclusive(source: Path, dest: Path) -> None:
    """Copy ``source`` to a new file ``dest`` (never through a link), keeping its mode."""
    with open(source, "rb") as src:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        with open(fd, "wb") as out:
            size = os.fstat(src.fileno()).st_size
            offset = 0
            while offset < size:
                sent = os.sendfile(out.fileno(), src.fileno(), offset, size - offset)
                if sent == 0:
                    break
                offset += sent
            os.fchmod(out.fileno(), stat.S_IMODE(os.fstat(src.fileno()).st_mode))


def remove_stale_staging(target: Path) -> None:
    """Remove staging copies of ``target`` left by loads that died (SIGKILL, power loss).

    Called with the target's lock held, so no other load of it is running. An entry is
    removed only if its name is a staging name of this target, the process id in the
    name is not running, it belongs to this user, and it is what a load makes (a
    staging folder, or a plain file of the older single-file layout): links and anything
    else are left alone.
    """
    pattern = re.compile(r"\." + re.escape(target.name)
                         + r"\.(\d+)\.(?:([A-Za-z0-9_]+)\.)?loading(?:\.wal)?")
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    for entry in entries:
        found = pattern.fullmatch(entry.name)
        if not found or _alive(int(found[1])):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if info.st_uid != os.geteuid():
                continue
            if stat.S_ISDIR(info.st_mode) and found[2] and not entry.name.endswith(".wal"):
                shutil.rmtree(entry.path)
            elif stat.S_ISREG(info.st_mode) and not found[2]:
                os.unlink(entry.path)
            else:
                continue
        except OSError as exc:
            log.warning("cannot remove the stale staging copy %s: %s", entry.path,
                        exc.strerror or exc)
            continue
        log.info("removed %s, left by load process %s that no longer runs", entry.path,
                 found[1])


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (another user's process counts as alive)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
