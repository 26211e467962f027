"""The checklist, declared.

What each check is, which controls it evidences, its SQL, the policy parameters it
binds and its status rule. Execution lives in
:mod:`audit_analytics.checks.runner`; nothing here touches an engine.

Each check's SQL is ``checks/sql/<name>.sql``; parameters are always bound
(``$name``), never pasted. Checks that need Python after their SQL (IP address
validation, retention arithmetic, the allow-list of log readers, chain verification)
name a ``post`` step by key; the runner holds those steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..policy import Policy

__all__ = ["CHECKS", "CheckSpec", "load_sql"]

SQL_DIR = Path(__file__).resolve().parent / "sql"


def load_sql(name: str, identifiers: dict[str, str] | None = None) -> str:
    """The text of ``checks/sql/<name>.sql``, with ``{{name}}`` identifiers filled in.

    Identifiers come from declarations (column names), never from users; values are
    always bound as ``$parameters``.
    """
    text = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    for key, ident in (identifiers or {}).items():
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", ident):
            raise ValueError(f"not a plain SQL identifier: {ident!r}")
        text = text.replace("{{" + key + "}}", ident)
    return text


@dataclass(frozen=True)
class CheckSpec:
    """One check, declared.

    Attributes
    ----------
    name, title
        Identifier and one-line title.
    controls
        Control ids the check evidences.
    sql
        Name of its SQL file in ``checks/sql`` (``None`` for a pure-Python check).
    params
        Builds the bound parameters from the policy (beyond ``tz``, ``since``, ``until``).
    on_findings
        Status when the check has findings (``warn`` or ``fail``); ``pass`` otherwise.
    requires
        Preludes (shared temp tables) to build first, by SQL file name.
    post
        Name of a Python step the runner applies after the SQL, if any.
    noun
        What one finding is, for the summary ("actor-day", "gap"...).
    identifiers
        Column names filled into a shared SQL file (``{{metric}}`` and the like).
    default
        Run when a policy names no checks; ``False`` for opt-in checks that read state
        kept outside the log (``review_cadence`` reads the review ledger).
    baseline
        The check learns each actor's habits from its history: actors with fewer than the
        check's ``min_history_days`` actor-days are not judged against a baseline, and the
        result lists them ("insufficient baseline (N days of the M needed)").
    needs_events
        ``False`` for a check that also runs over a window without events (it reads
        records kept beside the log: the access journal, the review ledger).
    """

    name: str
    title: str
    controls: tuple[str, ...]
    sql: str | None
    params: Callable[[Policy], dict] = field(default=lambda policy: {})
    on_findings: str = "warn"
    requires: tuple[str, ...] = ()
    post: str | None = None
    noun: str = "finding"
    default: bool = True
    identifiers: dict[str, str] = field(default_factory=dict)
    baseline: bool = False
    needs_events: bool = True


def _thresholds(name: str) -> Callable[[Policy], dict]:
    return lambda policy: policy.thresholds(name)


def _robust(name: str) -> Callable[[Policy], dict]:
    """Parameters of ``robust_outliers.sql``; absent thresholds leave their term inert."""
    def params(policy: Policy) -> dict:
        t = policy.thresholds(name)
        return {"k": t["k"], "relative_floor": t["relative_floor"],
                "p90_factor": t["p90_factor"], "absolute_floor": t.get("absolute_floor", 0),
                "min_history_days": t.get("min_history_days", 0),
                "min_value": t.get("min_exports", 0)}
    return params


def _off_hours(policy: Policy) -> dict:
    t = policy.thresholds("off_hours_access")
    bh = policy.business_hours
    return {"usual_min_days": t["usual_min_days"], "margin": t["usual_margin_hours"],
            "min_events": t["min_events"], "min_history_days": t["min_history_days"],
            "isodows": bh["isodows"], "start": bh["start"], "end": bh["end"]}


def _burst(policy: Policy) -> dict:
    t = policy.thresholds("failed_access_burst")
    return {"rule": t["rule"], "max_failures": t["max_failures"],
            "window_minutes": policy.burst_window_minutes, "k": t["k"],
            "p90_factor": t["p90_factor"], "min_history_days": t["min_history_days"],
            "persistent_min_days": t["persistent_min_days"],
            "persistent_min_per_day": t["persistent_min_per_day"], "results": t["results"]}


def _log_access(policy: Policy) -> dict:
    t = policy.thresholds("log_access")
    return {"resource_types": t["resource_types"], "actions": t["actions"],
            "object_actions": t["object_actions"]}


def _required(policy: Policy) -> dict:
    t = policy.thresholds("required_fields")
    return {"fields": t["fields"], "actor_types": t["actor_types"], "results": t["results"]}


#: Parameters of the shared ``_actor_days`` prelude.
def prelude_params(policy: Policy) -> dict:
    """Bound parameters of the ``_actor_days`` prelude."""
    return {
        "failure_results": policy.thresholds("failed_access_burst")["results"],
        "export_actions": policy.thresholds("bulk_export")["actions"],
        "broad_resource_types": policy.thresholds("broad_access")["resource_types"],
    }


_SPECS = (
    CheckSpec(
        "required_fields", "Required fields present and valid",
        ("PCI DSS 10.2.2", "HIPAA 164.312(b)", "SOC 2 CC7.2"),
        "required_fields", _required, on_findings="fail", post="required_fields",
        noun="field problem",
    ),
    CheckSpec(
        "failed_access_burst", "Bursts of failed or denied access",
        ("PCI DSS 10.2.1.4", "SOC 2 CC6.1", "SOC 2 CC7.2", "HIPAA 164.308(a)(1)(ii)(D)"),
        "failed_access_burst", _burst, requires=("_actor_days",), noun="burst",
        post="failed_access_burst", baseline=True,
    ),
    CheckSpec(
        "off_hours_access", "Access outside business hours and the actor's usual hours",
        ("SOC 2 CC7.2", "HIPAA 164.308(a)(1)(ii)(D)", "PCI DSS 10.2.1.1", "PCI DSS 10.4.1"),
        "off_hours_access", _off_hours, requires=("_actor_days",), noun="actor-day",
        baseline=True,
    ),
    CheckSpec(
        "volume_spike", "Daily activity far above the actor's own baseline",
        ("SOC 2 CC7.2", "SOC 2 CC7.3", "HIPAA 164.308(a)(1)(ii)(D)", "PCI DSS 10.4.1"),
        "robust_outliers", _robust("volume_spike"), requires=("_actor_days",), noun="actor-day",
        identifiers={"metric": "events"}, baseline=True,
    ),
    CheckSpec(
        "broad_access", "Many distinct records in a day (record snooping)",
        ("HIPAA 164.308(a)(1)(ii)(D)", "HIPAA 164.312(b)", "PCI DSS 10.2.1.1", "SOC 2 CC6.1",
         "SOC 2 CC7.2"),
        "robust_outliers", _robust("broad_access"), requires=("_actor_days",),
        noun="actor-day", identifiers={"metric": "resources"}, baseline=True,
    ),
    CheckSpec(
        "bulk_export", "Unusual export volume",
        ("SOC 2 CC7.2", "SOC 2 CC6.1", "PCI DSS 10.2.1.1", "HIPAA 164.308(a)(1)(ii)(D)"),
        "robust_outliers", _robust("bulk_export"), requires=("_actor_days",), noun="actor-day",
        identifiers={"metric": "exports"}, baseline=True,
    ),
    CheckSpec(
        "retention_coverage", "Retention period covered, no logging outages",
        ("PCI DSS 10.5.1", "PCI DSS 10.7", "PCI DSS 10.2.1", "HIPAA 164.316(b)(2)(i)",
         "SOC 2 CC4.1"),
        "retention_coverage", _thresholds("retention_coverage"), on_findings="fail",
        post="retention", noun="gap",
    ),
    CheckSpec(
        "log_access", "Access to the audit logs themselves",
        ("PCI DSS 10.2.1.3", "PCI DSS 10.3", "SOC 2 CC6.1", "HIPAA 164.312(b)"),
        "log_access", _log_access, on_findings="fail", post="log_access",
        noun="unauthorized access", needs_events=False,
    ),
    CheckSpec(
        "chain_integrity", "Hash chain intact (no alteration, deletion or insertion)",
        ("PCI DSS 10.3", "PCI DSS 10.3.4", "HIPAA 164.312(c)(1)", "SOC 2 CC7.2"),
        None, _thresholds("chain_integrity"), on_findings="fail", post="chain_integrity",
        noun="chain finding",
    ),
    CheckSpec(
        "review_cadence", "Audit logs reviewed on schedule (review ledger)",
        ("PCI DSS 10.4.1", "PCI DSS 10.4.2", "HIPAA 164.308(a)(1)(ii)(D)", "SOC 2 CC7.2",
         "SOC 2 CC4.1"),
        None, on_findings="fail", post="review_cadence", noun="missed review", default=False,
        needs_events=False,
    ),
)

#: Every declared check, by name, in the order the checklist runs them.
CHECKS: dict[str, CheckSpec] = {spec.name: spec for spec in _SPECS}
