"""audit_analytics: verify, check and report on tamper-evident audit logs.

>>> import audit_analytics as aa
>>> log = aa.open("data_samples/python_seed/clean.parquet")   # doctest: +SKIP
>>> result = log.verify()                                      # doctest: +SKIP
>>> result.ok, result.findings                                 # doctest: +SKIP
>>> aa.run_checks(log, policy="hipaa")                         # doctest: +SKIP
>>> aa.build_report(log, aa.parse_period("2024-01")).write()   # doctest: +SKIP

The names below are the public API; the checklist, the report, the loader, the archive
(keys, signed manifests, spot checks), the ledger and the journal are imported on first use
(``import audit_analytics`` stays cheap).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__
from .chain.anchors import Anchor, load_anchors
from .chain.kernel import kernel_info
from .chain.profiles import BUILTIN_PROFILES, HashProfile, load_profile
from .chain.results import FINDING_KINDS, VerifyResult
from .errors import (
    AnchorError,
    ArchiveError,
    AuditAnalyticsError,
    ClusterError,
    ConnectionFailed,
    LedgerError,
    OutputError,
    PeriodError,
    PolicyError,
    ProfileError,
    QueryError,
    SchemaError,
    SourceError,
    UsageError,
)
from .periods import Period, parse_period
from .session import AuditLog, open

if TYPE_CHECKING:
    from ._engine import Engine
    from .archive.keys import generate_keys
    from .archive.reconcile import ReconcileResult, reconcile
    from .archive.spotcheck import ArchiveCheck, check_archive
    from .archive.writer import ArchiveResult, archive_source
    from .chain.runners import DaskRunner, ProcessPoolRunner
    from .checks import ChecklistResult, CheckResult, run_checks
    from .cloudtrail.api import fetch_cloudtrail, validate_cloudtrail
    from .cloudtrail.results import ValidationResult
    from .display import display_frame, plot_style, shown
    from .load import LoadResult, load_into
    from .policy import Policy
    from .report import Report, build_report
    from .trail.cadence import review_cadence
    from .trail.journal import Journal
    from .trail.ledger import Ledger

#: Public names whose modules load on first use: name -> module.
_LAZY = {
    "Engine": "._engine",
    "generate_keys": ".archive.keys",
    "ArchiveResult": ".archive.writer",
    "archive_source": ".archive.writer",
    "ArchiveCheck": ".archive.spotcheck",
    "check_archive": ".archive.spotcheck",
    "ReconcileResult": ".archive.reconcile",
    "reconcile": ".archive.reconcile",
    "ValidationResult": ".cloudtrail.results",
    "fetch_cloudtrail": ".cloudtrail.api",
    "validate_cloudtrail": ".cloudtrail.api",
    "DaskRunner": ".chain.runners",
    "ProcessPoolRunner": ".chain.runners",
    "CheckResult": ".checks",
    "ChecklistResult": ".checks",
    "run_checks": ".checks",
    "display_frame": ".display",
    "plot_style": ".display",
    "shown": ".display",
    "LoadResult": ".load",
    "load_into": ".load",
    "Policy": ".policy",
    "Report": ".report",
    "build_report": ".report",
    "review_cadence": ".trail.cadence",
    "Journal": ".trail.journal",
    "Ledger": ".trail.ledger",
}

__all__ = [
    "BUILTIN_PROFILES",
    "FINDING_KINDS",
    "Anchor",
    "AnchorError",
    "ArchiveCheck",
    "ArchiveError",
    "ArchiveResult",
    "AuditAnalyticsError",
    "AuditLog",
    "CheckResult",
    "ChecklistResult",
    "ClusterError",
    "ConnectionFailed",
    "DaskRunner",
    "Engine",
    "HashProfile",
    "Journal",
    "Ledger",
    "LedgerError",
    "LoadResult",
    "OutputError",
    "Period",
    "PeriodError",
    "Policy",
    "PolicyError",
    "ProcessPoolRunner",
    "ProfileError",
    "QueryError",
    "ReconcileResult",
    "Report",
    "SchemaError",
    "SourceError",
    "UsageError",
    "ValidationResult",
    "VerifyResult",
    "__version__",
    "archive_source",
    "build_report",
    "check_archive",
    "display_frame",
    "fetch_cloudtrail",
    "generate_keys",
    "kernel_info",
    "load_anchors",
    "load_into",
    "load_profile",
    "open",
    "parse_period",
    "plot_style",
    "reconcile",
    "review_cadence",
    "run_checks",
    "shown",
    "validate_cloudtrail",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
