"""Each anomaly's timeline: the actor's activity around the flagged window, in buckets.

A day-level finding (``volume_spike``, ``broad_access``, ``bulk_export``: one actor-day)
is shown as that actor's metric per actor-day-long bucket aligned on the flagged window,
two weeks before it and one after, so the flagged bucket holds exactly the value the
check counted, drawn against the check's baseline and threshold. A burst is shown per
sliding-window-long bucket (15 minutes by default) over the surrounding hours, its
failures against the same baseline and threshold. Other findings (off-hours access, reads
of the log, a logging gap) show the actor's (or, without an actor, everyone's) events per
hour around the window, the window in red; their baselines are in other units and not
drawn. Failures without an actor are the ``ip:ADDRESS`` actor of ``failed_access_burst``.
A timeline has at most :data:`MAX_BUCKETS` buckets: a window of years (a retention
finding) is drawn in buckets of several hours (or days), every event still counted.
Every timeline of a report comes from one query over the cached events.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from ..checks.declarations import prelude_params

__all__ = ["timelines"]

_HOUR_US = 3_600_000_000
_DAY_US = 24 * _HOUR_US
#: Buckets of one timeline at most: a window longer than that many hours (or days) is
#: drawn in buckets of several hours (or days), so its timeline stays one small chart.
MAX_BUCKETS = 1_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: check -> (metric column, buckets before, buckets after, baseline comparable)
_DAILY = {"volume_spike": "events", "broad_access": "resources", "bulk_export": "exports"}

#: One window's events: its actor's (a hash join on the actor's key, as the checks key
#: failures without an actor) or, for a window without an actor, everyone's.
_MATCH_ACTOR = """
    SELECT w.idx, w.origin, w.width, e."timestamp", e.result, e.action, e.resource_type,
           e.resource_id
    FROM events e JOIN spans w
      ON coalesce(e.actor_id, 'ip:' || coalesce(e.ip_address, 'unknown')) = w.actor
     AND epoch_us(e."timestamp") >= w.lo AND epoch_us(e."timestamp") < w.hi
"""
_MATCH_EVERYONE = """
    SELECT w.idx, w.origin, w.width, e."timestamp", e.result, e.action, e.resource_type,
           e.resource_id
    FROM events e JOIN spans w
      ON w.actor IS NULL
     AND epoch_us(e."timestamp") >= w.lo AND epoch_us(e."timestamp") < w.hi
"""
#: The overall span of the windows without an actor, on the column itself: DuckDB skips
#: the row groups outside it by their minimum and maximum without reading them.
_EVERYONE_SPAN = """
    WHERE e."timestamp" >= $everyone_from AND e."timestamp" < $everyone_to
"""
_SQL = """
WITH spans AS (
    SELECT idx, actor, origin, width, origin - before * width AS lo,
           origin + (after + 1) * width AS hi
    FROM {windows}
),
matched AS ({matched})
SELECT idx,
       -- floor, not truncation: the bucket before the window is -1, not a second 0
       CAST(floor((epoch_us("timestamp") - origin) / CAST(width AS DOUBLE)) AS BIGINT)
           AS bucket,
       count(*) AS events,
       count(*) FILTER (WHERE list_contains($failure_results, result)) AS failures,
       count(*) FILTER (WHERE list_contains($export_actions, action)) AS exports,
       count(DISTINCT resource_id)
           FILTER (WHERE list_contains($broad_resource_types, resource_type)) AS resources
FROM matched
GROUP BY ALL
"""


def _plan(anomaly: dict, burst_minutes: int) -> dict | None:
    """Bucket width, span and metric for one anomaly (``None`` without a window)."""
    try:
        start = pd.Timestamp(anomaly["window_start"])
        end = pd.Timestamp(anomaly["window_end"])
    except (KeyError, TypeError, ValueError):
        return None
    if pd.isna(start) or pd.isna(end):
        return None
    start, end = (t.tz_localize("UTC") if t.tzinfo is None else t for t in (start, end))
    check, kind = anomaly.get("check"), anomaly.get("kind")
    origin = int(start.value // 1000)
    span_us = max(int((end - start).value // 1000), 1)
    if check in _DAILY:
        return {"metric": _DAILY[check], "width": span_us, "before": 14, "after": 7,
                "origin": origin, "compare": True, "unit": "actor-day"}
    if check == "failed_access_burst" and kind != "persistent_failures":
        width = burst_minutes * 60_000_000
        return {"metric": "failures", "width": width, "before": 16, "after": 8,
                "origin": origin, "compare": True, "unit": f"{burst_minutes} min"}
    if check == "failed_access_burst":  # a stream of failures over weeks: per day
        step = _step(span_us // _DAY_US + 5)
        width = step * _DAY_US
        before = -(-2 // step)
        return {"metric": "failures", "width": width, "before": before,
                "after": span_us // width + before, "origin": origin, "compare": False,
                "unit": _unit("day", step), "window_buckets": span_us // width + 1}
    step = _step(span_us // _HOUR_US + 74)
    width = step * _HOUR_US
    before = -(-36 // step)
    return {"metric": "events", "width": width, "before": before,
            "after": span_us // width + 1 + before, "origin": origin - origin % width,
            "compare": False, "unit": _unit("hour", step),
            "window_buckets": (origin % width + span_us) // width + 1}


def _step(buckets: int) -> int:
    """Units per bucket so that ``buckets`` units make at most :data:`MAX_BUCKETS` buckets."""
    return max(1, -(-buckets // (MAX_BUCKETS - 4)))


def _unit(name: str, step: int) -> str:
    return name if step == 1 else f"{step} {name}s"


def timelines(engine, anomalies: list[dict], policy, first_event=None,
              last_event=None) -> dict[int, dict]:
    """The timeline of each anomaly (by index), from one query over ``events``.

    Returns ``{index: {"metric", "unit", "bucket_seconds", "buckets": [{"start",
    "value", "flagged"}], "baseline", "threshold"}}``; buckets before the log's first
    event or after its last are left out (no data is not zero activity).
    """
    burst = getattr(policy, "burst_window_minutes", 15)
    plans = {i: p for i, a in enumerate(anomalies) if (p := _plan(a, burst)) is not None}
    if not plans:
        return {}
    windows = pd.DataFrame([
        {"idx": i, "actor": (None if anomalies[i].get("actor_id") is None
                             or anomalies[i].get("check") == "retention_coverage"
                             else str(anomalies[i]["actor_id"])),
         "origin": p["origin"], "width": p["width"], "before": p["before"],
         "after": p["after"]} for i, p in plans.items()])
    windows["actor"] = windows["actor"].astype("object")
    name = "__report_timelines"
    engine.register(name, windows)
    try:
        frame = engine.df(*_query(name, windows, prelude_params(policy)))
    finally:
        engine.unregister(name)
    lo = _us(first_event)
    hi = _us(last_event)
    out = {}
    for i, plan in plans.items():
        rows = frame[frame["idx"] == i].set_index("bucket")[plan["metric"]]
        flagged = range(0, plan.get("window_buckets", 1))
        buckets = []
        for b in range(-plan["before"], plan["after"] + 1):
            begin = plan["origin"] + b * plan["width"]
            if (lo is not None and begin + plan["width"] <= lo) or (hi is not None
                                                                    and begin > hi):
                continue
            buckets.append({"start": pd.Timestamp(begin * 1000, tz="UTC"),
                            "value": int(rows.get(b, 0)), "flagged": b in flagged})
        anomaly = anomalies[i]
        out[i] = {"metric": plan["metric"], "unit": plan["unit"],
                  "bucket_seconds": plan["width"] / 1e6, "buckets": buckets,
                  "baseline": anomaly.get("baseline") if plan["compare"] else None,
                  "threshold": anomaly.get("threshold") if plan["compare"] else None}
    return out


def _query(name: str, windows: pd.DataFrame, params: dict) -> tuple[str, dict]:
    """The timelines' SQL over the registered ``windows`` and its parameters.

    Windows of one actor are joined on the actor's key (a hash join: a join on a range
    alone compares every event with every window); windows without an actor, if any,
    join every event inside their span, which is read from the overall span alone.
    """
    matched = [_MATCH_ACTOR]
    everyone = windows[windows["actor"].isna()]
    if len(everyone):
        low = _stamp(int((everyone["origin"] - everyone["before"] * everyone["width"]).min()))
        high = _stamp(int((everyone["origin"] + (everyone["after"] + 1)
                           * everyone["width"]).max()))
        if low is None or high is None:  # a span beyond what a parameter holds: no filter
            matched.append(_MATCH_EVERYONE)
        else:
            matched.append(_MATCH_EVERYONE + _EVERYONE_SPAN)
            params = {**params, "everyone_from": low, "everyone_to": high}
    return _SQL.format(windows=name, matched="UNION ALL".join(matched)), params


def _us(value) -> int | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        return None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return int(stamp.value // 1000)


def _stamp(us: int) -> datetime | None:
    """Microseconds since the epoch as a UTC datetime (exact), ``None`` beyond years 1-9999."""
    try:
        return _EPOCH + timedelta(microseconds=us)
    except OverflowError:
        return None
