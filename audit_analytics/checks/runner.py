"""Run the declared checks over an :class:`~audit_analytics.session.AuditLog`.

One runner for every check: bind the policy's parameters to the check's SQL, run it on
the log's engine, apply the check's Python step if it declares one, then its status
rule. Preludes (shared temp tables) are built once per run and dropped afterwards.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import _args
from .._caps import LISTED, cap, named
from .._text import shown
from ..chain.anchors import anchors_argument
from ..chain.profiles import profile_argument
from ..chain.schema import require_columns
from ..errors import PolicyError, UsageError
from ..periods import parse_when, parse_window
from ..policy import Policy
from .declarations import CHECKS, CheckSpec, load_sql, prelude_params
from .records import post_log_access, post_review_cadence
from .results import ChecklistResult, CheckResult

if TYPE_CHECKING:
    from .._engine import Engine
    from ..session import AuditLog

__all__ = ["parse_when", "run_checks"]

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_PRELUDE_TABLES = {"_actor_days": "_aa_actor_days"}


@dataclass
class _Context:
    log: AuditLog
    policy: Policy
    since: dt.datetime | None
    until: dt.datetime | None
    profile: str | None = None
    anchors: Any = None
    extra_log_access: pd.DataFrame | None = None
    events: int | None = None
    notes: dict = field(default_factory=dict)
    engine: Engine | None = None  # where the check SQL runs: the log's, or its cached events
    short: dict = field(default_factory=dict)  # insufficient baselines, by days needed

    def run(self, sql: str, params: dict) -> pd.DataFrame:
        return self.engine.df(sql, _used(sql, params))


def _used(sql: str, params: dict) -> dict:
    """Only the parameters the SQL names (DuckDB rejects extra ones)."""
    names = set(_PARAM.findall(sql))
    missing = names - set(params)
    if missing:
        raise KeyError(f"SQL parameters without a value: {', '.join(sorted(missing))}")
    return {k: v for k, v in params.items() if k in names}


def _check_names(only) -> list[str]:
    """``only`` as a list of check names: one name, or a list or tuple of them."""
    if only is None:
        return []
    if isinstance(only, str):
        return [only]
    if not isinstance(only, list | tuple) or not all(isinstance(n, str) for n in only):
        raise UsageError(f"only must be a check name or a list of them, not "
                         f"{shown(repr(only), 80)}", argument="only")
    return list(only)


def run_checks(
    log: AuditLog,
    policy: Policy | str | None = None,
    since: Any = None,
    until: Any = None,
    only: list[str] | tuple[str, ...] | None = None,
    *,
    profile: str | None = None,
    anchors: Any = None,
    extra_log_access: pd.DataFrame | None = None,
) -> ChecklistResult:
    """Run the compliance checklist over ``log``.

    Parameters
    ----------
    log
        An opened :class:`~audit_analytics.session.AuditLog`.
    policy
        A :class:`~audit_analytics.policy.Policy`, a TOML path or built-in name, or ``None``
        for the defaults.
    since, until
        The checked window ``[since, until)``: ISO text, dates or datetimes; naive values
        are in the policy's time zone. Baselines are learned from all history before
        ``until``; retention looks at the whole log.
    only
        Run only these checks (a name or a list of names; default: the policy's
        ``checks``, else every check).
    profile, anchors
        Passed to :meth:`AuditLog.verify` by ``chain_integrity``.
    extra_log_access
        Further reads of the audit log for ``log_access`` to review, beside the log's own
        events and the toolkit's access journal for this source (which it always reads):
        a DataFrame with ``actor_id`` and ``timestamp``, optionally ``actor_type``,
        ``action`` and ``result``.

    Returns
    -------
    ChecklistResult
        One result per check. A window without events gives every check that reads
        events the status ``warn`` and the summary "no events in the window": never a
        silent pass (``log_access`` still reviews the journal's reads in the window, and
        ``review_cadence`` reads the review ledger alone).

    Raises
    ------
    PolicyError
        An invalid policy or an unknown check name.
    PeriodError
        An unparsable ``since``/``until``, or ``until`` not after ``since``.
    UsageError
        ``log`` is not an opened log, or another argument is not of its kind.
    """
    started = time.perf_counter()
    _args.audit_log(log)
    policy = _args.policy(policy, getattr(log.source, "default_policy", None))
    names = _check_names(only) or policy.checks
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise PolicyError(f"unknown check {shown(repr(unknown[0]), 80)} (known: "
                          f"{', '.join(CHECKS)})", check=unknown[0])
    profile_argument(profile, optional=True)
    anchors = anchors_argument(anchors)
    if extra_log_access is not None and not isinstance(extra_log_access, pd.DataFrame):
        raise UsageError("extra_log_access must be a pandas DataFrame, not "
                         f"{type(extra_log_access).__name__}", argument="extra_log_access")
    require_columns(log.columns, ["timestamp"], log.source.label, "the checks need it")
    since_ts, until_ts = parse_window(since, until, policy.timezone)
    base = {"tz": policy.timezone, "since": since_ts, "until": until_ts,
            "log_resources": list(getattr(log.source, "log_resources", None) or [])}
    ctx = _Context(log, policy, since_ts, until_ts, profile, anchors, extra_log_access)
    # Every check whose SQL reads the events answers from one materialised copy of them.
    reads = any(CHECKS[name].sql for name in names)
    with log.cached_events() if reads else contextlib.nullcontext(log.engine) as engine:
        ctx.engine = engine
        results = _run_all(ctx, names, base)
    log._journal("check", "success", {
        "policy": policy.name, "checks": names, "since": since_ts, "until": until_ts,
        "statuses": {r.name: r.status for r in results}})
    return ChecklistResult(
        checks=results, source=log.source.label, policy=policy.name, since=since_ts,
        until=until_ts, events=ctx.events, policy_settings=policy.to_dict(),
        elapsed=time.perf_counter() - started)


def _run_all(ctx: _Context, names: list[str], base: dict) -> list[CheckResult]:
    """Each named check in turn; preludes are built when first needed, dropped at the end."""
    window_sql = load_sql("window_events")
    ctx.events = in_window = int(ctx.engine.scalar(window_sql, _used(window_sql, base)) or 0)
    results: list[CheckResult] = []
    if in_window == 0:
        for name in names:
            spec = CHECKS[name]
            if not spec.needs_events:
                results.append(_run_one(spec, ctx, base))
                continue
            results.append(CheckResult(
                spec.name, spec.title, "warn", list(spec.controls), "no events in the window",
                pd.DataFrame(), {"events": 0}))
        return results
    built: list[str] = []
    try:
        for name in names:
            spec = CHECKS[name]
            for prelude in spec.requires:
                if prelude not in built:
                    t0 = time.perf_counter()
                    sql = load_sql(prelude)
                    ctx.engine.execute(sql, _used(sql, {**base, **prelude_params(ctx.policy)}))
                    built.append(prelude)
                    ctx.notes[f"{prelude}_seconds"] = time.perf_counter() - t0
            results.append(_run_one(spec, ctx, base))
    finally:
        for prelude in built:
            ctx.engine.execute(f"DROP TABLE IF EXISTS {_PRELUDE_TABLES[prelude]}")
    return results


def _run_one(spec: CheckSpec, ctx: _Context, base: dict) -> CheckResult:
    t0 = time.perf_counter()
    params = {**base, **spec.params(ctx.policy)}
    sql = load_sql(spec.sql, spec.identifiers) if spec.sql else None
    findings = ctx.run(sql, params) if sql else pd.DataFrame()
    metrics: dict = {}
    status: str | None = None
    summary: str | None = None
    if spec.post:
        findings, metrics, status, summary = _POST[spec.post](ctx, findings, params)
    if status is None:
        status = spec.on_findings if len(findings) else "pass"
    if summary is None:
        summary = _summary(spec, findings)
    if spec.baseline:
        short = _insufficient_baseline(ctx, params)
        metrics["insufficient_baseline"] = short
        if short["actors"]:
            n = short["actors"]
            summary += (f"; {n} actor{'' if n == 1 else 's'} with insufficient baseline "
                        f"(fewer than {short['needed']} days of history): "
                        + ("judged on the fixed count only" if spec.name == "failed_access_burst"
                           else "not judged"))
    metrics = {**metrics, "findings": len(findings),
               "parameters": {k: v for k, v in params.items() if k not in base},
               "seconds": round(time.perf_counter() - t0, 3)}
    findings = findings.reset_index(drop=True)
    if "local_day" in findings and len(findings):
        findings["local_day"] = pd.to_datetime(findings["local_day"]).dt.date
    return CheckResult(spec.name, spec.title, status, list(spec.controls), summary, findings,
                       metrics)


def _insufficient_baseline(ctx: _Context, params: dict) -> dict:
    """Actors active in the window with too little history to learn their habits.

    ``actors`` counts them all; ``by_actor`` lists the first :data:`~.._caps.LISTED`
    (fewest days first, then by actor id), with ``by_actor_total`` and
    ``by_actor_truncated`` (see :func:`~.._caps.cap`). Checks that need the same number
    of days share one query.
    """
    needed = int(params["min_history_days"])
    if needed not in ctx.short:
        sql = load_sql("insufficient_baseline")
        rows = ctx.run(sql, {**params, "listed": LISTED})
        total = int(rows["total"].iloc[0]) if len(rows) else 0
        by_actor = [{"actor_id": a, "days": int(d),
                     "note": f"insufficient baseline ({int(d)} day{'' if d == 1 else 's'} of "
                             f"the {needed} needed)"}
                    for a, d in zip(rows["actor_id"], rows["days"])]
        ctx.short[needed] = cap({"needed": needed, "actors": total}, "by_actor", by_actor,
                                total)
    found = ctx.short[needed]
    return {**found, "by_actor": [dict(entry) for entry in found["by_actor"]]}


def _summary(spec: CheckSpec, findings: pd.DataFrame) -> str:
    n = len(findings)
    if not n:
        return "nothing found"
    text = f"{n} {spec.noun}{'' if n == 1 else 's'} flagged"
    if "actor_id" in findings:
        actors = findings["actor_id"].dropna().nunique()
        text += f" ({actors} actor{'' if actors == 1 else 's'})"
    return text


# --- Python steps -------------------------------------------------------------------------
def _post_required_fields(ctx: _Context, findings: pd.DataFrame, params: dict):
    sql = load_sql("ip_candidates")
    candidates = ctx.run(sql, params)
    bad = []
    for row in candidates.itertuples(index=False):
        try:
            ipaddress.ip_address(str(row.value).strip())
        except ValueError:
            bad.append({"field": "ip_address", "problem": "invalid_ip", "value": row.value,
                        "events": int(row.events), "example_id": row.example_id})
    if bad:
        findings = pd.concat([findings, pd.DataFrame(bad)], ignore_index=True)
    metrics = {"ip_values_checked_in_python": len(candidates),
               "events_affected": int(findings["events"].sum()) if len(findings) else 0}
    summary = None
    if len(findings):
        kinds = sorted({f"{f}:{p}" for f, p in zip(findings["field"], findings["problem"])})
        summary = f"{len(findings)} field problem(s): {', '.join(kinds)}"
    return findings, metrics, None, summary


def _post_failed_access_burst(ctx: _Context, findings: pd.DataFrame, params: dict):
    """Bursts and steady streams of failures are told apart in the summary."""
    kinds = findings["kind"].value_counts().to_dict() if len(findings) else {}
    metrics = {"bursts": int(kinds.get("burst", 0)),
               "persistent_failures": int(kinds.get("persistent_failures", 0)),
               "rule": params["rule"], "window_minutes": params["window_minutes"]}
    if not len(findings):
        return findings, metrics, None, "nothing found"
    parts = []
    bursts = findings[findings["kind"] == "burst"]
    if len(bursts):
        actors = bursts["actor_id"].nunique()
        parts.append(f"{len(bursts)} burst{'' if len(bursts) == 1 else 's'} of failures within "
                     f"{params['window_minutes']} min ({actors} actor{'' if actors == 1 else 's'})")
    streams = findings[findings["kind"] == "persistent_failures"]
    if len(streams):
        who = named(sorted({str(a) for a in streams["actor_id"]}))
        parts.append(f"{len(streams)} persistent failure stream{'' if len(streams) == 1 else 's'}"
                     f" (the same operation failing day after day: {who})")
    return findings, metrics, None, "; ".join(parts)


def _post_retention(ctx: _Context, gaps: pd.DataFrame, params: dict):
    rule = ctx.policy.retention
    oldest, newest, events = ctx.engine.rows(load_sql("retention_span"))[0]
    as_of = pd.Timestamp(ctx.until or newest)
    oldest = pd.Timestamp(oldest)
    required_start = as_of - pd.DateOffset(months=rule.required_months)
    covered_days = (as_of - oldest).total_seconds() / 86400
    metrics: dict = {
        "regime": rule.regime, "source": rule.source,
        "required_months": rule.required_months,
        "immediately_available_months": rule.immediately_available_months,
        "oldest_event": oldest, "newest_event": pd.Timestamp(newest), "as_of": as_of,
        "days_covered": round(covered_days, 1),
        "required_start": required_start,
        "gaps": len(gaps),
        "silent_minutes": int(gaps["value"].sum()) if len(gaps) else 0,
    }
    tolerance = pd.Timedelta(days=1)
    started = ctx.policy.logging_started
    started_ts = (pd.Timestamp(started).tz_localize(ctx.policy.timezone).tz_convert("UTC")
                  if started else None)
    misdated = None
    if started_ts is not None and oldest < started_ts - tolerance:
        # events older than the start of logging: the setting is wrong, so it cannot
        # excuse a short log
        misdated = {"kind": "logging_started_after_oldest_event", "actor_id": None,
                    "window_start": oldest, "window_end": started_ts,
                    "value": round((started_ts - oldest).total_seconds() / 86400, 1),
                    "baseline": None, "threshold": None}
        started_ts = None
    if rule.immediately_available_months:
        online_start = as_of - pd.DateOffset(months=rule.immediately_available_months)
        metrics["immediately_available_start"] = online_start
        metrics["immediately_available_met"] = bool(
            oldest <= online_start + tolerance
            or (started_ts is not None and oldest <= started_ts + tolerance))
    status = None
    rows = [gaps] if len(gaps) else []
    if oldest <= required_start + tolerance:
        note = (f"retention met: {covered_days:.0f} days kept, {rule.required_months} months "
                "required")
    elif started_ts is not None and oldest <= started_ts + tolerance:
        note = (f"log complete since logging started ({started}): {covered_days:.0f} days, "
                f"{rule.required_months} months required")
    elif started_ts is not None:
        short = {"kind": "retention_shortfall", "actor_id": None,
                 "window_start": max(required_start, started_ts), "window_end": oldest,
                 "value": round(covered_days, 1), "baseline": None,
                 "threshold": rule.required_months}
        archive = metrics.get("immediately_available_met")
        if archive:
            short["kind"] = "archive_required"
            status = "warn"
            note = (f"only {covered_days:.0f} days online; the rest of the {rule.required_months}"
                    " months must be in an archive")
        else:
            note = (f"events before {oldest:%Y-%m-%d} are missing although logging started "
                    f"{started}: {covered_days:.0f} days kept, {rule.required_months} months "
                    "required")
        rows.append(pd.DataFrame([short]))
    else:
        status = "warn"
        note = (f"log spans {covered_days:.0f} days of the {rule.required_months} months "
                "required; set retention.logging_started to tell a young log from a purged one")
    if misdated is not None:
        rows.append(pd.DataFrame([misdated]))
        note = (f"retention.logging_started ({started}) is after the oldest event "
                f"({oldest:%Y-%m-%d}), so it is ignored; " + note)
        status = status or "warn"
    findings = pd.concat(rows, ignore_index=True) if rows else gaps
    if status is None:
        status = "fail" if len(findings) else "pass"
    if len(gaps):
        note = (f"{len(gaps)} logging gap(s) of >= {params['max_gap_minutes']} min "
                f"({metrics['silent_minutes']} silent minutes); " + note)
    metrics["note"] = note
    return findings, metrics, status, note + f" [{rule.source.split(':')[0]}]"


def _post_chain(ctx: _Context, findings: pd.DataFrame, params: dict):
    result = ctx.log.verify(profile=ctx.profile or params.get("profile", "auto"),
                            anchors=ctx.anchors)
    if hasattr(result, "findings_frame"):  # a source verified by its signed digests
        from ..cloudtrail.integrity import digest_check

        return digest_check(result)
    if hasattr(result, "manifest"):  # an archive folder, checked against its manifest
        from ..archive.integrity import archive_check

        return archive_check(result)
    frame = result.findings
    counts = {k: v for k, v in result.counts.items() if v}
    metrics = {"rows": result.rows, "profile": result.profile.name, "counts": counts,
               "segments": len(result.segment_records),
               "unprotected_fields": result.unprotected_fields,
               "verify_seconds": round(result.elapsed, 3)}
    if result.ok:
        summary = (f"chain intact over {result.rows:,} rows (whole log, profile "
                   f"{result.profile.name})")
    else:
        summary = "tampering evident: " + ", ".join(f"{k} {v}" for k, v in counts.items())
    return frame, metrics, "pass" if result.ok else "fail", summary


_POST = {
    "required_fields": _post_required_fields,
    "failed_access_burst": _post_failed_access_burst,
    "log_access": post_log_access,
    "retention": _post_retention,
    "chain_integrity": _post_chain,
    "review_cadence": post_review_cadence,
}
