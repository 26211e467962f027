"""The compliance checklist: checks declared apart from the one runner that executes them.

>>> from audit_analytics.checks import run_checks       # doctest: +SKIP
>>> result = run_checks(log, policy="hipaa", since="2024-03-01")   # doctest: +SKIP
>>> result.worst, result["failed_access_burst"].findings          # doctest: +SKIP

Declarations (name, title, controls, SQL file, policy parameters, status rule) are in
:mod:`.declarations`, their SQL in ``checks/sql/``, execution in :mod:`.runner`.
"""

from .declarations import CHECKS, CheckSpec, load_sql
from .results import STATUSES, ChecklistResult, CheckResult
from .runner import parse_when, run_checks

__all__ = [
    "CHECKS",
    "STATUSES",
    "CheckResult",
    "CheckSpec",
    "ChecklistResult",
    "load_sql",
    "parse_when",
    "run_checks",
]
