"""Row integrity of one batch: each row's digest recomputed and compared with the stored one.

The seam between the scan and the digest layer: JSON profiles are rendered and hashed by
the kernel, SQL profiles hash the text DuckDB built; SHA-256 stored as lowercase hex is
decoded and compared in one kernel call, other digests and encodings by
:mod:`.digests`. In-batch links are confirmed on the whole digest.
"""

from __future__ import annotations

import numpy as np

from . import kernel
from .digests import compute, decode
from .profiles import HashProfile
from .schema import TEXT_RESOLUTION

__all__ = ["batch_integrity", "finer_timestamps", "row_integrity"]


def _digests(profile: HashProfile, fields: list, text, omit_nulls=None):
    """Each row's digest, and which rows had a text (the digest layer's seam)."""
    if profile.text == "sql":
        return compute(profile, text)
    if profile.native_default:
        out = kernel.digests(profile, fields, omit_nulls=omit_nulls)
        return out, np.ones(len(out), dtype=bool)
    return compute(profile, kernel.canonical_texts(profile, fields, omit_nulls=omit_nulls))


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.shape[1] % 8 == 0:
        return (a.view(np.uint64) == b.view(np.uint64)).all(axis=1)
    return (a == b).all(axis=1)


def row_integrity(profile: HashProfile, fields: list, stored_col, text=None):
    """Recompute digests for one batch; returns (ok, computed, hash flags, stored).

    ``fields`` are the hashed fields (JSON profiles), ``text`` the built text (SQL
    profiles). Digests are whole (``profile.digest_size`` bytes), not link keys.
    """
    ok, computed, hf, stored, _, _, _ = batch_integrity(profile, fields, stored_col,
                                                        stored_col, text)
    return ok, computed, hf, stored


def batch_integrity(profile: HashProfile, fields: list, stored_col, prev_col, text=None):
    """Digests, stored digests and in-batch links of one batch.

    Returns (ok, computed, hash flags, stored, prev, prev flags, seq) as
    :func:`audit_analytics.chain.kernel.compare` does, digests whole (``digest_size``
    bytes). SHA-256 stored as lowercase hex takes the kernel's one-call path; other
    digests and encodings are decoded by the digest layer and compared in numpy.
    """
    computed, has_text = _digests(profile, fields, text)
    if profile.native_default:
        stored, hf, prev, pf, ok, seq = kernel.compare(computed, stored_col, prev_col,
                                                       profile.genesis)
        if profile.null_prev_is_genesis:
            pf = np.where(pf == 1, np.uint8(3), pf)
    else:
        stored, hf = decode(profile, stored_col)
        prev, pf = decode(profile, prev_col, link=True)
        ok = _same(computed, stored) & (hf == 0)
        seq = np.zeros(len(ok), dtype=bool)
        seq[1:] = (hf[:-1] == 0) & (pf[1:] == 0) & _same(prev[1:], stored[:-1])
    if text is not None:
        ok = ok & has_text
    if profile.text == "json" and profile.null == "null-or-omit":
        retry = ~ok & (hf == 0) & kernel.any_null(fields)
        if retry.any():
            idx = np.nonzero(retry)[0]
            subset = [kernel.take(f, idx) for f in fields]
            again, _ = _digests(profile, subset, None, omit_nulls=True)
            hit = _same(again, stored[idx])
            if hit.any():
                computed = computed.copy()
                computed[idx[hit]] = again[hit]
                ok = ok.copy()
                ok[idx[hit]] = True
    return ok, computed, hf, stored, prev, pf, seq


def finer_timestamps(profile: HashProfile, batch) -> dict[int, str]:
    """The rows of ``batch`` whose stored timestamp is finer than the profile's text, and why.

    Such a timestamp (nanoseconds under ``python-isoformat``, whose ``datetime`` holds
    microseconds; sub-millisecond digits under ``js-iso``) is not the value the producer
    hashed: its row's digest does not cover it, whatever the digest of the coarser text
    says. ``batch`` is read with :func:`.schema.scan_select` (its ``__finer`` column).
    """
    if "__finer" not in batch.schema.names:
        return {}
    column = batch.column("__finer")
    if column.null_count == len(column):
        return {}
    rows = np.nonzero(~kernel.bools(column.is_null()))[0]
    coarse = TEXT_RESOLUTION[profile.timestamp][1]
    out = {}
    for i, text in zip(rows.tolist(), kernel.take(column, rows).to_pylist()):
        digits = len(text.partition(".")[2].partition("+")[0])
        fine = "nanoseconds" if digits > 6 else "microseconds"
        out[i] = (f"stored timestamp {text} has {fine} below the {coarse}, which "
                  f"{profile.timestamp} text cannot hold: it is not the value that was hashed")
    return out
