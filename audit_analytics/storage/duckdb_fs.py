"""DuckDB reads S3 objects through pyarrow's S3 filesystem: no DuckDB extension involved.

DuckDB's ``httpfs`` extension downloads itself at ``INSTALL`` time; instead, the pyarrow
filesystem of a :class:`~audit_analytics.storage.location.Location` is handed to DuckDB's
connection as an fsspec filesystem (fsspec's own wrapper around a pyarrow filesystem), under
a protocol of its own, :data:`PROTOCOL`. ``read_parquet('aa-s3://bucket/key')`` then reads
the object with ranged requests through pyarrow, with every option (``file_row_number``,
``hive_partitioning``) as for a local file.

DuckDB's threads share one open file and read it as ``seek`` then ``read``: two calls,
between which another thread may seek elsewhere (measured: one run in three of a 32-file
archive read corrupt pages). :class:`PositionalFile` keeps each thread's position apart
and reads with pyarrow's ``read_at``, a ranged read that touches no shared position.
"""

from __future__ import annotations

import io
import threading

from fsspec.implementations.arrow import ArrowFSWrapper

from .location import Location

__all__ = ["PROTOCOL", "duckdb_path", "filesystem_for"]

#: The protocol DuckDB sees for S3 objects read through pyarrow.
PROTOCOL = "aas3"


class PositionalFile(io.RawIOBase):
    """A read-only file over a pyarrow ``RandomAccessFile``, its position kept per thread."""

    def __init__(self, raw, path: str) -> None:
        super().__init__()
        self.raw = raw
        self.path = path
        self.size = raw.size()
        self._local = threading.local()

    @property
    def _pos(self) -> int:
        return getattr(self._local, "pos", 0)

    def readable(self) -> bool:  # noqa: D102 - io's API
        return True

    def seekable(self) -> bool:  # noqa: D102 - io's API
        return True

    def tell(self) -> int:  # noqa: D102 - io's API
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:  # noqa: D102 - io's API
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._local.pos = max(base + offset, 0)
        return self._local.pos

    def read(self, size: int = -1) -> bytes:  # noqa: D102 - io's API
        pos = self._pos
        size = self.size - pos if size is None or size < 0 else min(size, self.size - pos)
        if size <= 0:
            return b""
        data = self.raw.read_at(size, pos)
        self._local.pos = pos + len(data)
        return data

    def readinto(self, buffer) -> int:  # noqa: D102 - io's API
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:  # noqa: D102 - io's API
        if not self.closed:
            self.raw.close()
        super().close()


class PyArrowS3(ArrowFSWrapper):
    """fsspec's wrapper of a pyarrow S3 filesystem, under :data:`PROTOCOL`."""

    protocol = PROTOCOL
    root_marker = ""

    @classmethod
    def _strip_protocol(cls, path):  # noqa: D102 - fsspec's API: "aas3://b/k" -> "b/k"
        text = str(path)
        if text.startswith(PROTOCOL + "://"):
            text = text[len(PROTOCOL) + 3:]
        return text.rstrip("/")

    def _open(self, path, mode="rb", block_size=None, seekable=True, **kwargs):  # noqa: D102
        if mode != "rb":
            return super()._open(path, mode, block_size, seekable, **kwargs)
        return PositionalFile(self.fs.open_input_file(self._strip_protocol(path)), path)


def duckdb_path(location: Location) -> str:
    """The path DuckDB reads ``location`` by: the local path, or ``aas3://bucket/key``."""
    return f"{PROTOCOL}://{location.path}" if location.is_s3 else location.path


def filesystem_for(location: Location) -> PyArrowS3:
    """The fsspec filesystem to register in DuckDB for an S3 ``location``."""
    return PyArrowS3(location.fs)
