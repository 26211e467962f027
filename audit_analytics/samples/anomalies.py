"""The anomalies injected into the generated month, each with a label.

A label says which check should flag it, for which actor and window (UTC ISO text),
and what it is; ``failed_access_burst`` labels also carry the finding ``kind`` (``burst``
or ``persistent_failures``), required-field labels ``field`` and ``problem``. Labels of
conditions present in every month (the fax gateway's stale credential) carry
``standing: True``.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import pandas as pd

from .population import US_HOUR, US_MIN, Actor, Rows, new_session, shift_window, workday

__all__ = ["extra_injections", "finish_label", "label", "pick_day", "plan_injections",
           "standing_labels"]

def pick_day(rng: random.Random, days: int, start: date, *, weekday: bool, avoid: set) -> int:
    """A day after the first week, not in ``avoid`` (and added to it), of the given kind."""
    while True:
        d = rng.randrange(7, days - 2)  # leave a week of history first
        if d in avoid or ((start + timedelta(d)).weekday() < 5) != weekday:
            continue
        avoid.add(d)
        return d


def label(check: str, actor_id: str | None, start: date, day: int, lo_us: int, hi_us: int,
          what: str, **extra) -> dict:
    """A label with its window in local microseconds (see :func:`finish_label`)."""
    return {"check": check, "actor_id": actor_id, "day": (start + timedelta(day)).isoformat(),
            "_lo": lo_us, "_hi": hi_us, "what": what, **extra}


def standing_labels(start: date, days: int) -> list[dict]:
    """Conditions of every generated month, clean or not: the stale fax credential."""
    return [{"check": "failed_access_burst", "kind": "persistent_failures",
             "actor_id": "svc-fax-gateway", "day": None, "_lo": 0, "_hi": days * 24 * US_HOUR,
             "standing": True,
             "what": "a stale credential denied every ~3 hours, every day"}]


def finish_label(raw: dict, start: date, tz: str) -> dict:
    """The label as published: UTC ISO window, private keys dropped."""
    out = {k: v for k, v in raw.items() if not k.startswith("_")}
    if "_lo" in raw:
        origin = pd.Timestamp(start)
        lo = (origin + pd.Timedelta(microseconds=raw["_lo"])).tz_localize(
            tz, nonexistent="shift_forward", ambiguous=False).tz_convert("UTC")
        hi = (origin + pd.Timedelta(microseconds=raw["_hi"])).tz_localize(
            tz, nonexistent="shift_forward", ambiguous=False).tz_convert("UTC")
        out["window_start"], out["window_end"] = lo.isoformat(), hi.isoformat()
    return out


def plan_injections(rng: random.Random, roster: list[Actor], days: int,
                    start: date) -> dict[tuple[str, int], dict]:
    """(actor, day) -> how that day is replaced by an anomaly."""
    plan: dict[tuple[str, int], dict] = {}
    used: set[str] = set()

    def pick(role: str, *, weekday: bool | None = None) -> tuple[Actor, int]:
        while True:
            a = rng.choice([x for x in roster if x.role == role and x.actor_id not in used
                            and not x.start_day])  # a new starter has no baseline yet
            choices = [d for d in a.days if 7 <= d < days - 1 and (
                weekday is None or ((start + timedelta(d)).weekday() < 5) == weekday)]
            if choices:
                used.add(a.actor_id)
                return a, rng.choice(choices)

    def volume(rows, a, day, spec, labels):
        workday(rows, a, day, factor=4.0)
        labels.append(label("volume_spike", a.actor_id, start, day,
                             day * 24 * US_HOUR, (day + 1) * 24 * US_HOUR,
                             "four times the actor's usual daily volume"))

    def snoop(rows, a, day, spec, labels):
        # as many events as a usual day, but 43 patients outside the actor's own panel
        strangers = rng.sample(range(12000), 43)
        patients = [f"MRN-{(k // 600) * 1000 + k % 600 + 1:05d}" for k in strangers]
        patients = [p for p in patients if p not in a.panel] or patients
        workday(rows, a, day, patients=patients, count=44)
        labels.append(label("broad_access", a.actor_id, start, day,
                             day * 24 * US_HOUR, (day + 1) * 24 * US_HOUR,
                             "43 distinct patients outside the actor's panel"))

    def bulk(rows, a, day, spec, labels):
        workday(rows, a, day, exports=35, count=max(40, round(a.rate)))
        labels.append(label("bulk_export", a.actor_id, start, day,
                             day * 24 * US_HOUR, (day + 1) * 24 * US_HOUR,
                             "35 exports in one day"))

    def denied_burst(rows, a, day, spec, labels):
        mine = workday(rows, a, day)
        lo, _ = shift_window(a.role)
        t0 = day * 24 * US_HOUR + int((lo + 3) * US_HOUR)
        times = sorted(t0 + rng.randrange(0, 6 * US_MIN) for _ in range(12))
        for t in times:
            rows.add(t, a, "read", "patient_record", rng.choice(mine[:3]), "denied",
                     session=new_session(rng))
        labels.append(label("failed_access_burst", a.actor_id, start, day,
                            times[0], times[-1], "12 denied reads within 6 minutes",
                            kind="burst"))

    def midnight_burst(rows, a, day, spec, labels):
        workday(rows, a, day)
        base = (day + 1) * 24 * US_HOUR  # local midnight inside the night shift
        times = sorted([base - rng.randrange(1, 9 * US_MIN) for _ in range(5)]
                       + [base + rng.randrange(0, 5 * US_MIN) for _ in range(4)])
        for t in times:
            rows.add(t, a, "login", "user", a.actor_id, "failure")
        labels.append(label("failed_access_burst", a.actor_id, start, day,
                            times[0], times[-1],
                            "9 failed logins across midnight (5 + 4: no calendar day > 5)",
                            kind="burst"))

    def off_hours(rows, a, day, spec, labels):
        mine = workday(rows, a, day)
        hour = spec["hour"]
        base = day * 24 * US_HOUR + int(hour * US_HOUR)
        times = sorted(base + rng.randrange(0, 40 * US_MIN) for _ in range(5))
        rtype = "invoice" if a.role == "billing" else "patient_record"
        for t in times:
            rows.add(t, a, "read", rtype, rng.choice(mine), session=new_session(rng))
        labels.append(label("off_hours_access", a.actor_id, start, day,
                             times[0], times[-1], f"a day worker active at {hour:02d}h local"))

    def log_reader(rows, a, day, spec, labels):
        workday(rows, a, day)
        lo, _ = shift_window(a.role)
        base = day * 24 * US_HOUR + int((lo + 2) * US_HOUR)
        times = sorted(base + rng.randrange(0, 60 * US_MIN) for _ in range(2))
        for t in times:
            rows.add(t, a, "view_audit_log", "audit_log", "audit_logs", session=new_session(rng))
        labels.append(label("log_access", a.actor_id, start, day, times[0],
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


def extra_injections(rows: Rows, actors: dict[str, Actor], rng: random.Random, days: int,
                     labels: list[dict], plan: dict) -> None:
    """Anomalies not tied to one actor's shift: anonymous attempts, bad field values."""
    day = 12
    base = day * 24 * US_HOUR + 14 * US_HOUR
    ip = "203.0.113.77"
    times = sorted(base + rng.randrange(0, 10 * US_MIN) for _ in range(10))
    for t in times:
        rows.add(t, None, "login", "user", None, "failure", actor_id=None,
                 actor_type="anonymous", ip=ip, agent="curl/8.4.0")
    labels.append({"check": "failed_access_burst", "kind": "burst", "actor_id": f"ip:{ip}",
                   "day": None, "_lo": times[0], "_hi": times[-1],
                   "what": "10 anonymous failed logins from one IP in 10 minutes"})
    # badges tried one after another at the shared kiosk, far above its usual mistypes
    kiosk = actors["kiosk-ed-01"]
    t0 = (day + 6) * 24 * US_HOUR + 3 * US_HOUR + 10 * US_MIN
    times = sorted(t0 + rng.randrange(0, 8 * US_MIN) for _ in range(25))
    for t in times:
        rows.add(t, kiosk, "login", "user", rng.choice(kiosk.panel), "failure")
    labels.append({"check": "failed_access_burst", "kind": "burst", "actor_id": kiosk.actor_id,
                   "day": None, "_lo": times[0], "_hi": times[-1],
                   "what": "25 failed badge logins at the kiosk within 8 minutes"})
    labels.append({"check": "required_fields", "field": "actor_id", "problem": "missing",
                   "what": "anonymous login attempts without an actor"})
    labels.append({"check": "required_fields", "field": "actor_type",
                   "problem": "outside_allowed_set", "what": "actor_type 'anonymous'"})
    labels.append({"check": "required_fields", "field": "resource_id", "problem": "missing",
                   "what": "anonymous login attempts name no account"})
    sync = actors["svc-ehr-sync"]
    for k in range(2):
        rows.add(base + (k + 1) * US_HOUR, sync, "update", "patient_record",
                 rng.choice(sync.panel), "error")
    labels.append({"check": "required_fields", "field": "result",
                   "problem": "outside_allowed_set", "what": "result 'error'"})
    nurse = actors["rn-002"]
    for k, bad_ip in enumerate(("not-an-ip", "999.12.1.4")):
        rows.add(base + (k + 3) * US_HOUR, nurse, "read", "patient_record",
                 rng.choice(nurse.panel), ip=bad_ip, actor_type="user")
    labels.append({"check": "required_fields", "field": "ip_address", "problem": "invalid_ip",
                   "what": "unparsable IP addresses"})
    rows.add(base + 5 * US_HOUR, sync, "", "patient_record", rng.choice(sync.panel))
    labels.append({"check": "required_fields", "field": "action", "problem": "missing",
                   "what": "an empty action"})

