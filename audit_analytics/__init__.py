"""audit_analytics: verify, check and report on tamper-evident audit logs.

>>> import audit_analytics as aa
>>> log = aa.open("data_samples/python_seed/clean.parquet")   # doctest: +SKIP
>>> result = log.verify()                                      # doctest: +SKIP
>>> result.ok, result.findings                                 # doctest: +SKIP
"""

from ._version import __version__
from .chain.anchors import Anchor, load_anchors
from .chain.kernel import kernel_info
from .chain.profiles import BUILTIN_PROFILES, HashProfile, load_profile
from .chain.results import FINDING_KINDS, VerifyResult
from .errors import (
    AnchorError,
    AuditAnalyticsError,
    ConnectionFailed,
    LedgerError,
    OutputError,
    PeriodError,
    PolicyError,
    ProfileError,
    QueryError,
    SchemaError,
    SourceError,
)
from .session import AuditLog, open

__all__ = [
    "BUILTIN_PROFILES",
    "FINDING_KINDS",
    "Anchor",
    "AnchorError",
    "AuditAnalyticsError",
    "AuditLog",
    "ConnectionFailed",
    "HashProfile",
    "LedgerError",
    "OutputError",
    "PeriodError",
    "PolicyError",
    "ProfileError",
    "QueryError",
    "SchemaError",
    "SourceError",
    "VerifyResult",
    "__version__",
    "kernel_info",
    "load_anchors",
    "load_profile",
    "open",
]
