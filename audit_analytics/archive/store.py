"""Where an archive lives: its files listed, read and written through a pyarrow FileSystem.

An archive is a folder (``DIR``: a local path, ``file://`` or ``s3://bucket/prefix``, see
:mod:`audit_analytics.storage`) holding
``manifest.jsonl`` and part files below it. Every access goes through one
:class:`ArchiveStore`, so another file system plugs in without touching the writer or
the checks. Part files are created and never replaced: a write to a path that exists is
refused (:func:`audit_analytics.storage.write_new`: locally a temporary file linked into
place only when complete, in S3 a conditional PUT).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pyarrow.fs as pafs

from .._files import file_kind
from .._io import exclusive_lock, write_atomic
from ..errors import ArchiveError, AuditAnalyticsError, OutputError, SourceError, first_line
from ..storage import locate, write_new
from ..storage.location import list_files

__all__ = ["MANIFEST", "MANIFEST_LIMIT", "ArchiveStore", "is_archive"]

#: The manifest's name inside the archive folder.
MANIFEST = "manifest.jsonl"
#: A run's record of the part files it is writing (removed once the manifest lists them).
PENDING = ".archive.pending"
#: Largest manifest read, in bytes (a line is about 800 bytes: a million part files).
MANIFEST_LIMIT = 1 << 30
_PARQUET = (".parquet", ".pq")


class ArchiveStore:
    """One archive folder on one file system.

    Parameters
    ----------
    location
        A local folder, ``file://`` URL or ``s3://bucket/prefix``.
    """

    def __init__(self, location: str | os.PathLike) -> None:
        text = os.fspath(location)
        self.label = text
        self.location = locate(text)
        self.fs = self.location.fs
        self.local = not self.location.is_s3
        self.root = self.location.path.rstrip("/")
        self.bytes_read = 0  # what this store has read so far (for the benchmark)

    # --- paths ----------------------------------------------------------------------
    def path(self, rel: str) -> str:
        """The file system path of ``rel`` (a path relative to the archive folder)."""
        return posixpath.join(self.root, rel)

    def uri(self, rel: str) -> str:
        """What a reader outside this store opens for ``rel``: a local path or a URI."""
        return self.path(rel) if self.local else self.location.child(rel).url

    def refuse_inside(self, output: str | os.PathLike | None, option: str = "--json") -> None:
        """Refuse an output path that lies inside this (local) archive folder.

        A command's own output written there would replace the manifest or a part file,
        or leave a stray file in the archive: ``ArchiveError`` before anything is read.
        """
        if not self.local or output is None or os.fspath(output) == "-":
            return
        root = Path(self.root).resolve()
        target = Path(os.fspath(output)).resolve()
        if target == root or root in target.parents:
            raise ArchiveError(f"{option} {output} is inside the archive folder {self.label}: "
                               "write it elsewhere", path=os.fspath(output))

    def is_folder(self) -> bool:
        """Whether the archive folder exists (as a folder)."""
        return self._info(self.root).type == pafs.FileType.Directory

    def found(self) -> bool:
        """Whether anything (a folder or not) exists where the archive should be."""
        return self._info(self.root).type != pafs.FileType.NotFound

    def exists(self, rel: str) -> bool:
        """Whether anything exists at ``rel``."""
        return self._info(self.path(rel)).type != pafs.FileType.NotFound

    def _info(self, path: str) -> pafs.FileInfo:
        try:
            return self.fs.get_file_info(path)
        except Exception as exc:
            raise ArchiveError(f"cannot examine {path}: {first_line(exc)}", path=path) from None

    def part_files(self) -> list[str]:
        """Every Parquet file below the folder, relative to it, sorted.

        The listing a folder read as a source gets (:func:`~audit_analytics.storage.
        location.list_files`): hidden and ``_``-prefixed files included, so that nothing a
        reader takes for events escapes the check for files the manifest does not list.
        """
        if not self.is_folder():
            return []
        try:
            return list_files(self.location, _PARQUET)
        except SourceError as exc:
            raise ArchiveError(f"cannot list {self.label}: {exc}", path=self.label) from None

    # --- reading --------------------------------------------------------------------
    def read(self, rel: str, limit: int | None = None) -> bytes:
        """The bytes of ``rel`` (at most ``limit``: more is an ``ArchiveError``)."""
        path = self.path(rel)
        self._regular(path)
        try:
            with self.fs.open_input_stream(path) as stream:
                data = stream.read() if limit is None else stream.read(limit + 1)
        except FileNotFoundError:
            raise ArchiveError(f"{path} not found", path=path) from None
        except Exception as exc:
            raise ArchiveError(f"cannot read {path}: {first_line(exc)}", path=path) from None
        if limit is not None and len(data) > limit:
            raise ArchiveError(f"cannot read {path}: larger than {limit} bytes", path=path)
        self.bytes_read += len(data)
        return data

    def _regular(self, path: str) -> None:
        """Refuse a local path that is not a regular file (a FIFO would wait forever)."""
        if not self.local:
            return
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            raise ArchiveError(f"{path} not found", path=path) from None
        except OSError as exc:
            raise ArchiveError(f"cannot read {path}: {first_line(exc)}", path=path) from None
        if not stat.S_ISREG(mode):
            raise ArchiveError(f"cannot read {path}: {file_kind(mode)}, not a regular file",
                               path=path)

    def digest(self, rel: str) -> tuple[str, int]:
        """The SHA-256 (hex) of ``rel``'s bytes and its size, read in a streaming pass."""
        path = self.path(rel)
        self._regular(path)
        sha, size = hashlib.sha256(), 0
        try:
            with self.fs.open_input_stream(path) as stream:
                while chunk := stream.read(1 << 22):
                    sha.update(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            raise ArchiveError(f"{path} not found", path=path) from None
        except Exception as exc:
            raise ArchiveError(f"cannot read {path}: {first_line(exc)}", path=path) from None
        self.bytes_read += size
        return sha.hexdigest(), size

    def manifest(self) -> bytes | None:
        """The manifest's bytes, or ``None`` when the archive has none."""
        if not self.exists(MANIFEST):
            return None
        if self._info(self.path(MANIFEST)).type != pafs.FileType.File:
            raise ArchiveError(f"{self.path(MANIFEST)} is not a regular file",
                               path=self.path(MANIFEST))
        return self.read(MANIFEST, MANIFEST_LIMIT)

    # --- writing --------------------------------------------------------------------
    def write_new(self, rel: str, data: bytes) -> None:
        """Create ``rel`` holding ``data``; a path that exists is never replaced."""
        try:
            write_new(self.location.child(rel), data)
        except OutputError as exc:
            raise ArchiveError(f"{exc}: archive files are never replaced"
                               if "already exists" in str(exc) else str(exc),
                               path=self.uri(rel)) from None

    def extend_manifest(self, old: bytes, lines: list[bytes]) -> None:
        """Append ``lines`` to the manifest whose current bytes are ``old``.

        The manifest is replaced as a whole by one holding ``old`` and then the new lines
        (locally a temporary file renamed into place; in object storage one PUT of the
        whole object): a reader sees the old manifest or the new one, never half a line.
        It is the one object an archive run replaces, and only by a longer one whose
        beginning is the old; the head kept elsewhere shows whether that held. The caller
        holds :meth:`lock`.
        """
        data = old + b"".join(line + b"\n" for line in lines)
        path = self.path(MANIFEST)
        if self.local:
            try:
                write_atomic(path, data)
            except OutputError as exc:
                raise ArchiveError(str(exc), path=path) from None
            return
        try:
            with self.fs.open_output_stream(path) as stream:
                stream.write(data)
        except Exception as exc:
            raise ArchiveError(f"cannot write {path}: {first_line(exc)}", path=path) from None

    def set_pending(self, data: bytes | None) -> None:
        """Record (``None``: forget) the part files a run is about to write.

        The record (:data:`PENDING`, hidden) outlives a run killed before its manifest was
        extended, so the next run, holding the lock, can remove what it left behind. Local
        folders only: in object storage an archive run never deletes an object.
        """
        if not self.local:
            return
        path = self.path(PENDING)
        try:
            if data is None:
                if self.exists(PENDING):
                    os.unlink(path)
            else:
                write_atomic(path, data)
        except (OutputError, OSError) as exc:
            raise ArchiveError(f"cannot write {path}: {first_line(exc)}", path=path) from None

    def pending(self) -> bytes | None:
        """The record of :meth:`set_pending`, or ``None``."""
        return (self.read(PENDING, 1 << 24) if self.local and self.exists(PENDING)
                else None)

    def lock(self, wait: float = 60.0):
        """A context holding this archive's writer lock (local folders; a no-op elsewhere)."""
        if not self.local:
            return nullcontext()
        root = Path(self.root)
        created = [p for p in (root, *root.parents) if not p.exists()]
        try:
            root.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ArchiveError(f"cannot archive into {self.label}: it, or a folder above it, "
                               "is not a folder", path=self.label) from None
        except OSError as exc:
            raise ArchiveError(f"cannot create the archive folder {self.label}: "
                               f"{first_line(exc)}", path=self.label) from None
        return _removing_if_empty(
            exclusive_lock(root / ".archive.lock", wait=wait,
                           busy=f"{self.label} is being archived"), created)


def is_archive(location) -> bool:
    """Whether ``location`` is a folder holding an archive manifest.

    Anything that is not a local or object-storage folder (a database URL, a glob, a
    missing path) is not one; what it is, its own source says.
    """
    text = str(location)
    if "://" in text and not text.startswith(("file://", "s3://")):
        return False
    try:
        store = ArchiveStore(location)
        return store.is_folder() and store.exists(MANIFEST)
    except AuditAnalyticsError:
        return False


@contextmanager
def _removing_if_empty(lock, created: list[Path]):
    """Hold ``lock``; then remove the folders made for it (deepest first) if still empty.

    A run that wrote nothing (it failed, or found no rows) leaves no empty archive folder.
    """
    try:
        with lock:
            yield
    finally:
        for folder in created:
            try:
                folder.rmdir()
            except OSError:
                break
