"""DuckDB reads S3 objects through pyarrow's S3 filesystem: no DuckDB extension involved.

DuckDB's ``httpfs`` extension downloads itself at ``INSTALL`` time; instead, the pyarrow
filesystem of a :class:`~audit_analytics.storage.location.Location` is handed to DuckDB's
connection as an fsspec filesystem (fsspec's own wrapper around a pyarrow filesystem), under
a protocol of its own, :data:`PROTOCOL`. ``read_parquet('aa-s3://bucket/key')`` then reads
the object with ranged requests through pyarrow, with every option (``file_row_number``,
``hive_partitioning``) as for a local file.
"""

from __future__ import annotations

from fsspec.implementations.arrow import ArrowFSWrapper

from .location import Location

__all__ = ["PROTOCOL", "duckdb_path", "filesystem_for"]

#: The protocol DuckDB sees for S3 objects read through pyarrow.
PROTOCOL = "aas3"


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


def duckdb_path(location: Location) -> str:
    """The path DuckDB reads ``location`` by: the local path, or ``aas3://bucket/key``."""
    return f"{PROTOCOL}://{location.path}" if location.is_s3 else location.path


def filesystem_for(location: Location) -> PyArrowS3:
    """The fsspec filesystem to register in DuckDB for an S3 ``location``."""
    return PyArrowS3(location.fs)
