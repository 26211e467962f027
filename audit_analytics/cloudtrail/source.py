"""A CloudTrail location as a source of audit events (``check``, ``report``, ``load``, API).

Every log file of the location (in the time range, when one is given) is read and
decompressed in parallel, and each record mapped onto the event schema by
:mod:`.records`. A log file is read as ``cloudtrail validate`` hashes it: exactly one gzip
member (see :mod:`.payload`), so that the records read are the bytes its digest vouches
for, no more and no fewer. Reading it as records has caps besides: at most
:data:`~.payload.RECORDS_LIMIT` bytes uncompressed and :data:`MAX_RECORDS` records. A file
outside these is a :class:`SourceError` naming it. Files are parsed one at a time, and
their records kept as Arrow tables.

CloudTrail records carry no hash chain: a CloudTrail source's integrity is its digests
(:meth:`CloudTrailSource.validate_digests`), which the ``chain_integrity`` check and the
report's integrity section show in place of a row chain.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

from .._engine import Engine
from ..errors import SourceError
from ..periods import parse_when
from ..progress import progress_bar
from ..sources.base import DIGESTS, PROGRESS, ScanPart, Source
from .digests import parse_digest, parse_digest_key, parse_log_key
from .keys import PublicKeys, load_public_keys
from .location import Unreadable, open_location
from .payload import RECORDS_LIMIT, PayloadError, load_json, mib
from .records import map_record, records_table
from .results import ValidationResult
from .validation import WORKERS, _origin, validate_location

__all__ = ["CloudTrailSource"]

#: The built-in policy a CloudTrail source is checked with when none is named.
DEFAULT_POLICY = "cloudtrail"
#: The most records read from one log file (a CloudTrail record is some 500 bytes at
#: least: at 256 bytes each, :data:`~.payload.RECORDS_LIMIT` holds this many).
MAX_RECORDS = RECORDS_LIMIT // 256
_BATCH = 8192  # records mapped to rows, then to Arrow, at a time


class CloudTrailSource(Source):
    """The events of a CloudTrail location (``s3://bucket[/prefix]`` or a local folder).

    Parameters
    ----------
    spec
        The location.
    public_keys
        ``list-public-keys`` output (a path or loaded keys), for digest validation; without
        it the digests' hashes and chain are checked and the signatures are not.
    start_time, end_time
        Read only log files named within this range (ISO text or datetimes, UTC), and
        validate the digests of the same range.
    """

    capabilities = frozenset({PROGRESS, DIGESTS})
    default_policy = DEFAULT_POLICY

    def __init__(self, spec, public_keys=None, start_time=None, end_time=None) -> None:
        self.location = open_location(str(spec))
        super().__init__(label=str(spec), kind="cloudtrail")
        self.start = parse_when(start_time, "UTC", what="--start-time")
        self.end = parse_when(end_time, "UTC", what="--end-time")
        self.keys: PublicKeys | None = (
            public_keys if isinstance(public_keys, PublicKeys) or public_keys is None
            else load_public_keys(public_keys))
        self.progress: bool | None = None
        self._name = f"__cloudtrail_{uuid.uuid4().hex}"
        self._table = None
        self._validation: ValidationResult | None = None
        self.log_files = [key for key, _size in self.location.list("AWSLogs/")
                          if self._wanted(key)]

    def _wanted(self, key: str) -> bool:
        parsed = parse_log_key(key)
        if parsed is None:
            return False
        when = parsed[2]
        return (self.start is None or when >= self.start) and (self.end is None
                                                                or when <= self.end)

    @property
    def log_resources(self) -> list[str]:
        """ARN prefixes of the trail's own files: reading them is reading the log."""
        bucket, prefix = self.location.bucket, self.location.prefix
        if bucket is None:  # a copy without its origin recorded: as its digests say
            bucket, prefix = self._origin()
        if bucket is None:
            return []
        return [f"arn:aws:s3:::{bucket}/{prefix + '/' if prefix else ''}AWSLogs/"]

    def _origin(self) -> tuple[str | None, str]:
        """The bucket and prefix named by the newest digest of the location."""
        keys = [k for k in (parse_digest_key(key) for key, _ in self.location.list("AWSLogs/"))
                if k is not None]
        for key in sorted(keys, key=lambda k: k.end, reverse=True)[:5]:
            try:
                digest = parse_digest(key, self.location.chunks(key.key))
            except (FileNotFoundError, Unreadable):
                continue
            found = _origin(self.location, [digest])
            if found[0] is not None:
                return found
        return None, ""

    def _read(self) -> pa.Table:
        def records(data, where: str) -> pa.Table:
            found = data.get("Records") if isinstance(data, dict) else None
            if not isinstance(found, list):
                raise SourceError(f"not a CloudTrail log file: {where} has no Records",
                                  source=self.label)
            if len(found) > MAX_RECORDS:
                raise SourceError(f"cannot read CloudTrail log file {where}: {len(found):,} "
                                  f"records, more than the {MAX_RECORDS:,} read from one log "
                                  "file", source=self.label)
            return pa.concat_tables(
                [records_table([map_record(r, where) for r in found[i:i + _BATCH]
                                if isinstance(r, dict)])
                 for i in range(0, len(found), _BATCH)] or [records_table([])])

        def one(key: str) -> pa.Table:
            where = self.location.uri_of(key)
            try:
                table, _ = load_json(self.location.chunks(key), limit=RECORDS_LIMIT,
                                     then=lambda data: records(data, where))
            except (FileNotFoundError, Unreadable, PayloadError) as exc:
                reason = str(exc) if not isinstance(exc, FileNotFoundError) else "not found"
                if reason.startswith("more than"):
                    reason += f" (a log file is read as records up to {mib(RECORDS_LIMIT)})"
                raise SourceError(f"cannot read CloudTrail log file {where}: {reason}",
                                  source=self.label) from None
            finally:
                bar.update(1)
            return table

        with progress_bar(len(self.log_files), "reading CloudTrail", self.progress,
                          unit="files") as bar, \
                ThreadPoolExecutor(WORKERS or self.location.readers) as pool:
            tables = list(pool.map(one, self.log_files))
        return pa.concat_tables(tables) if tables else records_table([])

    def attach(self, engine: Engine) -> None:
        """Read the log files (once) and create the view ``raw`` over their records."""
        if self._table is None:
            self._table = self._read()
            self.rows = self._table.num_rows
        engine.register(self._name, self._table)
        engine.create_view("raw", f"SELECT * FROM {self._name}")
        self.columns = engine.columns(f"SELECT * FROM {engine.qualified('raw')}")

    def detach(self, engine: Engine) -> None:
        """Let go of the records registered by :meth:`attach`."""
        engine.unregister(self._name)

    def parts(self) -> list[ScanPart]:
        """One part: every record."""
        return [ScanPart(sql=f"SELECT row_number() OVER () AS __rk, * FROM {self._name}",
                         params=[], rows=self.rows, where=self.label)]

    def validate_digests(self) -> ValidationResult:
        """The digest validation of the location over the source's range (made once)."""
        if self._validation is None:
            self._validation = validate_location(self.location, self.keys, start=self.start,
                                                 end=self.end, progress=self.progress)
        return self._validation
