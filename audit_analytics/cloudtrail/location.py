"""Where a trail's files are: an S3 bucket (and prefix) or a local folder of the same layout.

Every read goes through :class:`Location`, built on a :class:`pyarrow.fs.FileSystem`, so a
local copy and the bucket itself are read the same way. Keys are always relative to the
location's root and start with ``AWSLogs/``.

A digest object's signature is S3 user metadata (``x-amz-meta-signature``); a local copy
keeps it, when ``cloudtrail fetch`` made the copy, in a file beside the digest named
``<digest>.metadata.json`` (``{"signature": ..., "signature-algorithm": ...}``). The copy's
origin (bucket and prefix) is recorded in ``.cloudtrail-location.json`` at its root.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.fs as pafs

from ..errors import SourceError

__all__ = ["MARKER", "METADATA_SUFFIX", "Location", "is_cloudtrail_folder", "open_location"]

#: The file recording where a local copy came from (bucket and prefix).
MARKER = ".cloudtrail-location.json"
#: The file beside a digest holding its S3 user metadata (its signature).
METADATA_SUFFIX = ".metadata.json"
_S3_URL = re.compile(r"^s3://(?P<bucket>[^/]+)/?(?P<prefix>.*)$")
_MAX_METADATA = 64 * 1024


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

    def read(self, key: str) -> bytes:
        """The bytes of ``key``; :class:`FileNotFoundError` when it does not exist."""
        path = self.path(key)
        try:
            with self.fs.open_input_stream(path, compression=None) as stream:
                return stream.read()
        except FileNotFoundError:
            raise
        except OSError as exc:
            if "not found" in str(exc).lower() or "no such" in str(exc).lower():
                raise FileNotFoundError(path) from None
            raise self._failure(exc, key, "read") from None

    def _failure(self, exc: OSError, key: str, doing: str) -> SourceError:
        """The one-line error for a read that failed (S3's refusals named)."""
        if self.remote:
            from ..storage import s3_failure

            return s3_failure(exc, self.uri_of(key), doing=doing)
        return SourceError(f"cannot {doing} {self.path(key)}: {exc.strerror or exc}",
                           source=self.uri)

    def exists(self, key: str) -> bool:
        """Whether ``key`` is a file."""
        return self.fs.get_file_info(self.path(key)).type == pafs.FileType.File

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
            raw = self.read(key + METADATA_SUFFIX)
        except (FileNotFoundError, OSError):
            raw = None
        if raw is not None and len(raw) <= _MAX_METADATA:
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
    bucket, prefix = None, ""
    marker = root / MARKER
    if marker.is_file() and marker.stat().st_size <= _MAX_METADATA:
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (ValueError, OSError, UnicodeDecodeError, RecursionError):
            data = {}
        if isinstance(data, dict) and isinstance(data.get("bucket"), str):
            bucket = data["bucket"]
            prefix = str(data.get("prefix") or "").strip("/")
    return Location(uri=text, fs=pafs.LocalFileSystem(), root=str(root.resolve()),
                    bucket=bucket, prefix=prefix)
