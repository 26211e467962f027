"""Parquet sources: a file, a folder of files (hive partitions allowed) or a glob.

Local or in object storage alike: the argument is expanded by
:func:`audit_analytics.storage.expand`, and DuckDB reads an ``s3://`` object through
pyarrow's S3 filesystem (see :mod:`audit_analytics.storage.duckdb_fs`).
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import replace

import pyarrow.parquet as pq

from .._engine import Engine
from .._files import file_kind
from ..errors import SourceError, first_line
from ..storage import Location, duckdb_path, expand, filesystem_for, s3_failure
from .base import ScanPart, Source

__all__ = ["ParquetSource"]

log = logging.getLogger("audit_analytics")

ROW_KEY_SHIFT = 40  # row key = file index << 40 | row number within the file


def _parquet_literal_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


class ParquetSource(Source):
    """A Parquet file, a folder of Parquet files (hive partitions allowed) or a glob.

    ``spec`` is a local path, a ``file://`` URL or an ``s3://bucket/prefix`` location.
    ``skip_unreadable`` leaves a file that is not readable Parquet out of the events (with a
    warning) instead of refusing the source: for a reader whose own check reports it.
    """

    def __init__(self, spec: str, *, skip_unreadable: bool = False) -> None:
        files, hive = expand(spec)
        super().__init__(label=str(spec), kind="parquet")
        self.locations: list[Location] = []
        self.file_rows: list[int] = []
        for location in files:
            try:
                meta = _read_parquet_meta(location)
            except SourceError as exc:
                if not skip_unreadable:
                    raise
                log.warning("%s: left out of the events (%s)", location.url, exc)
                continue
            self.locations.append(location)
            self.file_rows.append(meta.num_rows)
        if not self.locations:
            raise SourceError(f"no readable Parquet file under {spec}", source=str(spec))
        self.files = [f.url for f in self.locations]
        self.hive = hive
        self.rows = sum(self.file_rows)

    @property
    def remote(self) -> bool:
        """True when the files are objects in S3 (or an S3-compatible store)."""
        return any(f.is_s3 for f in self.locations)

    def attach(self, engine: Engine) -> None:
        """Create the view ``raw`` over all files (a view: nothing is copied)."""
        if self.remote:
            engine.register_filesystem(filesystem_for(self.locations[0]))
        hive = "true" if self.hive else "false"
        # A view cannot hold a bound parameter, so the file list is quoted as literals.
        engine.create_view(
            "raw",
            "SELECT * FROM read_parquet("
            f"{_parquet_literal_list([duckdb_path(f) for f in self.locations])}, "
            f"hive_partitioning={hive}, union_by_name=true)",
        )
        self.columns = engine.columns(f"SELECT * FROM {engine.qualified('raw')}")

    def parts(self) -> list[ScanPart]:
        """One part per file; the row key is the file index and the row number."""
        return [
            replace(ScanPart.parquet(duckdb_path(location), index << ROW_KEY_SHIFT, rows),
                    where=location.url)
            for index, (location, rows) in enumerate(zip(self.locations, self.file_rows))
        ]

    def local_files(self) -> list[str]:
        """The source's files that are on this machine."""
        return [f.path for f in self.locations if not f.is_s3]

    def locate(self, row_key: int) -> str:
        """``path row N`` for a row key made by :meth:`parts`."""
        index, row = row_key >> ROW_KEY_SHIFT, row_key & ((1 << ROW_KEY_SHIFT) - 1)
        path = self.files[index] if 0 <= index < len(self.files) else "?"
        return f"{path} row {row}"


def _read_parquet_meta(location: Location):
    shown = location.url
    if location.is_s3:
        try:
            with location.fs.open_input_file(location.path) as handle:
                return pq.read_metadata(handle)
        except (FileNotFoundError, IsADirectoryError):
            raise SourceError(f"source not found: {shown}", source=shown) from None
        except OSError as exc:
            if "AWS Error" in str(exc):
                raise s3_failure(exc, shown, settings=location.settings) from None
            raise SourceError(f"not a readable Parquet file: {shown} ({first_line(exc)})",
                              source=shown) from None
        except Exception as exc:  # pyarrow raises ArrowInvalid & co for corrupt footers
            raise SourceError(f"not a readable Parquet file: {shown} ({first_line(exc)})",
                              source=shown) from None
    path = location.path
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None  # missing or unreadable: the read below names the reason
    if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        # Opening a FIFO would wait for a writer, and a device never ends: never read them.
        raise SourceError(f"not a Parquet file: {shown} is {file_kind(mode)}, not a regular "
                          "file", source=shown)
    try:
        return pq.read_metadata(path)
    except FileNotFoundError:
        raise SourceError(f"source not found: {shown}", source=shown) from None
    except IsADirectoryError:
        raise SourceError(f"not a Parquet file: {shown} is a folder", source=shown) from None
    except PermissionError:
        raise SourceError(f"cannot read {shown}: permission denied", source=shown) from None
    except OSError as exc:
        size = os.stat(path).st_size if os.path.exists(path) else 0
        reason = "the file is empty" if size == 0 else first_line(exc)
        raise SourceError(f"not a readable Parquet file: {shown} ({reason})",
                          source=shown) from None
    except Exception as exc:  # pyarrow raises ArrowInvalid & co for corrupt footers
        raise SourceError(f"not a readable Parquet file: {shown} ({first_line(exc)})",
                          source=shown) from None
