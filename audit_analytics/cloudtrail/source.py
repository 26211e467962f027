"""A CloudTrail location as a source of audit events (``check``, ``report``, ``load``, API).

Every log file of the location (in the time range, when one is given) is read and
decompressed in parallel, and each record mapped onto the event schema by
:mod:`.records`. CloudTrail records carry no hash chain: a CloudTrail source's integrity
is its digests (:meth:`CloudTrailSource.validate_digests`), which the ``chain_integrity``
check and the report's integrity section show in place of a row chain.
"""

from __future__ import annotations

import gzip
import json
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor

from .._engine import Engine
from ..errors import SourceError
from ..periods import parse_when
from ..progress import progress_bar
from ..sources.base import DIGESTS, PROGRESS, ScanPart, Source
from .digests import parse_digest, parse_digest_key, parse_log_key
from .keys import PublicKeys, load_public_keys
from .location import Unreadable, open_location
from .records import map_record, records_table
from .results import ValidationResult
from .validation import WORKERS, _origin, validate_location

__all__ = ["CloudTrailSource"]

#: The built-in policy a CloudTrail source is checked with when none is named.
DEFAULT_POLICY = "cloudtrail"


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
                digest = parse_digest(key, self.location.read(key.key))
            except (FileNotFoundError, Unreadable):
                continue
            found = _origin(self.location, [digest])
            if found[0] is not None:
                return found
        return None, ""

    def _read(self):
        def one(key: str) -> list[dict]:
            try:
                data = json.loads(gzip.decompress(self.location.read(key)))
            except (OSError, EOFError, zlib.error, ValueError, RecursionError) as exc:
                raise SourceError(f"cannot read CloudTrail log file "
                                  f"{self.location.uri_of(key)}: {exc}",
                                  source=self.label) from None
            finally:
                bar.update(1)
            records = data.get("Records") if isinstance(data, dict) else None
            if not isinstance(records, list):
                raise SourceError(f"not a CloudTrail log file: {self.location.uri_of(key)} "
                                  "has no Records", source=self.label)
            where = self.location.uri_of(key)
            return [map_record(r, where) for r in records if isinstance(r, dict)]

        with progress_bar(len(self.log_files), "reading CloudTrail", self.progress,
                          unit="files") as bar, \
                ThreadPoolExecutor(WORKERS or self.location.readers) as pool:
            rows = [row for part in pool.map(one, self.log_files) for row in part]
        return records_table(rows)

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
