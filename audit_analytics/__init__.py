"""audit_analytics: verify, check and report on tamper-evident audit logs.

>>> import audit_analytics as aa
>>> log = aa.open("data_samples/python_seed/clean.parquet")   # doctest: +SKIP
>>> result = log.verify()                                      # doctest: +SKIP
>>> result.ok, result.findings                                 # doctest: +SKIP
"""

from .anchors import Anchor, load_anchors
from .errors import (
    AnchorError,
    AuditAnalyticsError,
    ConnectionFailed,
    LedgerError,
    OutputError,
    PeriodError,
    PolicyError,
    ProfileError,
    SchemaError,
    SourceError,
)
from .kernel import kernel_info
from .log import AuditLog, open
from .profiles import BUILTIN_PROFILES, HashProfile, load_profile
from .results import FINDING_KINDS, VerifyResult

__version__ = "0.1.0"

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
    "SchemaError",
    "SourceError",
    "VerifyResult",
    "__version__",
    "kernel_info",
    "load_anchors",
    "load_profile",
    "open",
]
