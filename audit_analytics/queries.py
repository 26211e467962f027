"""Investigation queries.

An actor's history, who touched a resource, failed attempts, activity over time. Each
returns a pandas DataFrame; every value is a bound parameter.

Also available as methods of :class:`~audit_analytics.session.AuditLog`::

    log.actor_history("rn-052", since="2024-03-18")
    log.resource_access(resource_id="MRN-04711")
    log.failed_attempts(since="2024-03-01")
    log.activity(freq="hour", action="export")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from . import _args
from .errors import PeriodError, UsageError
from .periods import parse_when, resolve_tz
from .policy import Policy

if TYPE_CHECKING:
    from .session import AuditLog

__all__ = ["activity", "actor_history", "failed_attempts", "resource_access"]

_WINDOW = """
      AND "timestamp" >= coalesce($since::TIMESTAMPTZ, '-infinity'::TIMESTAMPTZ)
      AND "timestamp" < coalesce($until::TIMESTAMPTZ, 'infinity'::TIMESTAMPTZ)"""

ACTOR_HISTORY_SQL = """
    SELECT "timestamp", action, resource_type, resource_id, result, ip_address,
           user_agent, session_id, reason, changed_fields, id
    FROM events
    WHERE actor_id = $actor_id""" + _WINDOW + """
    ORDER BY "timestamp", id
"""

RESOURCE_ACCESS_SQL = """
    SELECT "timestamp", actor_id, actor_type, action, resource_type, resource_id, result,
           ip_address, reason, id
    FROM events
    WHERE ($resource_type::VARCHAR IS NULL OR resource_type = $resource_type)
      AND ($resource_id::VARCHAR IS NULL OR resource_id = $resource_id)""" + _WINDOW + """
    ORDER BY "timestamp", id
"""

FAILED_ATTEMPTS_SQL = """
    SELECT
        coalesce(actor_id, 'ip:' || coalesce(ip_address, 'unknown')) AS actor_id,
        string_agg(DISTINCT actor_type, ',' ORDER BY actor_type) AS actor_type,
        count(*) AS attempts,
        count(*) FILTER (WHERE result = 'failure') AS failures,
        count(*) FILTER (WHERE result = 'denied') AS denials,
        min("timestamp") AS first_seen,
        max("timestamp") AS last_seen,
        count(DISTINCT ip_address) AS ip_addresses,
        string_agg(DISTINCT action, ',' ORDER BY action) AS actions,
        mode(reason) AS top_reason
    FROM events
    WHERE result IN ('failure', 'denied')
      AND ($actor_id::VARCHAR IS NULL OR actor_id = $actor_id)""" + _WINDOW + """
    GROUP BY 1
    ORDER BY attempts DESC, actor_id
"""

ACTIVITY_SQL = """
    SELECT
        timezone($tz, date_trunc($unit, timezone($tz, "timestamp"))) AS period,
        count(*) AS events,
        count(DISTINCT actor_id) AS actors,
        count(*) FILTER (WHERE result = 'failure') AS failures,
        count(*) FILTER (WHERE result = 'denied') AS denials
    FROM events
    WHERE ($actor_id::VARCHAR IS NULL OR actor_id = $actor_id)
      AND ($action::VARCHAR IS NULL OR action = $action)
      AND ($resource_type::VARCHAR IS NULL OR resource_type = $resource_type)
      AND ($result::VARCHAR IS NULL OR result = $result)""" + _WINDOW + """
    GROUP BY 1
    ORDER BY 1
"""

_FILTERS = ("actor_id", "action", "resource_type", "result")


def _window(since: Any, until: Any, tz: str = "UTC") -> dict:
    return {"since": parse_when(since, tz, what="since"),
            "until": parse_when(until, tz, what="until")}


def actor_history(log: AuditLog, actor_id: str, since: Any = None,
                  until: Any = None) -> pd.DataFrame:
    """Everything one actor did, oldest first.

    Parameters
    ----------
    log
        An opened audit log.
    actor_id
        The actor (bound, so any text is safe).
    since, until
        Optional window ``[since, until)``: ISO text, date or datetime (naive is UTC).
    """
    _args.text(actor_id, "actor_id", empty=True)
    params = {"actor_id": actor_id, **_window(since, until)}
    return log.named_query("actor_history", ACTOR_HISTORY_SQL, params)


def resource_access(log: AuditLog, resource_type: str | None = None,
                    resource_id: str | None = None, since: Any = None,
                    until: Any = None) -> pd.DataFrame:
    """Who touched a resource (or every resource of a type), oldest first.

    Parameters
    ----------
    log
        An opened audit log.
    resource_type, resource_id
        Either or both; ``None`` matches any.
    since, until
        Optional window ``[since, until)``.
    """
    _args.text(resource_type, "resource_type", optional=True, empty=True)
    _args.text(resource_id, "resource_id", optional=True, empty=True)
    params = {"resource_type": resource_type, "resource_id": resource_id,
              **_window(since, until)}
    return log.named_query("resource_access", RESOURCE_ACCESS_SQL, params)


def failed_attempts(log: AuditLog, since: Any = None, until: Any = None,
                    actor_id: str | None = None) -> pd.DataFrame:
    """Failures and denials by actor (anonymous attempts keyed ``ip:<address>``).

    Parameters
    ----------
    log
        An opened audit log.
    since, until
        Optional window ``[since, until)``.
    actor_id
        Only this actor.
    """
    _args.text(actor_id, "actor_id", optional=True, empty=True)
    params = {"actor_id": actor_id, **_window(since, until)}
    return log.named_query("failed_attempts", FAILED_ATTEMPTS_SQL, params)


def activity(log: AuditLog, freq: str = "day", *, since: Any = None, until: Any = None,
             tz: str | Policy = "UTC", **filters: str | None) -> pd.DataFrame:
    """Events per day or hour, for any filter on actor_id, action, resource_type, result.

    Parameters
    ----------
    log
        An opened audit log.
    freq
        ``"day"`` or ``"hour"``.
    since, until
        Optional window ``[since, until)``.
    tz
        IANA time zone (or a :class:`~audit_analytics.policy.Policy`) in which periods are
        reckoned; ``period`` is returned as the UTC instant the local period starts.
    **filters
        ``actor_id``, ``action``, ``resource_type``, ``result``.

    Raises
    ------
    PeriodError
        An unknown ``freq`` or filter name.
    """
    if freq not in ("day", "hour"):
        raise PeriodError(f"unknown frequency {freq!r}: expected 'day' or 'hour'", value=freq)
    unknown = sorted(set(filters) - set(_FILTERS))
    if unknown:
        raise PeriodError(f"unknown filter {unknown[0]!r}: expected {', '.join(_FILTERS)}",
                          value=unknown[0])
    for name, value in filters.items():
        _args.text(value, name, optional=True, empty=True)
    zone = tz.timezone if isinstance(tz, Policy) else tz
    if not isinstance(zone, str):
        raise UsageError("tz must be an IANA time zone name or a Policy, not "
                         f"{type(zone).__name__}", argument="tz")
    resolve_tz(zone)  # an unknown name: PeriodError
    params = {"unit": freq, "tz": zone, **{k: filters.get(k) for k in _FILTERS},
              **_window(since, until, zone)}
    return log.named_query("activity", ACTIVITY_SQL, params)
