"""A realistic month of hospital activity, with labelled injected anomalies.

``generate_month(seed=7)`` returns ``(events, labels)``: a pyarrow Table in the event
schema, chained with python-seed hashes, and one label per injected anomaly (which
check should flag it, for which actor and window). ``clean=True`` injects nothing.

The population (in the hospital's own time zone, America/New_York by default):

* doctors ``md-NNN``: weekdays 08:00-18:00, their own panel of patients;
* day nurses ``rn-NNN``: 12-hour shifts 07:00-19:00 on any day of the week, weekends too;
* night nurses ``rn-NNN``: 19:00-07:00 shifts (spanning midnight);
* billing clerks ``bill-NN``: weekdays 09:00-17:00, invoices, a few exports a day;
* administrators ``adm-NN``: weekdays, user management, they read the audit log;
* ``svc-ehr-sync``: a 24/7 service account syncing patient records every ~2 minutes;
* ``svc-backup``: nightly exports at about 02:00;
* ``system``: hourly housekeeping and a nightly read of the audit log.

Injected anomalies (``clean=False``), each with a label: failure bursts (one across
midnight that calendar days would miss, one from an anonymous IP), off-hours access by
day workers, volume spikes, record snooping, bulk exports, a three-hour logging outage,
audit-log reads by a nurse and required-field problems (anonymous actor, result outside
the allowed set, unparsable IP addresses, an empty action).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import kernel
from ..profiles import BUILTIN_PROFILES
from .events import REASONS_DENIED, REASONS_FAILURE, SERVICE_AGENTS, USER_AGENTS

__all__ = ["DEFAULT_START", "DEFAULT_TZ", "chain_table", "chain_table_from", "generate_month",
           "month_policy"]

DEFAULT_START = date(2024, 3, 1)  # March 2024: includes the US switch to summer time
DEFAULT_TZ = "America/New_York"
GENESIS = "GENESIS"
_US_HOUR = 3_600_000_000
_US_MIN = 60_000_000

SCHEMA = pa.schema([
    ("id", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")),
    ("actor_id", pa.string()), ("actor_type", pa.string()), ("action", pa.string()),
    ("resource_type", pa.string()), ("resource_id", pa.string()), ("result", pa.string()),
    ("ip_address", pa.string()), ("user_agent", pa.string()), ("session_id", pa.string()),
    ("changed_fields", pa.string()), ("old_values", pa.string()), ("reason", pa.string()),
])


@dataclass
class _Actor:
    actor_id: str
    role: str
    ip: str
    agent: str
    panel: list[str]
    rate: float  # mean events per shift / day
    days: list[int]  # day offsets the actor works (shift start day)


_UPDATED = {"patient_record": ("diagnosis", "status"), "invoice": ("amount", "status"),
            "user": ("mfa_enabled", "role")}
_CHANGED = {f: json.dumps(list(f)) for f in [*_UPDATED.values(), ("note",)]}


class _Rows:
    """Column lists of the generated events; local times as microseconds."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.cols: dict[str, list] = {name: [] for name in SCHEMA.names
                                      if name not in ("id", "timestamp")}
        self.local_us: list[int] = []

    def add(self, local_us: int, actor: _Actor | None, action: str, rtype: str, rid: str | None,
            result: str = "success", *, actor_id: str | None = None,
            actor_type: str | None = None, ip: str | None = None, session: str | None = None,
            agent: str | None = None) -> None:
        rng = self.rng
        c = self.cols
        self.local_us.append(local_us)
        c["actor_id"].append(actor.actor_id if actor and actor_id is None else actor_id)
        c["actor_type"].append(actor_type or _actor_type(actor))
        c["action"].append(action)
        c["resource_type"].append(rtype)
        c["resource_id"].append(rid)
        c["result"].append(result)
        c["ip_address"].append(ip or (actor.ip if actor else None))
        c["user_agent"].append(agent or (actor.agent if actor and actor.agent else None))
        c["session_id"].append(session)
        if action == "update" and result == "success":
            fields = _UPDATED.get(rtype, ("note",))
            c["changed_fields"].append(_CHANGED[fields])
            c["old_values"].append(
                "{" + ", ".join(f'"{f}": "old-{rng.randint(1, 999)}"' for f in fields) + "}")
        else:
            c["changed_fields"].append(None)
            c["old_values"].append(None)
        if result == "denied":
            c["reason"].append(rng.choice(REASONS_DENIED))
        elif result == "failure":
            c["reason"].append(rng.choice(REASONS_FAILURE))
        else:
            c["reason"].append(None)

    def __len__(self) -> int:
        return len(self.local_us)


def _actor_type(actor: _Actor | None) -> str:
    if actor is None:
        return "anonymous"
    return {"service": "service", "system": "system"}.get(actor.role, "user")


def _roster(rng: random.Random, days: int, start: date, scale: float) -> list[_Actor]:
    wards = [[f"MRN-{w * 1000 + k:05d}" for k in range(1, 601)] for w in range(20)]

    def ip() -> str:
        if rng.random() < 0.15:
            return f"2001:db8:{rng.randint(1, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"
        return f"10.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"

    weekdays = [d for d in range(days) if (start + timedelta(d)).weekday() < 5]
    actors: list[_Actor] = []

    def shifts() -> list[int]:  # 3-4 shifts a week, any day
        return sorted(d for d in range(days) if rng.random() < 0.5)

    def n(k: int) -> int:
        return max(2, round(k * scale))

    for i in range(1, n(40) + 1):
        ward = wards[rng.randrange(20)]
        actors.append(_Actor(f"md-{i:03d}", "doctor", ip(), rng.choice(USER_AGENTS),
                             rng.sample(ward, 40), rng.uniform(30, 50),
                             [d for d in weekdays if rng.random() < 0.9]))
    for i in range(1, n(80) + 1):
        ward = wards[rng.randrange(20)]
        actors.append(_Actor(f"rn-{i:03d}", "day_nurse", ip(), rng.choice(USER_AGENTS),
                             rng.sample(ward, 25), rng.uniform(25, 45), shifts()))
    for i in range(n(80) + 1, n(80) + n(30) + 1):
        ward = wards[rng.randrange(20)]
        actors.append(_Actor(f"rn-{i:03d}", "night_nurse", ip(), rng.choice(USER_AGENTS),
                             rng.sample(ward, 25), rng.uniform(15, 25), shifts()))
    invoices = [f"INV-{k:06d}" for k in range(1, 30001)]
    for i in range(1, n(20) + 1):
        actors.append(_Actor(f"bill-{i:02d}", "billing", ip(), rng.choice(USER_AGENTS),
                             invoices, rng.uniform(35, 55),
                             [d for d in weekdays if rng.random() < 0.92]))
    users = [a.actor_id for a in actors]
    for i in range(1, 7):
        actors.append(_Actor(f"adm-{i:02d}", "admin", ip(), rng.choice(USER_AGENTS),
                             users, rng.uniform(15, 25),
                             [d for d in weekdays if rng.random() < 0.9]))
    all_patients = [p for w in wards for p in w]
    actors.append(_Actor("svc-ehr-sync", "service", "172.16.0.10", SERVICE_AGENTS[2],
                         all_patients, 30.0, list(range(days))))
    actors.append(_Actor("svc-backup", "service", "172.16.0.12", SERVICE_AGENTS[0],
                         [], 20.0, list(range(days))))
    actors.append(_Actor("system", "system", "127.0.0.1", "", [], 24.0, list(range(days))))
    return actors


def _shift_window(role: str) -> tuple[int, int]:
    """Shift start and end, in hours from the shift day's local midnight."""
    return {"doctor": (8, 18), "day_nurse": (7, 19), "night_nurse": (19, 31),
            "billing": (9, 17), "admin": (8, 18)}[role]


def _times(rng: random.Random, day: int, lo_h: float, hi_h: float, k: int) -> list[int]:
    """``k`` sorted local times (µs since the month's local midnight) in [lo_h, hi_h)."""
    base = day * 24 * _US_HOUR
    lo, hi = int(lo_h * _US_HOUR) + 5 * _US_MIN, int(hi_h * _US_HOUR) - 5 * _US_MIN
    return sorted(base + rng.randrange(lo, hi) for _ in range(k))


def _session(rng: random.Random) -> str:
    return "sess-" + f"{rng.getrandbits(64):016x}"


def _workday(rows: _Rows, a: _Actor, day: int, *, factor: float = 1.0,
             patients: list[str] | None = None, exports: int | None = None,
             window: tuple[float, float] | None = None, count: int | None = None) -> list[str]:
    """One actor's ordinary shift; returns the resources it touched."""
    rng = rows.rng
    lo, hi = window or _shift_window(a.role)
    k = count if count is not None else max(3, round(rng.gauss(a.rate, 0.12 * a.rate) * factor))
    session = _session(rng)
    times = _times(rng, day, lo, hi, k)
    rows.add(times[0], a, "login", "user", a.actor_id, session=session)
    if a.role in ("doctor", "day_nurse", "night_nurse"):
        mine = patients or rng.sample(a.panel, max(3, round(rng.gauss(0.45, 0.05) * len(a.panel))))
        n_exports = exports if exports is not None else (1 if rng.random() < 0.15 else 0)
        for j, t in enumerate(times[1:]):
            rid = mine[j % len(mine)] if j < len(mine) else rng.choice(mine)
            if j < n_exports:
                action = "export"
            else:
                r = rng.random()
                action = "read" if r < 0.75 else "update" if r < 0.95 else "create"
            roll = rng.random()
            result = "failure" if roll < 0.003 else "denied" if roll < 0.005 else "success"
            rows.add(t, a, action, "patient_record", rid, result, session=session)
        return mine
    if a.role == "billing":
        n_exports = exports if exports is not None else rng.choice((0, 1, 1, 2, 2, 3))
        touched = []
        for j, t in enumerate(times[1:]):
            rid = rng.choice(a.panel)
            touched.append(rid)
            r = rng.random()
            action = ("export" if j < n_exports else "read" if r < 0.6
                      else "update" if r < 0.9 else "create")
            roll = rng.random()
            result = "failure" if roll < 0.003 else "denied" if roll < 0.005 else "success"
            rows.add(t, a, action, "invoice", rid, result, session=session)
        return touched
    # admin: user management, and now and then a review of the audit log
    for t in times[1:]:
        if rng.random() < 0.04:
            rows.add(t, a, "view_audit_log", "audit_log", "audit_logs", session=session)
        else:
            r = rng.random()
            action = "read" if r < 0.6 else "update" if r < 0.9 else "create"
            rows.add(t, a, action, "user", rng.choice(a.panel), session=session)
    return []


def _services(rows: _Rows, actors: dict[str, _Actor], days: int) -> None:
    rng = rows.rng
    sync, backup, system = actors["svc-ehr-sync"], actors["svc-backup"], actors["system"]
    session = _session(rng)
    t = rng.randrange(0, 120_000_000)
    end = days * 24 * _US_HOUR
    while t < end:  # every ~2 minutes, around the clock
        action = "read" if rng.random() < 0.75 else "update"
        rows.add(t, sync, action, "patient_record", rng.choice(sync.panel), session=session)
        t += int(rng.expovariate(1 / 120) * 1e6) + 1
    for day in range(days):
        for t in _times(rng, day, 2.0, 2.6, rng.randint(18, 22)):
            rows.add(t, backup, "export", "report", f"backup-{day:02d}-{rng.randint(1, 40):02d}",
                     session=_session(rng))
        for hour in range(24):
            t = day * 24 * _US_HOUR + hour * _US_HOUR + rng.randrange(0, 4 * _US_MIN)
            rows.add(t, system, "update", "report", "housekeeping", ip="127.0.0.1")
        t = day * 24 * _US_HOUR + 3 * _US_HOUR + rng.randrange(10 * _US_MIN, 20 * _US_MIN)
        rows.add(t, system, "view_audit_log", "audit_log", "audit_logs", ip="127.0.0.1")


def generate_month(seed: int = 7, *, clean: bool = False, start: date = DEFAULT_START,
                   days: int = 31, tz: str = DEFAULT_TZ, scale: float = 1.0
                   ) -> tuple[pa.Table, list[dict]]:
    """Generate a month of activity, chained with python-seed hashes.

    Parameters
    ----------
    seed
        Seed of the ``random.Random`` that drives everything (deterministic output).
    clean
        Inject no anomalies (``labels`` is then empty).
    start, days
        First local day and number of days.
    tz
        The hospital's IANA time zone; timestamps are stored in UTC.
    scale
        Multiplies the number of clinicians and clerks (1.0: about 200 actors).

    Returns
    -------
    events : pyarrow.Table
        The event schema, ``prev_hash`` and ``hash`` included, in chain order.
    labels : list of dict
        One per injected anomaly: ``check``, ``actor_id``, ``day`` (local date),
        ``window_start``/``window_end`` (UTC ISO text), ``what``; required-field labels
        carry ``field`` and ``problem`` instead of a window.
    """
    rng = random.Random(seed)
    roster = _roster(rng, days, start, scale)
    by_id = {a.actor_id: a for a in roster}
    rows = _Rows(rng)
    # Injections replace an actor's ordinary day: choose (actor, day) pairs up front.
    plan: dict[tuple[str, int], dict] = {}
    labels: list[dict] = []
    if not clean:
        plan = _plan_injections(rng, roster, days, start)
    for a in roster:
        if a.role in ("service", "system"):
            continue
        for day in a.days:
            spec = plan.get((a.actor_id, day))
            if spec is None:
                _workday(rows, a, day)
            else:
                spec["apply"](rows, a, day, spec, labels)
    _services(rows, by_id, days)
    if not clean:
        _extra_injections(rows, by_id, rng, days, labels, plan)
    table, local = _to_table(rows, start, tz)
    if not clean:
        # a logging outage: nothing at all was written for three hours (before chaining)
        busy = {d + k for (_, d) in plan for k in (0, 1)} | {12}
        day = _pick_day(rng, days, start, weekday=True, avoid=busy)
        lo = (day * 24 + 1) * _US_HOUR
        hi = (day * 24 + 4) * _US_HOUR
        keep = ~((local >= lo) & (local < hi))
        table = table.filter(pa.array(keep))
        labels.append(_label("retention_coverage", None, start, day, lo, hi,
                             "logging outage 01:00-04:00 local"))
    labels = [_finish_label(lab, start, tz) for lab in labels]
    return chain_table(table), labels


def _pick_day(rng: random.Random, days: int, start: date, *, weekday: bool, avoid: set) -> int:
    while True:
        d = rng.randrange(7, days - 2)  # leave a week of history first
        if d in avoid or ((start + timedelta(d)).weekday() < 5) != weekday:
            continue
        avoid.add(d)
        return d


def _label(check: str, actor_id: str | None, start: date, day: int, lo_us: int, hi_us: int,
           what: str) -> dict:
    return {"check": check, "actor_id": actor_id, "day": (start + timedelta(day)).isoformat(),
            "_lo": lo_us, "_hi": hi_us, "what": what}


def _finish_label(label: dict, start: date, tz: str) -> dict:
    out = {k: v for k, v in label.items() if not k.startswith("_")}
    if "_lo" in label:
        origin = pd.Timestamp(start)
        lo = (origin + pd.Timedelta(microseconds=label["_lo"])).tz_localize(
            tz, nonexistent="shift_forward", ambiguous=False).tz_convert("UTC")
        hi = (origin + pd.Timedelta(microseconds=label["_hi"])).tz_localize(
            tz, nonexistent="shift_forward", ambiguous=False).tz_convert("UTC")
        out["window_start"], out["window_end"] = lo.isoformat(), hi.isoformat()
    return out


def _plan_injections(rng: random.Random, roster: list[_Actor], days: int,
                     start: date) -> dict[tuple[str, int], dict]:
    """(actor, day) -> how that day is replaced by an anomaly."""
    plan: dict[tuple[str, int], dict] = {}
    used: set[str] = set()

    def pick(role: str, *, weekday: bool | None = None) -> tuple[_Actor, int]:
        while True:
            a = rng.choice([x for x in roster if x.role == role and x.actor_id not in used])
            choices = [d for d in a.days if 7 <= d < days - 1 and (
                weekday is None or ((start + timedelta(d)).weekday() < 5) == weekday)]
            if choices:
                used.add(a.actor_id)
                return a, rng.choice(choices)

    def volume(rows, a, day, spec, labels):
        _workday(rows, a, day, factor=4.0)
        labels.append(_label("volume_spike", a.actor_id, start, day,
                             day * 24 * _US_HOUR, (day + 1) * 24 * _US_HOUR,
                             "four times the actor's usual daily volume"))

    def snoop(rows, a, day, spec, labels):
        # as many events as a usual day, but 43 patients outside the actor's own panel
        strangers = rng.sample(range(12000), 43)
        patients = [f"MRN-{(k // 600) * 1000 + k % 600 + 1:05d}" for k in strangers]
        patients = [p for p in patients if p not in a.panel] or patients
        _workday(rows, a, day, patients=patients, count=44)
        labels.append(_label("broad_access", a.actor_id, start, day,
                             day * 24 * _US_HOUR, (day + 1) * 24 * _US_HOUR,
                             "43 distinct patients outside the actor's panel"))

    def bulk(rows, a, day, spec, labels):
        _workday(rows, a, day, exports=35, count=max(40, round(a.rate)))
        labels.append(_label("bulk_export", a.actor_id, start, day,
                             day * 24 * _US_HOUR, (day + 1) * 24 * _US_HOUR,
                             "35 exports in one day"))

    def denied_burst(rows, a, day, spec, labels):
        mine = _workday(rows, a, day)
        lo, _ = _shift_window(a.role)
        t0 = day * 24 * _US_HOUR + int((lo + 3) * _US_HOUR)
        times = sorted(t0 + rng.randrange(0, 30 * _US_MIN) for _ in range(8))
        for t in times:
            rows.add(t, a, "read", "patient_record", rng.choice(mine[:3]), "denied",
                     session=_session(rng))
        labels.append(_label("failed_access_burst", a.actor_id, start, day,
                             times[0], times[-1], "8 denied reads within 30 minutes"))

    def midnight_burst(rows, a, day, spec, labels):
        _workday(rows, a, day)
        base = day * 24 * _US_HOUR
        times = sorted([base + int(22.2 * _US_HOUR) + rng.randrange(0, 90 * _US_MIN)
                        for _ in range(4)]
                       + [base + int(24.2 * _US_HOUR) + rng.randrange(0, 80 * _US_MIN)
                          for _ in range(3)])
        for t in times:
            rows.add(t, a, "login", "user", a.actor_id, "failure")
        labels.append(_label("failed_access_burst", a.actor_id, start, day,
                             times[0], times[-1],
                             "7 failed logins across midnight (4 + 3: no calendar day > 5)"))

    def off_hours(rows, a, day, spec, labels):
        mine = _workday(rows, a, day)
        hour = spec["hour"]
        base = day * 24 * _US_HOUR + int(hour * _US_HOUR)
        times = sorted(base + rng.randrange(0, 40 * _US_MIN) for _ in range(5))
        rtype = "invoice" if a.role == "billing" else "patient_record"
        for t in times:
            rows.add(t, a, "read", rtype, rng.choice(mine), session=_session(rng))
        labels.append(_label("off_hours_access", a.actor_id, start, day,
                             times[0], times[-1], f"a day worker active at {hour:02d}h local"))

    def log_reader(rows, a, day, spec, labels):
        _workday(rows, a, day)
        lo, _ = _shift_window(a.role)
        base = day * 24 * _US_HOUR + int((lo + 2) * _US_HOUR)
        times = sorted(base + rng.randrange(0, 60 * _US_MIN) for _ in range(2))
        for t in times:
            rows.add(t, a, "view_audit_log", "audit_log", "audit_logs", session=_session(rng))
        labels.append(_label("log_access", a.actor_id, start, day, times[0],
                             times[-1], "a nurse read the audit log"))

    for role, fn in (("doctor", volume), ("billing", volume), ("day_nurse", snoop),
                     ("doctor", snoop), ("billing", bulk), ("doctor", bulk),
                     ("day_nurse", denied_burst), ("night_nurse", midnight_burst),
                     ("day_nurse", log_reader)):
        a, day = pick(role)
        plan[(a.actor_id, day)] = {"apply": fn}
    a, day = pick("doctor", weekday=True)
    plan[(a.actor_id, day)] = {"apply": off_hours, "hour": 2}
    a, day = pick("billing", weekday=True)
    plan[(a.actor_id, day)] = {"apply": off_hours, "hour": 22}
    return plan


def _extra_injections(rows: _Rows, actors: dict[str, _Actor], rng: random.Random, days: int,
                      labels: list[dict], plan: dict) -> None:
    """Anomalies not tied to one actor's shift: anonymous attempts, bad field values."""
    day = 12
    base = day * 24 * _US_HOUR + 14 * _US_HOUR
    ip = "203.0.113.77"
    times = sorted(base + rng.randrange(0, 10 * _US_MIN) for _ in range(10))
    for t in times:
        rows.add(t, None, "login", "user", None, "failure", actor_id=None,
                 actor_type="anonymous", ip=ip, agent="curl/8.4.0")
    labels.append({"check": "failed_access_burst", "actor_id": f"ip:{ip}",
                   "day": None, "_lo": times[0], "_hi": times[-1],
                   "what": "10 anonymous failed logins from one IP in 10 minutes"})
    labels.append({"check": "required_fields", "field": "actor_id", "problem": "missing",
                   "what": "anonymous login attempts without an actor"})
    labels.append({"check": "required_fields", "field": "actor_type",
                   "problem": "outside_allowed_set", "what": "actor_type 'anonymous'"})
    labels.append({"check": "required_fields", "field": "resource_id", "problem": "missing",
                   "what": "anonymous login attempts name no account"})
    sync = actors["svc-ehr-sync"]
    for k in range(2):
        rows.add(base + (k + 1) * _US_HOUR, sync, "update", "patient_record",
                 rng.choice(sync.panel), "error")
    labels.append({"check": "required_fields", "field": "result",
                   "problem": "outside_allowed_set", "what": "result 'error'"})
    nurse = actors["rn-002"]
    for k, bad_ip in enumerate(("not-an-ip", "999.12.1.4")):
        rows.add(base + (k + 3) * _US_HOUR, nurse, "read", "patient_record",
                 rng.choice(nurse.panel), ip=bad_ip, actor_type="user")
    labels.append({"check": "required_fields", "field": "ip_address", "problem": "invalid_ip",
                   "what": "unparsable IP addresses"})
    rows.add(base + 5 * _US_HOUR, sync, "", "patient_record", rng.choice(sync.panel))
    labels.append({"check": "required_fields", "field": "action", "problem": "missing",
                   "what": "an empty action"})


def _to_table(rows: _Rows, start: date, tz: str) -> tuple[pa.Table, np.ndarray]:
    """Sorted by time, local times localised to ``tz`` and stored in UTC."""
    local = np.asarray(rows.local_us, dtype=np.int64)
    order = np.argsort(local, kind="stable")
    local = local[order]
    origin = np.datetime64(datetime.combine(start, datetime.min.time()), "us")
    naive = pd.DatetimeIndex(origin + local.astype("timedelta64[us]"))
    utc = naive.tz_localize(tz, nonexistent="shift_forward",
                            ambiguous=np.zeros(len(naive), dtype=bool)).tz_convert("UTC")
    cols = {"id": pa.array(_uuids(rows.rng, len(local))),
            "timestamp": pa.array(utc.as_unit("us"), SCHEMA.field("timestamp").type)}
    take = pa.array(order)
    for name in SCHEMA.names[2:]:
        cols[name] = pa.array(rows.cols[name], pa.string()).take(take)
    # keep chain order == time order (tz shifts never reorder within a zone)
    table = pa.table(cols, schema=SCHEMA)
    return table, local


def _uuids(rng: random.Random, n: int) -> list[str]:
    """``n`` version-4 UUID texts drawn from ``rng``."""
    h = rng.randbytes(16 * n).hex()
    out = []
    for i in range(0, 32 * n, 32):
        s = h[i:i + 32]
        out.append(f"{s[:8]}-{s[8:12]}-4{s[13:16]}-{'89ab'[int(s[16], 16) & 3]}{s[17:20]}-"
                   f"{s[20:]}")
    return out


def chain_table(table: pa.Table) -> pa.Table:
    """Append ``prev_hash`` and ``hash``: one python-seed chain in row order.

    The texts come from the package's native canonical renderer (identical to
    ``json.dumps(entry, sort_keys=True)`` of the seed's eight fields); the chain itself is
    sequential, one ``hashlib.sha256`` per row.
    """
    return chain_table_from(table, GENESIS)[0]


def chain_table_from(table: pa.Table, prev: str) -> tuple[pa.Table, str]:
    """Like :func:`chain_table`, continuing a chain whose last hash is ``prev``.

    Returns the chained table and its last hash (to chain the next chunk).
    """
    profile = BUILTIN_PROFILES["python-seed"]
    n = table.num_rows
    hashed = {name: table.column(name).combine_chunks() for name in table.column_names}
    hashed["prev_hash"] = pa.array([""] * n, pa.string())
    texts = kernel.canonical_texts(profile, [hashed[f] for f in profile.ordered_fields])
    marker = b'"prev_hash": ""'
    prevs, hashes = [], []
    for text in texts:
        head, tail = text.split(marker)
        prevs.append(prev)
        prev = hashlib.sha256(head + b'"prev_hash": "' + prev.encode() + b'"' + tail).hexdigest()
        hashes.append(prev)
    chained = table.append_column("prev_hash", pa.array(prevs)).append_column(
        "hash", pa.array(hashes))
    return chained, prev


def month_policy(tz: str = DEFAULT_TZ, start: date = DEFAULT_START) -> dict:
    """The policy the generated month is meant to be checked with (as a dict)."""
    return {
        "name": "sample-hospital",
        "timezone": tz,
        "business_hours": {"start": "07:00", "end": "19:00",
                           "weekdays": ["mon", "tue", "wed", "thu", "fri"]},
        "retention": {"regime": "hipaa", "logging_started": start},
        "thresholds": {"log_access": {"allowed_actors": ["adm-*"],
                                      "allowed_actor_types": ["system"]}},
    }
