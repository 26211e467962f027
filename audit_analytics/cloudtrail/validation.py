"""Validate a CloudTrail location's digests and log files over a time range, offline.

What is checked, as CloudTrail documents its digests (see :mod:`.digests`):

- each digest's SHA256withRSA signature, with the key its ``digestPublicKeyFingerprint``
  names, valid at its ``digestEndTime``. The signature is the object's metadata on S3 (or
  the ``.metadata.json`` beside it in a fetched copy); a digest without one is checked
  against the ``previousDigestSignature`` its successor recorded, and only a digest
  without either is "not checked";
- the chain: the previous digest named exists, its SHA-256 and signature are what the
  successor recorded, and the hours join (``digestStartTime`` is the previous
  ``digestEndTime``); a starting digest after an earlier one is a gap, and hours with no
  digest at the end of the range are missing digests (CloudTrail delivers a digest every
  hour, empty or not, once the hour has ended: an hour is counted when it began before the
  range's end and ended at least :data:`DELIVERY_DELAY` before now);
- each listed log file's SHA-256 over its uncompressed bytes, where its digest says it is
  (one gzip member, streamed: see :mod:`.payload`); the log files of a digest are read
  only when its signature held, when no keys were given (hashes and chain only), or when
  unsigned digests are accepted: otherwise they are "not checked";
- digests and log files found somewhere other than where their digest names;
- log files in the range that no digest lists.

Files are read and hashed in parallel (threads: decompression and hashing release the
GIL, object storage reads wait on the network; one per core locally, 16 on S3); results
are reported in digest order, the newest digest of each trail first, as ``validate-logs``
walks the chain.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..errors import PeriodError
from ..progress import progress_bar
from .digests import Digest, parse_digest_key, parse_log_key, verify_signature
from .files import Refused, hash_log, read_digest
from .keys import PublicKeys
from .location import Location
from .results import Finding, Line, ValidationResult, display_time

__all__ = ["WORKERS", "validate_location"]

log = logging.getLogger("audit_analytics")

#: Threads reading and hashing files at once (``None``: the location's own count).
WORKERS: int | None = None
HOUR = dt.timedelta(hours=1)
#: How long after its hour ends a digest may take to arrive before it is missing.
DELIVERY_DELAY = dt.timedelta(minutes=30)


@dataclass
class _Stream:
    """One trail's digests in one account and region, oldest first."""

    name: str
    digests: list[Digest] = field(default_factory=list)


def validate_location(location: Location, keys: PublicKeys | None, *, start=None, end=None,
                      account: str | None = None, region: str | None = None,
                      allow_unsigned: bool = False, progress: bool | None = None,
                      now: dt.datetime | None = None) -> ValidationResult:
    """Validate ``location``'s digests and log files between ``start`` and ``end``.

    Parameters
    ----------
    location
        From :func:`~audit_analytics.cloudtrail.location.open_location`.
    keys
        From :func:`~audit_analytics.cloudtrail.keys.load_public_keys`; ``None`` checks
        hashes and the chain only (every signature is then "not checked").
    start, end
        The range (UTC datetimes); ``end`` defaults to now, ``start`` to the first digest.
    account, region
        Only this account's, this region's files.
    allow_unsigned
        Accept digests whose signature cannot be checked (the result stays ``ok``).

    Raises
    ------
    PeriodError
        ``end`` is before ``start``.
    """
    started = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    end = end or now
    if start is not None and end < start:
        raise PeriodError(f"--end-time ({display_time(end)}) is before --start-time "
                          f"({display_time(start)})")
    result = ValidationResult(location=location.uri, start=start, end=end,
                              allow_unsigned=allow_unsigned,
                              public_keys=getattr(keys, "path", None))
    digest_keys, log_keys = _inventory(location, start, end, account, region)
    with progress_bar(None, "validating", progress, unit="files") as bar, \
            ThreadPoolExecutor(WORKERS or location.readers) as pool:
        digests = list(pool.map(lambda k: read_digest(location, k, bar), digest_keys))
        checker = _Checker(location, keys, result, digests, start, min(end, now), now)
        checker.run(pool, bar)
        checker.unlisted(log_keys)
    result.elapsed = time.perf_counter() - started
    return result


def _inventory(location: Location, start, end, account, region):
    """Digest keys with an end time in ``[start, end + 1h]``, and every log key near the range."""
    digest_keys, log_keys = [], []
    low = start - dt.timedelta(days=1) if start else None
    for key, _size in location.list("AWSLogs/"):
        parsed = parse_digest_key(key)
        if parsed is not None:
            if (account and parsed.account != account) or (region and parsed.region != region):
                continue
            if (start is None or parsed.end >= start) and parsed.end <= end + HOUR:
                digest_keys.append(parsed)
            continue
        logged = parse_log_key(key)
        if logged is not None:
            acct, reg, when = logged
            if (account and acct != account) or (region and reg != region):
                continue
            if (low is None or when >= low) and when <= end + dt.timedelta(days=1):
                log_keys.append((key, acct, reg, when))
    return digest_keys, log_keys


class _Checker:
    """The checks of one validation, accumulating into its result."""

    def __init__(self, location: Location, keys, result: ValidationResult,
                 digests: list[Digest], start, limit, now: dt.datetime) -> None:
        self.location, self.keys, self.result = location, keys, result
        self.start, self.limit, self.now = start, limit, now
        self.bucket, self.prefix = _origin(location, digests)
        streams: dict[str, _Stream] = {}
        for digest in sorted(digests, key=lambda d: (d.key.end, d.key.key)):
            streams.setdefault(digest.key.stream, _Stream(digest.key.stream)).digests.append(
                digest)
        self.streams = [streams[name] for name in sorted(streams)]
        self.by_key = {d.key.key: d for d in digests}
        self.listed: set[str] = set()
        self.moved_logs: set[str] = set()
        self.newest: dict[tuple[str, str], dt.datetime] = {}

    # --- digests -----------------------------------------------------------------------
    def relative(self, obj: str) -> str:
        """A key as named in a digest, relative to the location's root."""
        if self.prefix and obj.startswith(self.prefix + "/"):
            return obj[len(self.prefix) + 1:]
        return obj

    def run(self, pool: ThreadPoolExecutor, bar) -> None:
        """Check every stream's digests, then hash the log files they vouch for, in order."""
        plan: list[tuple[int, list[dict]]] = []  # line index -> the digest's log entries
        unchecked: list[tuple[int, list[dict]]] = []  # the same, for digests not signed
        for stream in self.streams:
            for digest in stream.digests:
                for entry in digest.log_files:
                    if isinstance(entry.get("s3Object"), str):
                        self.listed.add(self.relative(entry["s3Object"]))
            self._stream(stream, plan, unchecked)
        self._logs(plan, unchecked, pool, bar)
        found = [d for s in self.streams for d in s.digests if not d.error]
        if found:
            starts = [d.start for d in found if d.start]
            first = min(starts) if starts else None
            self.result.found_start = max(first, self.start) if self.start and first else first
            self.result.found_end = min(max(d.end for d in found), self.result.end)
            if not self.listed:
                self.note(f"No log files were delivered by CloudTrail between "
                          f"{display_time(self.result.found_start)} and "
                          f"{display_time(self.result.found_end)}")
        elif not self.by_key:
            start = self.start or self.limit
            self.finding("digest_missing", None,
                         f"no digest file between {display_time(start)} and "
                         f"{display_time(self.result.end)}", count=False)

    def _stream(self, stream: _Stream, plan, unchecked) -> None:
        chained = [d for d in stream.digests if not d.key.backfill]
        successors = {}
        for digest in chained:
            previous = digest.previous
            if previous and previous[0] == self.bucket:
                successors[self.relative(previous[1])] = digest
        newest = next((d for d in reversed(chained) if not d.error), None)
        if newest is not None:
            region = (newest.key.account, newest.key.region)
            self.newest[region] = max(self.newest.get(region, newest.end), newest.end)
        present = next((d for d in reversed(chained) if d.error != "not found"), None)
        if present is not None:  # an invalid digest is there: its hour is not missing
            self._tail(present, present.key.end if present.error else present.end)
        for index in range(len(stream.digests) - 1, -1, -1):
            digest = stream.digests[index]
            own_line = len(self.result.lines)  # the digest's line; its log files follow it
            ok = self._digest(digest, successors.get(digest.key.key))
            if ok is None:
                continue
            if not digest.key.backfill and not digest.error:
                ok = self._link(digest, chained) and ok
            self.result.digests["valid" if ok else "invalid"] += 1
            if self._vouched(digest) or (ok and self._reads_unsigned):
                plan.append((own_line, digest.log_files))
            elif ok:  # valid, but nothing vouches for the log files it names
                unchecked.append((own_line, digest.log_files))

    @property
    def _reads_unsigned(self) -> bool:
        """Whether the log files of a digest whose signature was not checked are read.

        They are without keys (hashes and chain only) or with unsigned digests accepted.
        """
        return self.keys is None or self.result.allow_unsigned

    def _tail(self, newest: Digest, ended: dt.datetime) -> None:
        """Hours after the newest digest (``ended``) with no digest, up to the range's end.

        An hour is counted when it began before the range's end and its digest is due:
        the hour ended at least :data:`DELIVERY_DELAY` before now. The hour in progress,
        or one just ended, has no digest yet and is not missing.
        """
        begun = -((ended - self.result.end) // HOUR)  # hours begun before the range's end
        due = (self.now - DELIVERY_DELAY - ended) // HOUR  # hours whose digest is due
        hours = max(0, min(begun, due))
        if hours:
            last = ended + hours * HOUR
            self.finding("digest_missing", None,
                         f"no digest after {display_time(ended)} "
                         f"({self.uri(newest.key.key)}): {hours} hourly digest file(s) "
                         f"missing, the last due at {display_time(last)}", count=hours)

    def _vouched(self, digest: Digest) -> bool:
        """An invalid digest whose log files are still checked: its signature held."""
        return getattr(digest, "_signature_ok", False)

    def _digest(self, digest: Digest, successor: Digest | None) -> bool | None:
        """Format, location and signature of one digest; its line; ``None`` if not found."""
        uri = self.uri(digest.key.key)
        if digest.error == "not found":
            return None
        if digest.error:
            self.finding("digest_signature_invalid", uri, digest.error)
            self.line("Digest file", uri, f"INVALID: {digest.error}")
            return False
        data = digest.data
        moved = (data.get("digestS3Bucket") != self.bucket
                 or self.relative(str(data.get("digestS3Object"))) != digest.key.key)
        signature = self.location.metadata(digest.key.key).get("signature")
        recorded = successor.data.get("previousDigestSignature") if successor else None
        if signature is None and isinstance(recorded, str):
            signature = recorded
        if self.keys is None:  # hashes and the chain only
            signature = None
        problem = self._signature(digest, signature)
        digest._signature_ok = problem is None and signature is not None  # type: ignore
        if moved:
            self.finding("digest_moved", uri,
                         f"has been moved from its original location "
                         f"s3://{data.get('digestS3Bucket')}/{data.get('digestS3Object')}")
            self.line("Digest file", uri, "INVALID: has been moved from its original location")
            return False
        if problem:
            self.finding("digest_signature_invalid", uri, problem)
            self.line("Digest file", uri, f"INVALID: {problem}")
            return False
        if signature is None:
            self.result.digests["unsigned"] += 1
            self.line("Digest file", uri, "valid (signature not checked)")
        else:
            self.line("Digest file", uri, "valid")
        return True

    def _signature(self, digest: Digest, signature: str | None) -> str | None:
        """Why the signature does not hold, or ``None`` (also when there is none to check)."""
        if signature is None:
            return None
        fingerprint = str(digest.data.get("digestPublicKeyFingerprint"))
        key = self.keys.get(fingerprint)
        if key is None:
            return f"public key not found for fingerprint {fingerprint}"
        if not key.valid_at(digest.end):
            return (f"public key {fingerprint} was not valid at {display_time(digest.end)} "
                    f"(valid {display_time(key.valid_from)} to {display_time(key.valid_until)})")
        try:
            public = key.load()
        except ValueError:
            return f"unable to load PKCS #1 key with fingerprint {fingerprint}"
        if not verify_signature(public, digest, signature):
            return "signature verification failed"
        return None

    def _link(self, digest: Digest, chained: list[Digest]) -> bool:
        """The link from ``digest`` to its previous digest; findings on ``digest``."""
        uri = self.uri(digest.key.key)
        older = [d for d in chained if d.key.end < digest.key.end and d.error != "not found"]
        previous = digest.previous
        if previous is None:
            if older:
                gap_from = older[-1].end
                self.finding("digest_chain_broken", uri,
                             f"the chain starts again: no digest links {display_time(gap_from)} "
                             f"to {display_time(digest.start)} (logging or validation was off)")
                self.note(f"No log files were delivered by CloudTrail between "
                          f"{display_time(gap_from)} and {display_time(digest.start)}")
                return False
            return True
        bucket, obj = previous
        if bucket != self.bucket:
            self.line("Digest file", uri, f"previous digest in bucket {bucket}: not checked")
            return True
        key = self.relative(obj)
        named = parse_digest_key(key)
        if named is not None and self.start is not None and named.end < self.start:
            return True  # before the range
        found = self.by_key.get(key)
        if found is None or found.error == "not found":
            before = older[-1].end if older else None
            hours = max(1, round((digest.start - before) / HOUR)) if before and digest.start \
                else 1
            span = (f"; no digest between {display_time(before)} and "
                    f"{display_time(digest.start)}" if before else "")
            self.finding("digest_missing", self.uri(key),
                         f"not found: named by {uri} as its previous digest{span}", count=hours)
            self.line("Digest file", self.uri(key), "INVALID: not found")
            return True
        problems = []
        if found.sha256 != digest.data.get("previousDigestHashValue"):
            problems.append("previousDigestHashValue is not the previous digest's SHA-256")
        stored = self.location.metadata(key).get("signature")
        if stored is not None and stored != digest.data.get("previousDigestSignature"):
            problems.append("previousDigestSignature is not the previous digest's signature")
        if found.error is None and digest.start != found.end:
            problems.append(f"digestStartTime {display_time(digest.start)} is not the previous "
                            f"digestEndTime {display_time(found.end)}")
        for problem in problems:
            self.finding("digest_chain_broken", uri, problem)
        return not problems

    # --- log files ---------------------------------------------------------------------
    def _logs(self, plan, unchecked, pool: ThreadPoolExecutor, bar) -> None:
        """Hash every vouched-for log file in parallel; lines go after their digest's line."""
        tasks = []
        for line_index, entries in plan:
            for entry in entries:
                obj, bucket = entry.get("s3Object"), entry.get("s3Bucket")
                if isinstance(obj, str):
                    tasks.append((line_index, bucket, self.relative(obj), entry))
        elsewhere = self._log_index()

        def run(task):
            _, bucket, key, _entry = task
            try:
                value = hash_log(self.location, key)
            except Refused as exc:
                value = exc
            bar.update(1)
            return value

        outcomes = list(pool.map(run, tasks))
        inserts: dict[int, list[Line]] = {}
        for (line_index, bucket, key, entry), outcome in zip(tasks, outcomes):
            inserts.setdefault(line_index, []).append(
                self._log_line(bucket, key, entry, outcome, elsewhere))
        for line_index, entries in unchecked:
            for entry in entries:
                obj, bucket = entry.get("s3Object"), entry.get("s3Bucket")
                if isinstance(obj, str):
                    self.result.log_files["not_checked"] += 1
                    uri = self.uri(self.relative(obj)) if bucket == self.bucket else \
                        f"s3://{bucket}/{obj}"
                    inserts.setdefault(line_index, []).append(
                        Line("Log file", uri, "not checked: its digest's signature was not "
                                              "checked"))
        lines = self.result.lines
        self.result.lines = []
        for index, line in enumerate(lines):
            self.result.lines.append(line)
            self.result.lines.extend(inserts.get(index, []))
        self._order_findings(tasks, outcomes)

    def _log_line(self, bucket, key, entry, outcome, elsewhere) -> Line:
        uri = self.uri(key) if bucket == self.bucket else f"s3://{bucket}/{entry['s3Object']}"
        counts = self.result.log_files
        if isinstance(outcome, Refused):
            counts["invalid"] += 1
            self._pending.append(Finding("log_file_hash_mismatch", uri, str(outcome)))
            return Line("Log file", uri, f"INVALID: {outcome.status}")
        if bucket != self.bucket:  # the digest names another bucket than this location
            if outcome is None:
                counts["missing"] += 1
                self._pending.append(Finding("log_file_missing", uri, f"not found: in bucket "
                                             f"{bucket}, not in this location"))
                return Line("Log file", uri, "INVALID: not found")
            counts["invalid"] += 1
            same = "its hash matches" if outcome == entry.get("hashValue") else \
                "and its hash value doesn't match"
            self._pending.append(Finding("log_file_moved", uri, f"has been moved from its "
                                         f"original location: found at {self.uri(key)}, "
                                         f"{same}"))
            return Line("Log file", uri, "INVALID: has been moved from its original location")
        if outcome is None:
            other = elsewhere.get(key.rsplit("/", 1)[-1])
            if bucket == self.bucket and other and other != key:
                counts["invalid"] += 1
                self.moved_logs.add(other)
                self._pending.append(Finding("log_file_moved", uri,
                                             f"has been moved from its original location: "
                                             f"found at {self.uri(other)}"))
                return Line("Log file", uri, "INVALID: has been moved from its original location")
            counts["missing"] += 1
            detail = "not found" if bucket == self.bucket else \
                f"not found: in bucket {bucket}, not in this location"
            self._pending.append(Finding("log_file_missing", uri, detail))
            return Line("Log file", uri, "INVALID: not found")
        if outcome != entry.get("hashValue"):
            counts["invalid"] += 1
            self._pending.append(Finding("log_file_hash_mismatch", uri,
                                         f"hash value doesn't match: SHA-256 {outcome}, the "
                                         f"digest lists {entry.get('hashValue')}"))
            return Line("Log file", uri, "INVALID: hash value doesn't match")
        counts["valid"] += 1
        return Line("Log file", uri, "valid")

    _pending: list[Finding]

    def _log_index(self) -> dict[str, str]:
        """Log file name -> its key, for every log file in the location (to find moved ones)."""
        self._pending = []
        out = {}
        for key, _size in self.location.list("AWSLogs/"):
            if "/CloudTrail/" in key and key.endswith(".json.gz"):
                out.setdefault(key.rsplit("/", 1)[-1], key)
        return out

    def _order_findings(self, tasks, outcomes) -> None:
        """Log findings after their digest's findings, in line order."""
        order = {line.file: i for i, line in enumerate(self.result.lines) if line.file}
        merged = self.result.findings + self._pending
        self.result.findings = sorted(
            merged, key=lambda f: (order.get(f.file, len(order)) if f.file else -1))

    def unlisted(self, log_keys) -> None:
        """Log files in the range that no digest lists (and no digest is about to list)."""
        start, end = self.start, self.result.end
        for key, account, region, when in log_keys:
            if key in self.listed or key in self.moved_logs:
                continue
            if (start is not None and when < start) or when > end:
                continue
            horizon = self.newest.get((account, region), self.limit)
            if when + HOUR > horizon:
                continue
            self.result.log_files["unlisted"] += 1
            uri = self.uri(key)
            self.result.findings.append(Finding("log_file_unlisted", uri,
                                                "no digest lists this log file"))
            self.result.lines.append(Line("Log file", uri, "INVALID: listed by no digest"))

    # --- output ------------------------------------------------------------------------
    def uri(self, key: str) -> str:
        """How a key is shown."""
        return self.location.uri_of(key)

    def line(self, what: str, file: str | None, status: str) -> None:
        """Append one line of human output."""
        self.result.lines.append(Line(what, file, status))

    def note(self, text: str) -> None:
        """Append a note line."""
        self.result.lines.append(Line("", None, text))

    def finding(self, kind: str, file: str | None, detail: str, count: int | bool = 1) -> None:
        """Record a finding (a missing digest adds ``count`` to the missing digests)."""
        self.result.findings.append(Finding(kind, file, detail))
        if kind == "digest_missing" and count:
            self.result.digests["missing"] += int(count)


def _origin(location: Location, digests: list[Digest]) -> tuple[str | None, str]:
    """The bucket and prefix the files were delivered to: the location's, else the digests'."""
    if location.bucket is not None:
        return location.bucket, location.prefix
    named = Counter()
    for digest in digests:
        bucket, obj = digest.data.get("digestS3Bucket"), digest.data.get("digestS3Object")
        if isinstance(bucket, str) and isinstance(obj, str) and obj.endswith(digest.key.key):
            named[(bucket, obj[:-len(digest.key.key)].rstrip("/"))] += 1
    if not named:
        return None, ""
    return named.most_common(1)[0][0]
