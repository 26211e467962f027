"""Where a trail's files are: an S3 bucket (and prefix) or a local folder of the same layout.

Every read goes through :class:`Location`, built on a :class:`pyarrow.fs.FileSystem`, so a
local copy and the bucket itself are read the same way. Keys are always relative to the
location's root and start with ``AWSLogs/``.

A digest object's signature is S3 user metadata (``x-amz-meta-signature``); a local copy
keeps it, when ``cloudtrail fetch`` made the copy, in a file beside the digest named
``<digest>.metadata.json`` (``{"signature": ..., "signature-algorithm": ...}``). The copy's
origin (bucket and prefix) is recorded in ``.cloudtrail-location.json`` at its root.

Names come from the files themselves (a digest names its log files and its predecessor),
so a local location reads only what is inside its folder, and only regular files:

- a key named by a file must be one (:func:`is_key`: ``AWSLogs/...``, no empty, ``.`` or
  ``..`` segment, no NUL), else it is never looked up;
- a file is opened without waiting (``O_NONBLOCK``: a FIFO never hangs) only when its real
  path, symbolic links resolved, is inside the folder, and read only when the opened
  descriptor is a regular file, the same one found at that real path;
- listing does not descend into symbolic links to folders (a link to ``/`` or to ``..``
  is not walked); a symbolic link to a file is listed when it leads to a regular file
  inside the folder;
- reads are streamed in chunks (:meth:`Location.chunks`), and a capped read stops one
  chunk past its cap (:meth:`Location.read`).

What is refused raises :class:`Unreadable` with the reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.fs as pafs

from .._files import file_kind
from ..errors import SourceError

__all__ = ["CHUNK", "MARKER", "METADATA_SUFFIX", "Location", "Unreadable", "is_cloudtrail_folder",
           "is_key", "open_location"]

log = logging.getLogger("audit_analytics")

#: The file recording where a local copy came from (bucket and prefix).
MARKER = ".cloudtrail-location.json"
#: The file beside a digest holding its S3 user metadata (its signature).
METADATA_SUFFIX = ".metadata.json"
_S3_URL = re.compile(r"^s3://(?P<bucket>[^/]+)/?(?P<prefix>.*)$")
_MAX_METADATA = 64 * 1024
#: Bytes read at a time.
CHUNK = 1 << 20


class Unreadable(ValueError):
    """A file of a location that is not read.

    Outside the location, not a regular file, or larger than the cap of its read. The
    message says which file and why; ``reason`` is the short why (``"not a regular
    file"``, ``"outside the location"``, ``"too large"``).
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def is_key(key: str) -> bool:
    """Whether ``key`` (as named by a file) names a file inside a location.

    It starts with ``AWSLogs/`` and has no empty, ``.`` or ``..`` segment and no NUL, so
    that it can neither leave the location (``AWSLogs/../../etc/passwd``, ``/etc/passwd``)
    nor name a folder.
    """
    if not isinstance(key, str) or not key.startswith("AWSLogs/") or "\x00" in key:
        return False
    return all(part not in ("", ".", "..") for part in key.split("/"))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _opened_path(fd: int) -> str | None:
    """Where an open descriptor's file is (Linux's ``/proc``), or ``None`` elsewhere."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


@dataclass
class Location:
    """A trail's files, read through a pyarrow file system.

    Attributes
    ----------
    uri
        What the user named (``s3://bucket/prefix`` or the folder).
    fs, root
        The file system and the path of the location's root in it (holding ``AWSLogs/``).
    bucket, prefix
        The S3 bucket and key prefix the files were delivered to (for a local copy: as
        recorded by ``cloudtrail fetch``, else ``None`` and inferred from the digests).
    remote
        True for S3: signatures are read from object metadata.
    """

    uri: str
    fs: pafs.FileSystem
    root: str
    bucket: str | None = None
    prefix: str = ""
    remote: bool = False
    remote_metadata: object = None  # key -> the object's user metadata, on S3
    _metadata: dict = field(default_factory=dict, repr=False)

    @property
    def readers(self) -> int:
        """Threads worth reading at once: one per core locally, more where reads wait (S3)."""
        return 16 if self.remote else max(2, os.cpu_count() or 2)

    def path(self, key: str) -> str:
        """The file system path of ``key``."""
        return f"{self.root.rstrip('/')}/{key}" if self.root else key

    def uri_of(self, key: str) -> str:
        """How a key is shown: ``s3://bucket/prefix/key`` on S3, the file's path locally."""
        if self.remote:
            return f"s3://{self.bucket}/{self.prefix + '/' if self.prefix else ''}{key}"
        return self.path(key)

    def list(self, under: str) -> list[tuple[str, int]]:
        """Every file below ``under`` (a key prefix ending in ``/``): ``(key, size)``, sorted."""
        if not self.remote:
            return self._list_local(under)
        base = self.path(under.rstrip("/"))
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=True,
                                                            allow_not_found=True))
        except OSError as exc:
            raise self._failure(exc, under, "list") from None
        start = len(self.root.rstrip("/")) + 1 if self.root else 0
        out = [(info.path[start:], info.size or 0) for info in infos
               if info.type == pafs.FileType.File]
        return sorted(out)

    def _list_local(self, under: str) -> list[tuple[str, int]]:
        """Regular files below ``under``, without descending into links to folders."""
        root = self.root.rstrip("/")
        out = []

        def failed(exc: OSError) -> None:
            if not isinstance(exc, FileNotFoundError):  # a folder gone: nothing to list
                raise self._failure(exc, under, "list")

        for folder, _dirs, names in os.walk(self.path(under.rstrip("/")), onerror=failed):
            for name in names:
                path = os.path.join(folder, name)
                try:
                    info = os.lstat(path)
                    if stat.S_ISLNK(info.st_mode):
                        if not _inside(os.path.realpath(path), root):
                            continue
                        info = os.stat(path)
                except OSError:
                    continue  # a dangling link, a file gone meanwhile
                if stat.S_ISREG(info.st_mode):
                    out.append((path[len(root) + 1:], info.st_size))
        return sorted(out)

    @contextlib.contextmanager
    def _open(self, key: str) -> Iterator:
        """An open binary stream of ``key`` (see the module's rules for a local folder)."""
        path = self.path(key)
        if self.remote:
            try:
                stream = self.fs.open_input_stream(path, compression=None)
            except FileNotFoundError:
                raise
            except OSError as exc:
                if "not found" in str(exc).lower() or "no such" in str(exc).lower():
                    raise FileNotFoundError(path) from None
                raise self._failure(exc, key, "read") from None
            with stream:
                yield stream
            return
        if "\x00" in key:
            raise Unreadable(f"{path}: not a file name", "not a file name")
        real = os.path.realpath(path)
        if not _inside(real, self.root):
            raise Unreadable(f"{path} leads outside the location (to {real}): not read",
                             "outside the location")
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise
        except IsADirectoryError:
            raise Unreadable(f"{path} is a directory, not a regular file: not read",
                             "not a regular file") from None
        except OSError as exc:
            raise self._failure(exc, key, "read") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise Unreadable(f"{path} is {file_kind(info.st_mode)}, not a regular file: "
                                 "not read", "not a regular file")
            if not _inside(_opened_path(fd) or real, self.root):
                raise Unreadable(f"{path} changed while it was opened: not read",
                                 "outside the location")
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, "rb", buffering=0) as stream:
            yield stream

    def chunks(self, key: str, size: int = CHUNK) -> Iterator[bytes]:
        """The bytes of ``key``, ``size`` at most at a time.

        Raises
        ------
        FileNotFoundError
            ``key`` does not exist.
        Unreadable
            Locally: outside the location, or not a regular file.
        SourceError
            The read failed (permissions, S3 refusals).
        """
        with self._open(key) as stream:
            while True:
                try:
                    chunk = stream.read(size)
                except OSError as exc:
                    raise self._failure(exc, key, "read") from None
                if not chunk:
                    return
                yield chunk

    def read(self, key: str, limit: int | None = None) -> bytes:
        """The bytes of ``key`` (at most ``limit``: :class:`Unreadable` past it).

        Raises as :meth:`chunks`.
        """
        out = bytearray()
        for chunk in self.chunks(key, CHUNK if limit is None else min(CHUNK, limit + 1)):
            out += chunk
            if limit is not None and len(out) > limit:
                raise Unreadable(f"{self.uri_of(key)} is larger than {limit:,} bytes: not read",
                                 "too large")
        return bytes(out)

    def _failure(self, exc: OSError, key: str, doing: str) -> SourceError:
        """The one-line error for a read that failed (S3's refusals named)."""
        if self.remote:
            from ..storage import s3_failure

            return s3_failure(exc, self.uri_of(key), doing=doing)
        return SourceError(f"cannot {doing} {self.path(key)}: {exc.strerror or exc}",
                           source=self.uri)

    def metadata(self, key: str) -> dict[str, str]:
        """A digest's S3 user metadata (``signature``, ``signature-algorithm``), or ``{}``.

        Locally it is read from the ``.metadata.json`` file beside the digest.
        """
        if key in self._metadata:
            return self._metadata[key]
        if self.remote_metadata is not None:
            full = f"{self.prefix}/{key}" if self.prefix else key
            self._metadata[key] = dict(self.remote_metadata(full))
            return self._metadata[key]
        found: dict[str, str] = {}
        try:
            raw = self.read(key + METADATA_SUFFIX, _MAX_METADATA)
        except FileNotFoundError:
            raw = None
        except Unreadable as exc:
            log.warning("%s: ignored", exc)
            raw = None
        if raw is not None:
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError):
                data = None
            if isinstance(data, dict):
                found = {str(k): str(v) for k, v in data.items() if isinstance(v, str)}
        self._metadata[key] = found
        return found


def is_cloudtrail_folder(spec: str) -> bool:
    """True for a folder or ``s3://`` prefix holding ``AWSLogs/*/CloudTrail*`` (a trail)."""
    if _S3_URL.match(str(spec)):
        text = str(spec)
        if re.search(r"[*?\[]|\.(parquet|pq|duckdb)$", text, re.IGNORECASE):
            return False  # a file or glob of another kind of source: nothing to probe
        from .s3 import has_trail

        return has_trail(text)
    logs = Path(spec) / "AWSLogs"
    try:
        if not logs.is_dir():
            return False
        for child in logs.iterdir():
            if child.is_dir() and (any(child.glob("CloudTrail*"))
                                   or any(child.glob("*/CloudTrail*"))):
                return True
    except (OSError, ValueError):
        return False
    return False


def open_location(spec: str) -> Location:
    """The location named by ``spec``: ``s3://bucket[/prefix]`` or a local folder.

    Raises
    ------
    SourceError
        No such folder, a folder without ``AWSLogs/``, or an S3 location that cannot be
        reached.
    """
    text = str(spec)
    match = _S3_URL.match(text)
    if match:
        from .s3 import s3_filesystem

        fs, root, metadata = s3_filesystem(text, match["bucket"])
        prefix = match["prefix"].strip("/")
        return Location(uri=text, fs=fs, root=f"{root}/{prefix}" if prefix else root,
                        bucket=match["bucket"], prefix=prefix, remote=True,
                        remote_metadata=metadata)
    root = Path(text)
    if not root.exists():
        raise SourceError(f"no such folder: {text}", source=text)
    if not root.is_dir():
        raise SourceError(f"not a CloudTrail folder: {text} is not a folder", source=text)
    if not (root / "AWSLogs").is_dir():
        raise SourceError(f"not a CloudTrail folder: {text} has no AWSLogs/ folder "
                          "(expected AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/...)",
                          source=text)
    location = Location(uri=text, fs=pafs.LocalFileSystem(), root=str(root.resolve()))
    try:
        data = json.loads(location.read(MARKER, _MAX_METADATA))
    except FileNotFoundError:
        data = {}
    except (Unreadable, SourceError, ValueError, RecursionError) as exc:
        log.warning("%s: ignored (%s)", root / MARKER, exc)
        data = {}
    if isinstance(data, dict) and isinstance(data.get("bucket"), str):
        location.bucket = data["bucket"]
        location.prefix = str(data.get("prefix") or "").strip("/")
    return location
