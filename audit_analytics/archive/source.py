"""An archive folder read as a source: its part files are the events, its manifest the proof.

``check DIR``, ``report DIR``, ``reconcile`` and ``audit_analytics.open(DIR)`` read every
Parquet file below the folder (the listing ``verify DIR`` judges: hidden and ``_`` names
included, see :func:`~audit_analytics.storage.location.list_files`), and the integrity of
those events is the archive's own check (:func:`~.spotcheck.check_archive` over every part
file): a file no manifest entry lists is ``unlisted_file``, whatever its rows say. A part
file that is not readable Parquet is left out of the events (with a warning) and reported
by that check as ``unreadable_file``.
"""

from __future__ import annotations

from ..sources.base import ARCHIVE
from ..sources.parquet import ParquetSource

__all__ = ["ArchiveSource"]


class ArchiveSource(ParquetSource):
    """An archive folder (``manifest.jsonl`` and part files below it), local or in S3.

    Parameters
    ----------
    spec
        The archive folder.
    public_key
        The archive's Ed25519 public key (``PREFIX.pub``); ``None`` leaves the manifest's
        signatures unchecked, which every verdict then says.
    expect_head
        The manifest head kept from an ``archive`` run: its absence is ``truncated``.
    """

    capabilities = frozenset({ARCHIVE})

    def __init__(self, spec: str, public_key=None, expect_head: str | None = None) -> None:
        super().__init__(spec, skip_unreadable=True)  # the archive check reports those
        self.kind = "archive"
        self.public_key = public_key
        self.expect_head = expect_head
        # the partition folders (date=...) say where a file is, not what its events hold: a
        # stray file outside them must stay readable, and reported by the archive check
        self.hive = False

    def check_integrity(self, profile=None, progress: bool | None = None, **verify_options):
        """The archive's check over every part file (an :class:`~.spotcheck.ArchiveCheck`)."""
        from .spotcheck import check_archive

        return check_archive(self.label, self.public_key, everything=True,
                             expect_head=self.expect_head,
                             profile=None if profile in (None, "auto") else profile,
                             progress=progress, **verify_options)
