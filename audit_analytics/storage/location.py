"""Locations: a local path, ``file://`` URL or ``s3://bucket/prefix`` as a filesystem and path.

A :class:`Location` pairs a :class:`pyarrow.fs.FileSystem` with a path inside it, and keeps
the text to show people (``s3://bucket/key``, or the local path as the user wrote it).
:func:`expand` turns a SOURCE or archive argument into the files it names (a file, every
file under a folder or prefix, or a glob's matches), whichever filesystem holds them.
"""

from __future__ import annotations

import glob as globlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import AuditAnalyticsError, SourceError, first_line
from .s3 import S3Settings, s3_failure, s3_filesystem, s3_settings

__all__ = ["Location", "expand", "file_info", "has_glob", "is_remote", "list_files", "locate",
           "read_bytes"]

_GLOB_CHARS = re.compile(r"[*?\[]")
_HIVE_DIR = re.compile(r"^[^=/]+=[^/]*$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,254}$")


def has_glob(text: str) -> bool:
    """Whether ``text`` holds a glob character (``*``, ``?`` or ``[``)."""
    return bool(_GLOB_CHARS.search(text))


def is_remote(text: object) -> bool:
    """Whether ``text`` names object storage (``s3://...``)."""
    return str(text).lower().startswith("s3://")


@dataclass(frozen=True)
class Location:
    """A place in a filesystem: ``fs`` and ``path`` for pyarrow, ``url`` for people.

    For S3, ``path`` is ``bucket/key`` (pyarrow's spelling) and ``url`` is
    ``s3://bucket/key``; locally ``path`` is absolute and ``url`` is the path as given.
    ``settings`` are the S3 settings the filesystem was made from (``None`` locally).
    """

    fs: object
    path: str
    url: str
    scheme: str = "file"
    settings: S3Settings | None = field(default=None, compare=False, repr=False)

    @property
    def is_s3(self) -> bool:
        """True for an object in S3 (or an S3-compatible store)."""
        return self.scheme == "s3"

    @property
    def bucket(self) -> str | None:
        """The bucket (S3 only)."""
        return self.path.split("/", 1)[0] if self.is_s3 else None

    @property
    def key(self) -> str | None:
        """The object key or prefix inside the bucket (S3 only; ``""`` for the bucket)."""
        return (self.path.split("/", 1) + [""])[1] if self.is_s3 else None

    def child(self, *names: str) -> Location:
        """The location of ``names`` under this one (joined with ``/``)."""
        rest = "/".join(n.strip("/") for n in names if n.strip("/"))
        if not rest:
            return self
        path = f"{self.path.rstrip('/')}/{rest}"
        url = (f"{self.url.rstrip('/')}/{rest}" if self.is_s3
               else str(Path(self.url) / rest))
        return Location(self.fs, path, url, self.scheme, self.settings)

    def with_path(self, path: str) -> Location:
        """The location of another ``path`` in the same filesystem."""
        url = f"s3://{path}" if self.is_s3 else path
        return Location(self.fs, path, url, self.scheme, self.settings)

    def __str__(self) -> str:
        return self.url


def locate(text: str | os.PathLike | Location, *,
           settings: S3Settings | None = None) -> Location:
    """The :class:`Location` that ``text`` names: a local path, ``file://`` or ``s3://`` URL.

    Nothing is read: a location may not exist yet (an output). ``settings`` default to
    :func:`~audit_analytics.storage.s3.s3_settings`. An S3 key loses its empty segments
    (``s3://b/a//c/`` is ``s3://b/a/c``): pyarrow's S3 filesystem addresses no other.

    Raises
    ------
    SourceError
        A malformed URL (no bucket, an invalid bucket name, an unsupported scheme) or S3
        settings that cannot be used.
    """
    if isinstance(text, Location):
        return text
    from pyarrow import fs as pafs

    raw = os.fspath(text)
    if is_remote(raw):
        rest = raw[5:]
        bucket, _, key = rest.partition("/")
        if not bucket or not _BUCKET.match(bucket):
            raise SourceError(f"not an S3 location: {raw} (expected s3://BUCKET/PREFIX)",
                              source=raw)
        settings = settings or s3_settings()
        # pyarrow addresses no key with an empty segment: ``a//b/`` is read as ``a/b``
        path = "/".join([bucket, *(part for part in key.split("/") if part)])
        return Location(s3_filesystem(settings), path, f"s3://{path}", "s3", settings)
    if raw.lower().startswith("file://"):
        parts = urlsplit(raw)
        if parts.netloc not in ("", "localhost"):
            raise SourceError(f"not a local file URL: {raw}", source=raw)
        local = unquote(parts.path)
        return Location(pafs.LocalFileSystem(), os.path.abspath(local), local)
    if re.match(r"^[a-zA-Z][\w+.-]*://", raw):
        scheme = raw.split("://", 1)[0]
        raise SourceError(f"unsupported location scheme {scheme}:// in {raw} "
                          "(use a local path, file:// or s3://)", source=raw)
    return Location(pafs.LocalFileSystem(), os.path.abspath(raw), raw)


def file_info(location: Location, *, doing: str = "read",
              error: type[AuditAnalyticsError] = SourceError):
    """The pyarrow ``FileInfo`` of ``location`` (type ``NotFound`` when nothing is there).

    Raises
    ------
    AuditAnalyticsError
        ``error`` for a request S3 refused (missing bucket, denied access, bad credentials).
    """
    try:
        return location.fs.get_file_info(location.path)
    except OSError as exc:
        raise _failure(exc, location, doing, error) from None


def read_bytes(location: Location, *, limit: int | None = None,
               error: type[AuditAnalyticsError] = SourceError) -> bytes:
    """The bytes of the file or object at ``location`` (at most ``limit``, else ``error``).

    Raises
    ------
    AuditAnalyticsError
        ``error``: the file is missing, larger than ``limit``, or cannot be read.
    """
    try:
        with location.fs.open_input_file(location.path) as handle:
            size = handle.size()
            if limit is not None and size > limit:
                raise error(f"cannot read {location}: {size} bytes, more than the {limit} "
                            "such a file can be", source=location.url, path=location.url)
            return handle.read()
    except FileNotFoundError:
        if location.is_s3:
            _check_bucket(location, "read", error)
        raise error(f"not found: {location}", source=location.url, path=location.url) from None
    except IsADirectoryError:
        raise error(f"cannot read {location}: a folder", source=location.url,
                    path=location.url) from None
    except OSError as exc:
        raise _failure(exc, location, "read", error) from None


def _failure(exc: OSError, location: Location, doing: str,
             error: type[AuditAnalyticsError]) -> AuditAnalyticsError:
    if location.is_s3:
        return s3_failure(exc, location.url, error=error, doing=doing,
                          settings=location.settings)
    reason = exc.strerror or first_line(exc)
    return error(f"cannot {doing} {location}: {reason}", source=location.url, path=location.url)


def _check_bucket(location: Location, doing: str, error: type[AuditAnalyticsError]) -> None:
    """Raise ``error`` when the location's bucket does not exist (S3 answers not found)."""
    from pyarrow import fs as pafs

    bucket = location.with_path(location.bucket)
    try:
        found = location.fs.get_file_info(bucket.path).type != pafs.FileType.NotFound
    except OSError as exc:
        raise _failure(exc, bucket, doing, error) from None
    if not found:
        raise error(f"bucket not found: s3://{location.bucket}", source=location.url,
                    path=location.url)


# --- expanding a SOURCE or archive argument ----------------------------------------------
def _glob_regex(pattern: str) -> re.Pattern:
    """A regex for a glob as :func:`glob.glob` with ``recursive=True`` reads it.

    ``**`` as a whole segment matches any number of folders, ``*`` and ``?`` stay inside
    one segment, ``[...]`` is a character class.
    """
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i) and (i == 0 or pattern[i - 1] == "/"):
            out.append("(?:[^/]+/)*")
            i += 3
        elif pattern.startswith("**", i) and (i == 0 or pattern[i - 1] == "/") \
                and i + 2 == len(pattern):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1:end]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _hive(common: str, files: list[str]) -> bool:
    """Whether folders named ``key=value`` stand between ``common`` and the files, or end it."""
    for path in files:
        folders = path[len(common):].strip("/").split("/")[:-1]
        if any(_HIVE_DIR.match(part) for part in folders):
            return True
    last = common.rstrip("/").rsplit("/", 1)[-1]
    return bool(_HIVE_DIR.match(last))


def expand(text: str | os.PathLike | Location, *,
           suffixes: tuple[str, ...] = (".parquet", ".pq"),
           what: str = "Parquet files") -> tuple[list[Location], bool]:
    """The files a SOURCE or archive argument names, and whether hive folders appear.

    A file names itself; a folder (or an S3 prefix) names every file under it whose name
    ends with one of ``suffixes`` (case-insensitive; pass ``()`` for every file); a glob
    names the files it matches (``**`` spans folders). Files come sorted by path.

    Raises
    ------
    SourceError
        Nothing there (``source not found``), nothing matching, a missing bucket, denied
        access or rejected credentials: one line each.
    """
    location = locate(text)
    if location.is_s3:
        paths = _expand_s3(location, suffixes, what)
        files = [location.with_path(p) for p in paths]
    else:
        shown = _expand_local(location, suffixes, what)
        paths = [os.path.abspath(p) for p in shown]
        files = [Location(location.fs, p, s) for p, s in zip(paths, shown)]
    if len(paths) == 1 and paths[0] == location.path:
        return [location], False
    common = os.path.commonpath([p.rsplit("/", 1)[0] for p in paths])
    return files, _hive(common, paths)


def _by_folders(path: str) -> list[str]:
    """Sort key: folder by folder, as paths compare (``a/b`` before ``a-b``)."""
    return path.split("/")


def _expand_local(location: Location, suffixes: tuple[str, ...], what: str) -> list[str]:
    """The files, spelled as the argument was (relative stays relative)."""
    spec, path = location.url, Path(location.path)
    if has_glob(spec) and not path.exists():
        # hidden names match as they do in a bucket: one glob names the same files anywhere
        files = sorted((p for p in globlib.glob(spec, recursive=True, include_hidden=True)
                        if Path(p).is_file()), key=_by_folders)
        if not files:
            raise SourceError(f"no files match {spec}", source=spec)
        return files
    if path.is_dir():
        files = [str(Path(spec) / rel) for rel in list_files(location, suffixes)]
        if not files:
            raise SourceError(f"no {what} under {spec}", source=spec)
        return files
    if path.exists():
        return [spec]
    raise SourceError(f"source not found: {spec}", source=spec)


def list_files(location: Location, suffixes: tuple[str, ...] = (".parquet", ".pq")) -> list[str]:
    """Every file below the folder or prefix ``location``, relative to it, sorted.

    The one listing behind both a folder read as a SOURCE (:func:`expand`) and an archive's
    check for files its manifest does not list: what any command reads as events, the
    verifying commands judge. Hidden (``.name``) and ``_``-prefixed files and folders are
    listed like any other. Locally, a file is a regular file (a symbolic link to one counts,
    as readers follow it; FIFOs and devices are never listed) and folders reached through a
    symbolic link are not entered. ``suffixes`` (case-insensitive) filter the names; ``()``
    lists every file. A folder that does not exist lists nothing.

    Raises
    ------
    SourceError
        The folder or prefix cannot be listed (denied access, S3 refusals).
    """
    if location.is_s3:
        prefix = location.path.rstrip("/") + "/"
        paths = [i.path for i in _list_s3(location)]
        rel = [p[len(prefix):] for p in paths if p.startswith(prefix)]
    else:
        root = location.path
        rel = []
        try:
            for folder, _, names in os.walk(root, onerror=_raise_walk_error):
                for name in names:
                    full = os.path.join(folder, name)
                    if os.path.isfile(full):
                        rel.append(os.path.relpath(full, root).replace(os.sep, "/"))
        except OSError as exc:
            raise _failure(exc, location, "list", SourceError) from None
    return _named(rel, suffixes)


def _named(paths, suffixes: tuple[str, ...]) -> list[str]:
    """``paths`` whose names end with one of ``suffixes`` (any case; ``()``: all), sorted."""
    wanted = tuple(s.lower() for s in suffixes)
    return sorted((p for p in paths if not wanted or p.lower().endswith(wanted)),
                  key=_by_folders)


def _raise_walk_error(exc: OSError) -> None:
    raise exc


def _expand_s3(location: Location, suffixes: tuple[str, ...], what: str) -> list[str]:
    from pyarrow import fs as pafs

    if has_glob(location.path):
        static = _GLOB_CHARS.split(location.path, 1)[0].rsplit("/", 1)[0]
        if "/" not in location.path[:len(static) + 1] or not static:
            raise SourceError(f"a glob cannot stand in the bucket name: {location}",
                              source=location.url)
        pattern = _glob_regex(location.path)
        listed = _list_s3(location.with_path(static))
        files = sorted((i.path for i in listed if pattern.match(i.path)), key=_by_folders)
        if not files:
            _check_bucket(location, "list", SourceError)
            raise SourceError(f"no files match {location}", source=location.url)
        return files
    refused = None
    try:
        if file_info(location).type == pafs.FileType.File:
            return [location.path]
    except SourceError as exc:  # a HEAD refusal has no body: the listing says why
        refused = exc
    listed = _list_s3(location)
    if refused is not None and not listed:
        raise refused
    files = _named((i.path for i in listed), suffixes)
    if files:
        return files
    if listed:
        raise SourceError(f"no {what} under {location}", source=location.url)
    _check_bucket(location, "list", SourceError)
    if location.key:
        raise SourceError(f"source not found: {location} (no object has that key or prefix)",
                          source=location.url)
    raise SourceError(f"no {what} under {location}: the bucket is empty", source=location.url)


def _list_s3(location: Location) -> list:
    """Every object (never a folder marker) under ``location``'s prefix, recursively."""
    from pyarrow import fs as pafs

    selector = pafs.FileSelector(location.path, recursive=True, allow_not_found=True)
    try:
        infos = location.fs.get_file_info(selector)
    except OSError as exc:
        raise _failure(exc, location, "list", SourceError) from None
    return [i for i in infos if i.type == pafs.FileType.File]
