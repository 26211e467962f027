"""Deterministic generator of plausible audit events (no hashes yet).

The events look like those of a hospital / SaaS application: users ``u-0001``..,
service accounts, a system actor and anonymous callers; reads, writes, exports,
logins and reads of the audit log itself. A few events carry text that exercises
both producers' JSON escaping (non-ASCII, an astral character, quotes, backslashes,
control characters, U+2028, DEL) in hashed and unhashed fields.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

#: Event-schema columns, in order (``prev_hash`` and ``hash`` are added by a producer).
COLUMNS = (
    "id",
    "timestamp",
    "actor_id",
    "actor_type",
    "action",
    "resource_type",
    "resource_id",
    "result",
    "ip_address",
    "user_agent",
    "session_id",
    "changed_fields",
    "old_values",
    "reason",
    "prev_hash",
    "hash",
)
#: The columns an event has before it is chained.
EVENT_COLUMNS = COLUMNS[:-2]

DEFAULT_START = datetime(2024, 1, 15, 8, 0, 0, 250_000, tzinfo=UTC)

ACTIONS = ("read", "create", "update", "delete", "export", "login", "logout", "view_audit_log")
RESOURCE_TYPES = ("patient_record", "invoice", "user", "report", "audit_log")
SERVICES = ("svc-billing", "svc-etl", "svc-backup", "svc-scheduler")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "EHRClient/3.2 (iPad; iOS 17.1)",
)
SERVICE_AGENTS = ("python-requests/2.31.0", "node-fetch/3.3.2", "audit-etl/1.4")
REASONS_DENIED = (
    "insufficient role",
    "break-glass not approved",
    "outside care team",
    "IP not in allow-list",
)
REASONS_FAILURE = ("validation error", "record locked", "timeout", "invalid credentials")
UPDATABLE = {
    "patient_record": ("diagnosis", "status", "attending"),
    "invoice": ("amount", "status", "due_date"),
    "user": ("role", "email", "mfa_enabled"),
    "report": ("title", "schedule"),
    "audit_log": ("retention_days",),
}

#: Awkward text for hashed (actor_id, resource_id) and unhashed fields. Each entry is
#: (resource_id, actor_id or None to keep the generated one, reason, user_agent).
SPECIAL_TEXTS = (
    ("patient/José-Müller", "u-josé", "révision demandée", None),
    ("report/季度报告-中文", None, "中文原因", "Mozilla/5.0 中文浏览器"),
    ("note/😀-smile", None, "emoji 😀 in reason", None),
    ('invoice/"Q1" final', None, 'said "no"', 'agent "quoted"'),
    ("path\\with\\backslashes", None, "C:\\temp\\x", None),
    ("tab\there\nnew line\rcr", None, "tab\tand\nnewline", "ua\twith\ttabs"),
    ("ctrl\x01\x07\x08\x0c\x1b\x1f-end", None, "bell\x07", None),
    ("line\u2028sep\u2029para", None, "u2028\u2028here", None),
    ("del\x7fchar", "u-del\x7f", "DEL\x7f", None),
    ("slash/</script>&amp;", None, None, None),
)


def new_uuid(rng: random.Random) -> str:
    """Return a version-4 UUID text drawn from ``rng`` (deterministic)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class _Population:
    """Actors, their IPs, agents and sessions, drawn once per generator."""

    def __init__(self, rng: random.Random, n_users: int = 40) -> None:
        self.users = [f"u-{i:04d}" for i in range(1, n_users + 1)]
        self.user_ip = {
            u: (
                f"10.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
                if rng.random() < 0.85
                else f"2001:db8:{rng.randint(0, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"
            )
            for u in self.users
        }
        self.user_agent = {u: rng.choice(USER_AGENTS) for u in self.users}
        self.service_ip = {s: f"172.16.0.{10 + i}" for i, s in enumerate(SERVICES)}
        self.sessions: dict[str, str] = {}

    def session(self, rng: random.Random, actor: str, renew: bool = False) -> str:
        if renew or actor not in self.sessions:
            self.sessions[actor] = "sess-" + f"{rng.getrandbits(64):016x}"
        return self.sessions[actor]


def random_event(
    rng: random.Random, timestamp: datetime, population: _Population | None = None
) -> dict:
    """Return one plausible event at ``timestamp`` (all event columns, no hash).

    Parameters
    ----------
    rng
        The random source (determinism comes from its seed).
    timestamp
        A timezone-aware UTC datetime.
    population
        Actors to draw from; a fresh one from ``rng`` when omitted.
    """
    pop = population or _Population(rng)
    roll = rng.random()
    if roll < 0.78:
        actor_type, actor = "user", rng.choice(pop.users)
    elif roll < 0.93:
        actor_type, actor = "service", rng.choice(SERVICES)
    elif roll < 0.97:
        actor_type, actor = "system", "system"
    else:
        actor_type, actor = "anonymous", None

    if actor_type == "anonymous":
        action = "login"
    elif actor_type == "system":
        action = rng.choice(("update", "delete", "export", "view_audit_log"))
    elif actor_type == "service":
        action = rng.choices(("read", "create", "update", "export"), (4, 2, 2, 1))[0]
    else:
        action = rng.choices(ACTIONS, (40, 8, 12, 2, 3, 6, 5, 1))[0]

    if action in ("login", "logout"):
        resource_type = "user"
    elif action == "view_audit_log":
        resource_type = "audit_log"
    else:
        resource_type = rng.choices(RESOURCE_TYPES[:4], (6, 2, 1, 1))[0]
    if resource_type == "user":
        resource_id = actor if action in ("login", "logout") and actor else rng.choice(pop.users)
    elif resource_type == "audit_log":
        resource_id = "audit_logs"
    else:
        prefix = {"patient_record": "MRN", "invoice": "INV", "report": "RPT"}[resource_type]
        resource_id = f"{prefix}-{rng.randint(1, 99999):05d}"

    if actor_type == "anonymous":
        result = rng.choices(("failure", "denied", "success"), (6, 3, 1))[0]
    else:
        result = rng.choices(("success", "failure", "denied"), (92, 4, 4))[0]

    if actor_type == "user":
        ip = pop.user_ip[actor]
        agent = pop.user_agent[actor]
        session = pop.session(rng, actor, renew=action == "login")
    elif actor_type == "service":
        ip = pop.service_ip[actor]
        agent = rng.choice(SERVICE_AGENTS)
        session = pop.session(rng, actor, renew=rng.random() < 0.02)
    elif actor_type == "system":
        ip, agent, session = "127.0.0.1", None, None
    else:
        ip = f"203.0.113.{rng.randint(1, 254)}"
        agent = rng.choice(USER_AGENTS + ("curl/8.4.0",))
        session = None

    changed = old = None
    if action == "update" and result == "success":
        fields = rng.sample(UPDATABLE[resource_type], k=min(2, len(UPDATABLE[resource_type])))
        changed = json.dumps(fields)
        old = json.dumps({f: f"old-{rng.randint(1, 999)}" for f in fields}, sort_keys=True)
    reason = None
    if result == "denied":
        reason = rng.choice(REASONS_DENIED)
    elif result == "failure":
        reason = rng.choice(REASONS_FAILURE)

    return {
        "id": new_uuid(rng),
        "timestamp": timestamp,
        "actor_id": actor,
        "actor_type": actor_type,
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "result": result,
        "ip_address": ip,
        "user_agent": agent,
        "session_id": session,
        "changed_fields": changed,
        "old_values": old,
        "reason": reason,
    }


def _special(event: dict, k: int) -> dict:
    resource_id, actor_id, reason, agent = SPECIAL_TEXTS[k % len(SPECIAL_TEXTS)]
    event["resource_id"] = resource_id
    if actor_id is not None:
        event["actor_id"], event["actor_type"] = actor_id, "user"
    event["reason"] = reason
    if agent is not None:
        event["user_agent"] = agent
    if k % 2 == 0:
        event["changed_fields"] = json.dumps(["note"])
        event["old_values"] = json.dumps({"note": resource_id})  # ASCII-escaped JSON text
    return event


def generate_events(
    n: int,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    mean_gap_seconds: float = 240.0,
) -> list[dict]:
    """Return ``n`` plausible events in time order (non-decreasing timestamps).

    Deterministic for a given ``seed``. Timestamps are timezone-aware UTC datetimes
    with microseconds; about 3 % repeat the previous event's timestamp exactly and
    about 3 % fall on a whole second (microsecond 0). Every 37th event (from the 6th)
    carries one of :data:`SPECIAL_TEXTS`.

    Parameters
    ----------
    n
        Number of events.
    seed
        Seed of the ``random.Random`` that drives everything.
    start
        Timestamp of the first event (timezone-aware).
    mean_gap_seconds
        Mean of the exponential gap between consecutive events.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware (UTC)")
    rng = random.Random(seed)
    pop = _Population(rng)
    events: list[dict] = []
    ts = start.astimezone(UTC)
    for i in range(n):
        if i:
            roll = rng.random()
            if roll < 0.03:
                pass  # same timestamp as the previous event
            else:
                ts = ts + timedelta(
                    microseconds=max(1, int(rng.expovariate(1.0 / mean_gap_seconds) * 1e6))
                )
                if roll < 0.06 and ts.microsecond:
                    ts = (ts + timedelta(seconds=1)).replace(microsecond=0)
        event = random_event(rng, ts, pop)
        if i % 37 == 5:
            _special(event, i // 37)
        events.append(event)
    return events
