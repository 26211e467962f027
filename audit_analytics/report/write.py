"""Write a report's files: atomic, versioned per period, recorded in the review ledger.

Files are named by period: ``audit-report_2024-01.html`` and ``.json``, ``.csv`` (one
finding per row, the first 10,000 of each check) and ``.pdf`` (with the ``pdf`` extra,
rendered by weasyprint from the HTML and its print styles). A re-run for a period already
reported in that folder never replaces the earlier files: it writes the next version
(``audit-report_2024-01_v2.html``) and says so.
``replace=True`` (``--replace``) rewrites the latest version in place instead, and the
ledger records that it did; if the new files cannot all be written, or the ledger cannot
record them, the files it rewrote are put back as they were (no report file ever changes
without a ledger entry that says so). Writers in one folder take turns (an advisory lock on the
folder itself), so two runs for one period at once write two versions and
never the same one. Each file is written to a temporary name and renamed into place (a
symbolic link is written through, a device or FIFO written directly, see
:mod:`audit_analytics._io`); if any file fails, the files this run already wrote are
removed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import _args
from .._io import PendingWrite, exclusive_lock, prepare_write, write_atomic
from .._text import escape_json, shown
from ..errors import OutputError, UsageError

__all__ = ["FORMATS", "PDF_MISSING", "WrittenReport", "check_formats", "probe_out_dir",
           "write_report"]

log = logging.getLogger("audit_analytics")

FORMATS = ("html", "json", "csv", "pdf")
PDF_MISSING = "PDF output needs the 'pdf' extra (pip install audit_analytics[pdf])"
PDF_LIBRARIES = ("PDF output needs the Pango system libraries for weasyprint "
                 "(Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0 "
                 "libharfbuzz-subset0)")
_RETRIES = 20
#: How long a report waits for another writer in the same folder to finish (seconds).
LOCK_WAIT = 120.0


@dataclass
class WrittenReport:
    """What :func:`write_report` produced.

    Attributes
    ----------
    paths
        ``{format: Path}`` of every file written.
    version
        1 for the first report of the period in that folder, then 2, 3...
    replaced
        True when ``replace=True`` overwrote existing files.
    sha256
        The SHA-256 of the primary file (HTML, else JSON, else PDF), as in the ledger.
    ledger_entry
        The ledger line appended (``None`` with ``ledger=False``).
    """

    paths: dict[str, Path]
    version: int
    replaced: bool
    sha256: str
    previous: list[Path] = field(default_factory=list)
    ledger_entry: dict | None = None

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.paths.values())


def check_formats(formats) -> tuple[str, ...]:
    """Validate and normalise formats (``"html,json"`` or a sequence); PDF needs weasyprint."""
    if isinstance(formats, str):
        formats = [f for f in formats.split(",")]
    if not isinstance(formats, list | tuple) or not all(isinstance(f, str) for f in formats):
        raise UsageError(f"formats must be format names (html, json, csv, pdf), not "
                         f"{shown(repr(formats), 80)}", argument="formats")
    out = []
    for fmt in formats:
        fmt = fmt.strip().lower()
        if not fmt:
            continue
        if fmt not in FORMATS:
            raise OutputError(f"unknown report format {fmt!r} (html, json, csv or pdf)",
                              format=fmt)
        if fmt not in out:
            out.append(fmt)
    if not out:
        raise OutputError("no report format given (html, json, csv or pdf)")
    if "pdf" in out:
        try:
            import weasyprint  # noqa: F401
        except ImportError:
            raise OutputError(PDF_MISSING, format="pdf") from None
        except OSError:  # weasyprint is there, the system libraries it loads are not
            raise OutputError(PDF_LIBRARIES, format="pdf") from None
    return tuple(out)


def probe_out_dir(out_dir: str | Path) -> Path:
    """Create ``out_dir`` if needed and make sure a file can be written there (early error)."""
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"cannot write into {folder}: not a folder", path=str(folder))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".audit-report-probe.", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise OutputError(f"cannot write into {folder}: {exc.strerror or exc}",
                          path=str(folder)) from None
    return folder


def _name(base: str, version: int, fmt: str) -> str:
    return f"{base}{'' if version == 1 else f'_v{version}'}.{fmt}"


def existing_versions(folder: Path, base: str) -> list[int]:
    """Versions of ``base`` already in ``folder`` (any format), ascending."""
    pattern = re.compile(re.escape(base) + r"(?:_v(\d+))?\.(?:" + "|".join(FORMATS) + r")$")
    found = set()
    if folder.is_dir():
        for entry in folder.iterdir():
            if m := pattern.match(entry.name):
                found.add(int(m[1] or 1))
    return sorted(found)


def _render(report, formats) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    html_text = None
    if "html" in formats or "pdf" in formats:
        html_text = report.to_html()
    if "html" in formats:
        out["html"] = html_text.encode("utf-8")
    if "json" in formats:
        out["json"] = (escape_json(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
                       + "\n").encode("utf-8")
    if "csv" in formats:
        from .spreadsheet import findings_csv

        out["csv"] = findings_csv(report).encode("utf-8")
    if "pdf" in formats:
        out["pdf"] = render_pdf(html_text)
    return out


def _replaced_bytes(staged: list[PendingWrite]) -> dict[Path, bytes | None]:
    """The bytes each staged write will replace (``None``: nothing is there yet).

    A device or FIFO written in place has nothing to put back and is left out.
    """
    out: dict[Path, bytes | None] = {}
    for pending in staged:
        try:
            mode = os.lstat(pending.path).st_mode
        except FileNotFoundError:
            out[pending.path] = None
            continue
        except OSError as exc:
            raise OutputError(f"cannot examine {pending.path}: {exc.strerror or exc}",
                              path=str(pending.path)) from None
        if stat.S_ISREG(mode):
            try:
                out[pending.path] = pending.path.read_bytes()
            except OSError as exc:
                raise OutputError(f"cannot read {pending.path} before replacing it: "
                                  f"{exc.strerror or exc}", path=str(pending.path)) from None
    return out


def _put_back(rewritten: dict[Path, bytes | None]) -> None:
    """Restore what a failed replace rewrote: old bytes back, new files removed."""
    for path, data in rewritten.items():
        try:
            if data is not None:
                write_atomic(path, data)
            elif stat.S_ISREG(os.lstat(path).st_mode):
                path.unlink()
        except FileNotFoundError:
            continue
        except (OutputError, OSError) as exc:
            log.warning("could not put %s back as it was before the failed replace: %s",
                        path, exc)


def render_pdf(html_text: str) -> bytes:
    """The PDF of the report's HTML (weasyprint, print styles; nothing fetched)."""
    import weasyprint
    from weasyprint.urls import URLFetcher

    # the page is self-contained: no protocol at all is allowed to fetch anything
    fetcher = URLFetcher(timeout=1, allowed_protocols=frozenset())
    # weasyprint logs every screen-only CSS property it skips: not the reader's concern
    quiet = [logging.getLogger(name) for name in ("weasyprint", "fontTools")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.CRITICAL)
    try:
        return weasyprint.HTML(string=html_text, url_fetcher=fetcher).write_pdf()
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)


def write_report(report, out_dir: str | Path = "reports", formats=("html", "json"), *,
                 replace: bool = False, ledger: bool = True,
                 home: str | Path | None = None) -> WrittenReport:
    """Write ``report`` into ``out_dir``; see the module docstring for names and versions.

    Raises
    ------
    OutputError
        Unknown format, PDF without weasyprint, or a folder that cannot be written (nothing
        of this run is left behind).
    LedgerError
        The ledger cannot be appended (the files just written are removed again; with
        ``replace``, the files they replaced are put back).
    """
    formats = check_formats(formats)
    _args.path(out_dir, "out_dir")
    _args.flag(replace, "replace")
    _args.flag(ledger, "ledger")
    _args.path(home, "home", optional=True)
    folder = probe_out_dir(out_dir)
    with exclusive_lock(folder, wait=LOCK_WAIT,
                        busy=f"a report is being written into {folder}"):
        return _write_locked(report, folder, formats, replace, ledger, home)


def _write_locked(report, folder: Path, formats: tuple[str, ...], replace: bool, ledger: bool,
                  home: str | Path | None) -> WrittenReport:
    """Choose the version and write the files (the caller holds the folder's lock)."""
    base = report.basename
    versions = existing_versions(folder, base)
    version = (versions[-1] if versions else 1) if replace else (versions[-1] + 1 if versions
                                                                 else 1)
    rewritten: dict[Path, bytes | None] | None = None  # what a replace rewrote, to put back
    for _ in range(_RETRIES):
        report.version = version
        blobs = _render(report, formats)
        if replace:  # stage every format first: a failure leaves the old version whole
            staged: list[PendingWrite] = []
            try:
                for fmt in formats:
                    staged.append(prepare_write(folder / _name(base, version, fmt), blobs[fmt]))
            except BaseException:
                for pending in staged:
                    pending.discard()
                raise
            try:
                rewritten = _replaced_bytes(staged)
                for pending in staged:
                    pending.commit()
            except BaseException:
                if rewritten is not None:
                    _put_back(rewritten)
                raise
            finally:
                for pending in staged:
                    pending.discard()
            break
        written: list[Path] = []  # what to remove if this attempt fails
        try:
            for fmt in formats:
                path = folder / _name(base, version, fmt)
                write_atomic(path, blobs[fmt], exclusive=True)
                written.append(path)
            break
        except (OutputError, OSError) as exc:
            for path in written:
                with contextlib.suppress(OSError):
                    path.unlink()
            if isinstance(exc, OSError) and not isinstance(exc, OutputError):
                raise OutputError(f"cannot write into {folder}: {exc.strerror or exc}",
                                  path=str(folder)) from None
            if "already exists" in str(exc):
                version += 1  # a writer that does not take the lock took this version
                continue
            raise
    else:  # pragma: no cover - twenty versions appearing while this run writes
        raise OutputError(f"cannot find a free version for {base} in {folder}")
    paths = {fmt: folder / _name(base, version, fmt) for fmt in formats}
    primary = next(f for f in ("html", "json", "pdf", "csv") if f in formats)
    digests = {fmt: hashlib.sha256(blobs[fmt]).hexdigest() for fmt in formats}
    previous = [folder / _name(base, v, primary) for v in versions if v != version]
    result = WrittenReport(paths=paths, version=version, replaced=replace and version in versions,
                           sha256=digests[primary], previous=previous)
    if ledger:
        from ..trail.ledger import Ledger

        files = {fmt: {"path": str(paths[fmt].resolve()), "sha256": digests[fmt],
                       "primary": fmt == primary} for fmt in formats}
        try:
            result.ledger_entry = Ledger(home).record(
                period=report.period, source=report.scope["source"], sha256=digests[primary],
                version=version, files=files, status=report.status, actor=report.generated_by,
                replaced=result.replaced, source_id=getattr(report, "source_id", None))
        except Exception:
            if rewritten is not None:
                _put_back(rewritten)
            else:
                for path in paths.values():
                    with contextlib.suppress(OSError):
                        path.unlink()
            raise
    if version > 1 and not result.replaced:
        log.info("a report for %s already exists in %s: wrote version %d", report.period.label,
                 folder, version)
    return result
