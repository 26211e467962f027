"""The control matrix: each framework control, its status from the checks that claim it.

The catalogue lists the logging and monitoring controls of SOC 2 (2017 Trust Services
Criteria), the HIPAA Security Rule (45 CFR 164) and PCI DSS v4.0 requirement 10 that an
audit trail review speaks to. A control's status is the worst status of the checks of the
report that claim it (``fail`` > ``warn`` > ``pass``); a control that no check of the
report claims is ``not assessed`` and listed as such, never left out. A control id that a
check claims but the catalogue lacks is listed too (titled "claimed by a check").
"""

from __future__ import annotations

from .._text import shown
from ..errors import UsageError
from ..status import worst_status

__all__ = ["CATALOGUE", "FRAMEWORKS", "NOT_ASSESSED", "check_framework", "control_matrix"]

NOT_ASSESSED = "not assessed"

#: Framework key (``--framework``) -> the prefix of its control ids.
FRAMEWORKS = {"soc2": "SOC 2", "hipaa": "HIPAA", "pci_dss": "PCI DSS"}

#: ``(framework prefix, reference, short title)`` in the frameworks' own order.
CATALOGUE: tuple[tuple[str, str, str], ...] = (
    ("SOC 2", "CC4.1", "Ongoing and separate evaluations of internal control"),
    ("SOC 2", "CC6.1", "Logical access security over protected information assets"),
    ("SOC 2", "CC6.2", "Registration and authorization of new users"),
    ("SOC 2", "CC6.3", "Role-based access: changes and removal of access"),
    ("SOC 2", "CC7.1", "Detection of configuration changes and new vulnerabilities"),
    ("SOC 2", "CC7.2", "Monitoring of system components for anomalies"),
    ("SOC 2", "CC7.3", "Evaluation of security events"),
    ("SOC 2", "CC7.4", "Response to identified security incidents"),
    ("HIPAA", "164.308(a)(1)(ii)(D)", "Information system activity review"),
    ("HIPAA", "164.308(a)(5)(ii)(C)", "Log-in monitoring"),
    ("HIPAA", "164.308(a)(6)(ii)", "Security incident response and reporting"),
    ("HIPAA", "164.312(b)", "Audit controls"),
    ("HIPAA", "164.312(c)(1)", "Integrity of electronic protected health information"),
    ("HIPAA", "164.312(c)(2)", "Mechanism to authenticate electronic PHI"),
    ("HIPAA", "164.316(b)(2)(i)", "Retention of documentation for six years"),
    ("PCI DSS", "10.2.1", "Audit logs enabled and active"),
    ("PCI DSS", "10.2.1.1", "Logs capture individual user access to cardholder data"),
    ("PCI DSS", "10.2.1.2", "Logs capture actions by administrative accounts"),
    ("PCI DSS", "10.2.1.3", "Logs capture access to the audit logs"),
    ("PCI DSS", "10.2.1.4", "Logs capture invalid logical access attempts"),
    ("PCI DSS", "10.2.1.5", "Logs capture changes to identification and credentials"),
    ("PCI DSS", "10.2.1.6", "Logs capture initialising, stopping or pausing of the logs"),
    ("PCI DSS", "10.2.1.7", "Logs capture creation and deletion of system-level objects"),
    ("PCI DSS", "10.2.2", "Each logged event records the required details"),
    ("PCI DSS", "10.3", "Audit logs protected from destruction and modification"),
    ("PCI DSS", "10.3.1", "Read access to audit logs limited to a job-related need"),
    ("PCI DSS", "10.3.2", "Audit log files protected against modification"),
    ("PCI DSS", "10.3.3", "Audit logs promptly backed up to a central log server"),
    ("PCI DSS", "10.3.4", "Change detection on audit logs"),
    ("PCI DSS", "10.4.1", "Security event logs reviewed at least daily"),
    ("PCI DSS", "10.4.1.1", "Automated mechanisms perform the log reviews"),
    ("PCI DSS", "10.4.2", "Logs of other components reviewed periodically"),
    ("PCI DSS", "10.4.3", "Exceptions and anomalies found in reviews are addressed"),
    ("PCI DSS", "10.5.1", "Log history kept 12 months, the latest 3 immediately available"),
    ("PCI DSS", "10.6.1", "System clocks synchronised"),
    ("PCI DSS", "10.7", "Failures of critical security control systems detected"),
    ("PCI DSS", "10.7.2", "Failures of critical security controls detected and alerted"),
)


def check_framework(framework: str) -> str:
    """``framework`` normalised: ``all`` or a key of :data:`FRAMEWORKS` (else exit 2)."""
    if not isinstance(framework, str):
        raise UsageError(f"framework must be one of soc2, hipaa, pci_dss or all, not "
                         f"{shown(repr(framework), 80)}", argument="framework")
    name = framework.strip().lower().replace("-", "_")
    if name != "all" and name not in FRAMEWORKS:
        raise UsageError(f"unknown framework {shown(repr(framework), 80)} (soc2, hipaa, "
                         "pci_dss or all)", argument="framework", framework=framework)
    return name


def _framework_of(control: str) -> str | None:
    return next((p for p in FRAMEWORKS.values() if control.startswith(p + " ")), None)


def control_matrix(checklist: list[dict], framework: str = "all") -> dict:
    """The matrix of ``framework``'s controls from the report's checklist rows.

    Parameters
    ----------
    checklist
        One dict per check that ran (``name``, ``title``, ``status``, ``controls``).
    framework
        ``all`` or ``soc2``, ``hipaa``, ``pci_dss``.

    Returns
    -------
    dict
        ``{"framework", "frameworks", "counts", "controls", "not_assessed"}``; each control
        is ``{"id", "framework", "ref", "title", "status", "checks": [{"name", "title",
        "status"}]}``, its status ``not assessed`` when no check claims it.
    """
    framework = check_framework(framework)
    prefixes = list(FRAMEWORKS.values()) if framework == "all" else [FRAMEWORKS[framework]]
    claims: dict[str, list[dict]] = {}
    for check in checklist:
        for control in check.get("controls") or []:
            claims.setdefault(control, []).append(
                {"name": check["name"], "title": check.get("title", check["name"]),
                 "status": check["status"]})
    rows = [(prefix, ref, title) for prefix, ref, title in CATALOGUE if prefix in prefixes]
    known = {f"{prefix} {ref}" for prefix, ref, _ in CATALOGUE}
    extra = sorted(c for c in claims if c not in known and _framework_of(c) in prefixes)
    rows += [(p, c[len(p) + 1:], "claimed by a check") for c in extra
             if (p := _framework_of(c))]
    rows.sort(key=lambda r: prefixes.index(r[0]))  # stable: the catalogue's order within
    controls = []
    for prefix, ref, title in rows:
        control_id = f"{prefix} {ref}"
        by = claims.get(control_id, [])
        status = worst_status(c["status"] for c in by) if by else NOT_ASSESSED
        controls.append({"id": control_id, "framework": prefix, "ref": ref, "title": title,
                         "status": status, "checks": by})
    counts = {s: sum(c["status"] == s for c in controls)
              for s in ("pass", "warn", "fail", NOT_ASSESSED)}
    return {"framework": framework, "frameworks": prefixes, "counts": counts,
            "controls": controls,
            "not_assessed": [c["id"] for c in controls if c["status"] == NOT_ASSESSED]}
