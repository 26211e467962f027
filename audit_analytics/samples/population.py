"""The people and machines of the generated hospital month, and their ordinary days.

Used by :mod:`.activity` (the month) and :mod:`.anomalies` (what is injected into it).
Times are local microseconds since the month's first local midnight; :func:`to_table`
localises them to the hospital's time zone and stores UTC.

Who works when (local time):

* doctors ``md-NNN``: weekdays 08:00-18:00, their own panel of patients;
* day nurses ``rn-NNN``: 12-hour shifts 07:00-19:00 on any day of the week, weekends too;
* night nurses ``rn-NNN``: 19:00-07:00 shifts (spanning midnight);
* billing clerks ``bill-NN``: weekdays 09:00-17:00, invoices, a few exports a day;
* administrators ``adm-NN`` (actor_type ``admin``): weekdays, user management, they read
  the audit log;
* new starters: about one clinician in twenty joins during the month, and works at half
  pace for their first three days;
* ``kiosk-ed-01``: the emergency department's shared badge kiosk, around the clock, with
  about 8 mistyped badge logins a day (often retried within a minute);
* ``svc-fax-gateway``: sends faxes around the clock, and a job with a stale credential is
  denied every three hours or so, every day (a standing problem, not a burst);
* ``svc-ehr-sync``: a 24/7 service account syncing patient records every ~2 minutes;
* ``svc-backup``: nightly exports at about 02:00;
* ``system``: hourly housekeeping and a nightly read of the audit log.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from .events import REASONS_DENIED, REASONS_FAILURE, SERVICE_AGENTS, USER_AGENTS

__all__ = ["RAMP_DAYS", "SCHEMA", "US_HOUR", "US_MIN", "Actor", "Rows", "new_session", "roster",
           "services", "shift_times", "shift_window", "to_table", "workday"]

US_HOUR = 3_600_000_000
US_MIN = 60_000_000
#: Days a new starter works at half pace.
RAMP_DAYS = 3

SCHEMA = pa.schema([
    ("id", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")),
    ("actor_id", pa.string()), ("actor_type", pa.string()), ("action", pa.string()),
    ("resource_type", pa.string()), ("resource_id", pa.string()), ("result", pa.string()),
    ("ip_address", pa.string()), ("user_agent", pa.string()), ("session_id", pa.string()),
    ("changed_fields", pa.string()), ("old_values", pa.string()), ("reason", pa.string()),
])


@dataclass
class Actor:
    """One person or machine: role, address, panel of resources, pace and working days."""

    actor_id: str
    role: str
    ip: str
    agent: str
    panel: list[str]
    rate: float  # mean events per shift / day
    days: list[int]  # day offsets the actor works (shift start day)
    start_day: int = 0  # first day of a new starter (0: worked here before the month)


_UPDATED = {"patient_record": ("diagnosis", "status"), "invoice": ("amount", "status"),
            "user": ("mfa_enabled", "role")}
_CHANGED = {f: json.dumps(list(f)) for f in [*_UPDATED.values(), ("note",)]}


class Rows:
    """Column lists of the generated events; local times as microseconds."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.cols: dict[str, list] = {name: [] for name in SCHEMA.names
                                      if name not in ("id", "timestamp")}
        self.local_us: list[int] = []

    def add(self, local_us: int, actor: Actor | None, action: str, rtype: str, rid: str | None,
            result: str = "success", *, actor_id: str | None = None,
            actor_type: str | None = None, ip: str | None = None, session: str | None = None,
            agent: str | None = None) -> None:
        """Append one event at local time ``local_us`` (µs since the month's start)."""
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


def _actor_type(actor: Actor | None) -> str:
    if actor is None:
        return "anonymous"
    return {"service": "service", "gateway": "service", "system": "system",
            "admin": "admin"}.get(actor.role, "user")


def roster(rng: random.Random, days: int, start: date, scale: float) -> list[Actor]:
    """Everyone who acts during the month, with the days each of them works."""
    wards = [[f"MRN-{w * 1000 + k:05d}" for k in range(1, 601)] for w in range(20)]

    def ip() -> str:
        if rng.random() < 0.15:
            return f"2001:db8:{rng.randint(1, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"
        return f"10.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"

    weekdays = [d for d in range(days) if (start + timedelta(d)).weekday() < 5]
    actors: list[Actor] = []

    def shifts() -> list[int]:  # 3-4 shifts a week, any day
        return sorted(d for d in range(days) if rng.random() < 0.5)

    def n(k: int) -> int:
        return max(2, round(k * scale))

    for i in range(1, n(40) + 1):
        ward = wards[rng.randrange(20)]
        actors.append(Actor(f"md-{i:03d}", "doctor", ip(), rng.choice(USER_AGENTS),
                             rng.sample(ward, 40), rng.uniform(30, 50),
                             [d for d in weekdays if rng.random() < 0.9]))
    for i in range(1, n(80) + 1):
        ward = wards[rng.randrange(20)]
        actors.append(Actor(f"rn-{i:03d}", "day_nurse", ip(), rng.choice(USER_AGENTS),
                             rng.sample(ward, 25), rng.uniform(25, 45), shifts()))
    for i in range(n(80) + 1, n(80) + n(30) + 1):
        ward = wards[rng.randrange(20)]
        actors.append(Actor(f"rn-{i:03d}", "night_nurse", ip(), rng.choice(USER_AGENTS),
                             rng.sample(ward, 25), rng.uniform(15, 25), shifts()))
    invoices = [f"INV-{k:06d}" for k in range(1, 30001)]
    for i in range(1, n(20) + 1):
        actors.append(Actor(f"bill-{i:02d}", "billing", ip(), rng.choice(USER_AGENTS),
                             invoices, rng.uniform(35, 55),
                             [d for d in weekdays if rng.random() < 0.92]))
    users = [a.actor_id for a in actors]
    for i in range(1, 7):
        actors.append(Actor(f"adm-{i:02d}", "admin", ip(), rng.choice(USER_AGENTS),
                             users, rng.uniform(15, 25),
                             [d for d in weekdays if rng.random() < 0.9]))
    starters = [a for a in actors if rng.random() < 0.05]
    for a in starters:  # joined during the month
        a.start_day = rng.randrange(days // 2, days - 2)
        a.days = [d for d in a.days if d >= a.start_day] or [a.start_day]
    all_patients = [p for w in wards for p in w]
    actors.append(Actor("kiosk-ed-01", "kiosk", "10.9.0.21", USER_AGENTS[3],
                        [a.actor_id for a in actors if a.role != "admin"], 130.0,
                        list(range(days))))
    actors.append(Actor("svc-fax-gateway", "gateway", "172.16.0.14", SERVICE_AGENTS[1],
                        [], 90.0, list(range(days))))
    actors.append(Actor("svc-ehr-sync", "service", "172.16.0.10", SERVICE_AGENTS[2],
                         all_patients, 30.0, list(range(days))))
    actors.append(Actor("svc-backup", "service", "172.16.0.12", SERVICE_AGENTS[0],
                         [], 20.0, list(range(days))))
    actors.append(Actor("system", "system", "127.0.0.1", "", [], 24.0, list(range(days))))
    return actors


def shift_window(role: str) -> tuple[int, int]:
    """Shift start and end, in hours from the shift day's local midnight."""
    return {"doctor": (8, 18), "day_nurse": (7, 19), "night_nurse": (19, 31),
            "billing": (9, 17), "admin": (8, 18)}[role]


def shift_times(rng: random.Random, day: int, lo_h: float, hi_h: float, k: int) -> list[int]:
    """``k`` sorted local times (µs since the month's local midnight) in [lo_h, hi_h)."""
    base = day * 24 * US_HOUR
    lo, hi = int(lo_h * US_HOUR) + 5 * US_MIN, int(hi_h * US_HOUR) - 5 * US_MIN
    return sorted(base + rng.randrange(lo, hi) for _ in range(k))


def new_session(rng: random.Random) -> str:
    """A fresh session id drawn from ``rng``."""
    return "sess-" + f"{rng.getrandbits(64):016x}"


def workday(rows: Rows, a: Actor, day: int, *, factor: float = 1.0,
             patients: list[str] | None = None, exports: int | None = None,
             window: tuple[float, float] | None = None, count: int | None = None) -> list[str]:
    """One actor's ordinary shift; returns the resources it touched."""
    rng = rows.rng
    lo, hi = window or shift_window(a.role)
    if a.start_day and day < a.start_day + RAMP_DAYS:
        factor *= 0.5  # a new starter's first days
    k = count if count is not None else max(3, round(rng.gauss(a.rate, 0.12 * a.rate) * factor))
    session = new_session(rng)
    times = shift_times(rng, day, lo, hi, k)
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


def services(rows: Rows, actors: dict[str, Actor], days: int) -> None:
    """The round-the-clock actors: kiosk, fax gateway, record sync, backup, system."""
    rng = rows.rng
    _kiosk(rows, actors["kiosk-ed-01"], days)
    _fax_gateway(rows, actors["svc-fax-gateway"], days)
    sync, backup, system = actors["svc-ehr-sync"], actors["svc-backup"], actors["system"]
    session = new_session(rng)
    t = rng.randrange(0, 120_000_000)
    end = days * 24 * US_HOUR
    while t < end:  # every ~2 minutes, around the clock
        action = "read" if rng.random() < 0.75 else "update"
        rows.add(t, sync, action, "patient_record", rng.choice(sync.panel), session=session)
        t += int(rng.expovariate(1 / 120) * 1e6) + 1
    for day in range(days):
        for t in shift_times(rng, day, 2.0, 2.6, rng.randint(18, 22)):
            rows.add(t, backup, "export", "report", f"backup-{day:02d}-{rng.randint(1, 40):02d}",
                     session=new_session(rng))
        for hour in range(24):
            t = day * 24 * US_HOUR + hour * US_HOUR + rng.randrange(0, 4 * US_MIN)
            rows.add(t, system, "update", "report", "housekeeping", ip="127.0.0.1")
        t = day * 24 * US_HOUR + 3 * US_HOUR + rng.randrange(10 * US_MIN, 20 * US_MIN)
        rows.add(t, system, "view_audit_log", "audit_log", "audit_logs", ip="127.0.0.1")



def _kiosk(rows: Rows, kiosk: Actor, days: int) -> None:
    """Badge logins around the clock (busier by day); ~5 % mistyped, usually retried."""
    rng = rows.rng
    t = rng.randrange(0, 10 * US_MIN)
    end = days * 24 * US_HOUR
    while t < end:
        hour = (t // US_HOUR) % 24
        staff = rng.choice(kiosk.panel)
        session = new_session(rng)
        tries = 0
        while rng.random() < (0.045 if tries == 0 else 0.25):  # mistyped, then retried
            rows.add(t, kiosk, "login", "user", staff, "failure", session=session)
            t += rng.randrange(15, 90) * 1_000_000
            tries += 1
        rows.add(t, kiosk, "login", "user", staff, session=session)
        t += rng.randrange(5, 60) * 1_000_000
        patient = f"MRN-{rng.randrange(20) * 1000 + rng.randint(1, 600):05d}"
        rows.add(t, kiosk, "read", "patient_record", patient, session=session)
        gap = 420 if 7 <= hour < 23 else 1500  # seconds between badge-ins, by day and night
        t += int(rng.expovariate(1 / gap) * 1e6) + 1


def _fax_gateway(rows: Rows, gateway: Actor, days: int) -> None:
    """Faxes all day and night; a stale credential denied every ~3 hours, every day."""
    rng = rows.rng
    end = days * 24 * US_HOUR
    t = rng.randrange(0, 10 * US_MIN)
    while t < end:
        hour = (t // US_HOUR) % 24
        rows.add(t, gateway, "create", "fax", f"FAX-{rng.randrange(10**6):06d}")
        t += int(rng.expovariate(1 / (600 if 7 <= hour < 19 else 2400)) * 1e6) + 1
    t = rng.randrange(0, 3 * US_HOUR)
    while t < end:
        rows.add(t, gateway, "login", "integration", "fax-relay-legacy", "denied")
        t += 3 * US_HOUR + rng.randrange(-20 * US_MIN, 20 * US_MIN)


def to_table(rows: Rows, start: date, tz: str) -> tuple[pa.Table, np.ndarray]:
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

