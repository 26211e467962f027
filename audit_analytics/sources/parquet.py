"""Parquet sources: a file, a folder of files (hive partitions allowed) or a glob."""

from __future__ import annotations

import glob as globlib
import os
import re
from pathlib import Path

import pyarrow.parquet as pq

from .._engine import Engine
from ..errors import SourceError, first_line
from .base import ScanPart, Source

__all__ = ["ParquetSource"]

_GLOB_CHARS = re.compile(r"[*?\[]")
_HIVE_DIR = re.compile(r"^[^=/]+=[^/]*$")
ROW_KEY_SHIFT = 40  # row key = file index << 40 | row number within the file


def _parquet_literal_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


class ParquetSource(Source):
    """A Parquet file, a folder of Parquet files (hive partitions allowed) or a glob."""

    def __init__(self, spec: str) -> None:
        files, hive = _resolve_parquet(spec)
        super().__init__(label=spec, kind="parquet")
        self.files = files
        self.hive = hive
        self.file_rows: list[int] = []
        for path in files:
            self.file_rows.append(_read_parquet_meta(path).num_rows)
        self.rows = sum(self.file_rows)

    def attach(self, engine: Engine) -> None:
        """Create the view ``raw`` over all files (a view: nothing is copied)."""
        hive = "true" if self.hive else "false"
        # A view cannot hold a bound parameter, so the file list is quoted as literals.
        engine.create_view(
            "raw",
            "SELECT * FROM read_parquet("
            f"{_parquet_literal_list([str(p) for p in self.files])}, "
            f"hive_partitioning={hive}, union_by_name=true)",
        )
        self.columns = engine.columns(f"SELECT * FROM {engine.qualified('raw')}")

    def parts(self) -> list[ScanPart]:
        """One part per file; the row key is the file index and the row number."""
        return [
            ScanPart.parquet(str(path), index << ROW_KEY_SHIFT, rows)
            for index, (path, rows) in enumerate(zip(self.files, self.file_rows))
        ]

    def locate(self, row_key: int) -> str:
        """``path row N`` for a row key made by :meth:`parts`."""
        index, row = row_key >> ROW_KEY_SHIFT, row_key & ((1 << ROW_KEY_SHIFT) - 1)
        path = self.files[index] if 0 <= index < len(self.files) else "?"
        return f"{path} row {row}"


def _read_parquet_meta(path: Path):
    try:
        return pq.read_metadata(path)
    except FileNotFoundError:
        raise SourceError(f"source not found: {path}", source=str(path)) from None
    except IsADirectoryError:
        raise SourceError(f"not a Parquet file: {path} is a folder", source=str(path)) from None
    except PermissionError:
        raise SourceError(f"cannot read {path}: permission denied", source=str(path)) from None
    except OSError as exc:
        size = path.stat().st_size if path.exists() else 0
        reason = "the file is empty" if size == 0 else first_line(exc)
        raise SourceError(
            f"not a readable Parquet file: {path} ({reason})", source=str(path)
        ) from None
    except Exception as exc:  # pyarrow raises ArrowInvalid & co for corrupt footers
        raise SourceError(
            f"not a readable Parquet file: {path} ({first_line(exc)})", source=str(path)
        ) from None


def _resolve_parquet(spec: str) -> tuple[list[Path], bool]:
    """Expand a file, folder or glob into Parquet files; say whether hive folders appear."""
    path = Path(spec)
    if _GLOB_CHARS.search(spec) and not path.exists():
        files = sorted(Path(p) for p in globlib.glob(spec, recursive=True) if Path(p).is_file())
        if not files:
            raise SourceError(f"no files match {spec}", source=spec)
    elif path.is_dir():
        files = sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".parquet", ".pq")
        )
        if not files:
            raise SourceError(f"no Parquet files under {spec}", source=spec)
    elif path.exists():
        return [path], False
    else:
        raise SourceError(f"source not found: {spec}", source=spec)
    common = Path(os.path.commonpath([str(f.parent) for f in files]))
    hive = any(_HIVE_DIR.match(part) for f in files for part in f.parent.relative_to(common).parts)
    hive = hive or any(_HIVE_DIR.match(part) for part in common.parts[-1:])
    return files, hive
