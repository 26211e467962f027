"""What several parts share, found without holding every part's keys in memory.

Each part's result carries, per row, the distinct 64-bit keys of its stored digests and
hashes of its ids (:class:`~audit_analytics.chain.scan.PartResult` ``key_set`` and
``id_set``): the only state of the reduce that grows with the whole source. As each
result arrives, :meth:`PartSets.take` writes them to disk, split by their top bits into
:data:`BUCKETS` files of 12-byte records (value, part) in a private temporary folder,
and drops them. A query then reads one bucket at a time, so the reduce holds at most one
bucket (about ``12 * rows / BUCKETS`` bytes, plus its sort) to name the few values that
more than one part holds (copies across parts, duplicate ids across parts, forks from a
row in the middle of another part's run).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["BUCKETS", "PartSets"]

#: Files per kind of value: a billion rows make buckets of about 94 MB.
BUCKETS = 128
_SHIFT = np.uint64(64 - 7)  # the top 7 bits choose the bucket
_RECORD = np.dtype([("k", "<u8"), ("p", "<i4")])
_KINDS = {"keys": np.int64, "ids": np.uint64}


class PartSets:
    """The digest keys (``keys``) and id hashes (``ids``) of every part, spilled to disk.

    Use as a context manager: the folder and its files go at the end.
    """

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="audit_analytics-sets-"))
        self.parts = 0

    def _file(self, name: str, bucket: int) -> Path:
        return self.folder / f"{name}-{bucket:03d}.bin"

    def take(self, result) -> None:
        """Write ``result``'s ``key_set`` and ``id_set`` to disk (they become ``None``)."""
        for name, values in (("keys", result.key_set), ("ids", result.id_set)):
            if values is not None and len(values):
                self._write(name, result.index, np.asarray(values))
        result.key_set = result.id_set = None
        self.parts += 1

    def _write(self, name: str, part: int, values: np.ndarray) -> None:
        records = np.empty(len(values), _RECORD)
        records["k"] = values.view(np.uint64)
        records["p"] = part
        bucket = (records["k"] >> _SHIFT).astype(np.int64)
        order = np.argsort(bucket, kind="stable")
        records, bucket = records[order], bucket[order]
        bounds = np.searchsorted(bucket, np.arange(BUCKETS + 1))
        for b in np.nonzero(np.diff(bounds))[0].tolist():
            with open(self._file(name, b), "ab") as out:
                records[bounds[b]:bounds[b + 1]].tofile(out)

    def _buckets(self, name: str, only=None):
        for b in range(BUCKETS) if only is None else sorted(only):
            path = self._file(name, b)
            if path.exists():
                yield np.fromfile(path, _RECORD)

    def shared(self, name: str) -> dict[int, np.ndarray]:
        """Per part, the values of ``name`` (``keys`` or ``ids``) that other parts hold too."""
        if self.parts < 2:
            return {}
        found = []
        for records in self._buckets(name):
            records = records[np.argsort(records["k"], kind="stable")]
            k = records["k"]
            same = k[1:] == k[:-1]
            if not same.any():
                continue
            grouped = np.zeros(len(k), dtype=bool)  # every row of a value held twice or more
            grouped[1:] |= same
            grouped[:-1] |= same
            found.append(records[grouped])
        return self._by_part(name, found)

    def held_elsewhere(self, name: str, asked: list[tuple[int, int]]) -> dict[int, np.ndarray]:
        """Per part other than the asking one, the values of ``asked`` it holds.

        ``asked`` lists ``(value, asking part)`` pairs.
        """
        if not asked or self.parts < 2:
            return {}
        asked = sorted(set(asked))
        values = np.array([v for v, _ in asked], _KINDS[name]).view(np.uint64)
        askers = np.array([p for _, p in asked], np.int32)
        order = np.lexsort((askers, values))
        values, askers = values[order], askers[order]
        found = []
        for records in self._buckets(name, {int(b) for b in (values >> _SHIFT).tolist()}):
            hit = records[np.isin(records["k"], values)]
            if not len(hit):
                continue
            lo = np.searchsorted(values, hit["k"], side="left")
            hi = np.searchsorted(values, hit["k"], side="right")
            # a row counts unless its own part is the only one asking for its value
            alone = (hi - lo == 1) & (askers[np.minimum(lo, len(askers) - 1)] == hit["p"])
            found.append(hit[~alone])
        return self._by_part(name, found)

    def _by_part(self, name: str, found: list[np.ndarray]) -> dict[int, np.ndarray]:
        if not found:
            return {}
        records = np.concatenate(found)
        out: dict[int, np.ndarray] = {}
        for p in np.unique(records["p"]).tolist():
            out[int(p)] = np.unique(records["k"][records["p"] == p].view(_KINDS[name]))
        return out

    def close(self) -> None:
        """Delete the folder and its files."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PartSets:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
