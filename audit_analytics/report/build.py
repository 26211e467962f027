"""Build one period's review: verify, gather the facts once, then each section from them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from .. import _args
from ..chain.anchors import Anchor, anchors_argument
from ..chain.profiles import profile_argument
from ..errors import UsageError
from ..periods import Period, parse_period
from ..trail import journal
from ..trail.journal import mask_source
from .controls import check_framework
from .document import Report
from .facts import gather_facts
from .sections import SECTIONS

__all__ = ["Report", "build_report"]


def build_report(log, period: str | Period, policy=None,
                 anchors: str | Path | list[Anchor] | None = None, profile: str = "auto", *,
                 now: datetime | None = None, actor: str | None = None,
                 framework: str = "all") -> Report:
    """Gather everything a periodic review needs for ``period`` of ``log``.

    Parameters
    ----------
    log
        An :class:`~audit_analytics.session.AuditLog`.
    period
        A :class:`~audit_analytics.periods.Period` or its text (``2024-01``, ``last-month``;
        see :func:`~audit_analytics.periods.parse_period`), in the policy's time zone.
    policy
        A :class:`~audit_analytics.policy.Policy`, a path or built-in name, or ``None``
        (the defaults).
    anchors
        Trusted anchors for the integrity section (a file or loaded anchors).
    profile
        Hash profile for verification (``auto`` by default).
    now
        The generation time (default: now); relative periods are resolved against it.
    actor
        Who generates the report (default: ``--actor``, ``$AUDIT_ANALYTICS_ACTOR``, the OS
        user).
    framework
        The control matrix's framework: ``all`` (default), ``soc2``, ``hipaa`` or
        ``pci_dss``.

    Returns
    -------
    Report
        Call :meth:`Report.write` to produce the files and the ledger entry.

    Notes
    -----
    The whole log is verified (a chain is only verifiable as a whole); the checklist, the
    charts and the anomalies cover the period alone. Besides verification, the source is
    read once: the events the checklist and the sections need are materialised in memory
    (:meth:`~audit_analytics.session.AuditLog.cached_events`) and every query answers from
    them. One ``report`` entry is appended to the access journal; the queries made on the
    way are not journaled one by one.
    """
    _args.audit_log(log)
    framework = check_framework(framework)
    policy = _args.policy(policy, getattr(log.source, "default_policy", None))
    profile_argument(profile)
    _args.text(actor, "actor", optional=True)
    if now is not None and not isinstance(now, datetime):
        raise UsageError(f"now must be a datetime, not {type(now).__name__}", argument="now")
    tz = getattr(policy, "timezone", None) or "UTC"
    now = now or datetime.now(UTC)
    period = parse_period(period, tz=tz, now=now)
    anchors = anchors_argument(anchors)
    source_label = mask_source(log.source.label)
    ok = False
    try:
        with journal.suspended():
            # verification first: its memory is released before the events are cached
            verify = log.verify(profile=profile, anchors=anchors)
            with log.cached_events() as engine:
                facts = gather_facts(log, engine, period, policy, anchors, profile, now, actor,
                                     source_label, tz, verify)
                facts.framework = framework
                sections = {section.name: section.gather(facts) for section in SECTIONS}
                totals = {section.name: section.total(facts) for section in SECTIONS
                          if section.total is not None}
        report = Report(period=period, generated_at=now,
                        generated_by=journal.current_actor(actor), totals=totals,
                        source_id=log.source.identity.key, **sections)
        ok = True
        return report
    finally:
        if getattr(log, "journal", True):
            journal.record("report", log.source, result="success" if ok else "failure",
                           parameters={"period": period.label, "profile": str(profile),
                                       "policy": getattr(policy, "name", None)})
