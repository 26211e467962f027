"""A realistic month of hospital activity, with labelled injected anomalies.

``generate_month(seed=7)`` returns ``(events, labels)``: a pyarrow Table in the event
schema, chained with python-seed hashes, and one label per anomaly (which check should
flag it, for which actor and window). ``clean=True`` injects nothing; its labels are then
only the standing conditions every month has (a fax gateway's stale credential).

The population is described in :mod:`.population`: doctors, day and night nurses,
billing clerks, administrators (actor_type ``admin``), new starters, a shared emergency
department kiosk with frequent mistyped badge logins, a fax gateway with a stale
credential, a 24/7 record sync, a nightly backup and the system's housekeeping.

Injected anomalies (``clean=False``, see :mod:`.anomalies`): failure bursts (many failures
within minutes: one across midnight, one from an anonymous IP, one at the kiosk far above
its usual mistypes), off-hours access by day workers, volume spikes, record snooping,
bulk exports, a three-hour logging outage, audit-log reads by a nurse and required-field
problems (anonymous actor, result outside the allowed set, unparsable IP addresses, an
empty action).
"""

from __future__ import annotations

import hashlib
import random
from datetime import date

import pyarrow as pa

from ..chain import kernel
from ..chain.profiles import BUILTIN_PROFILES
from .anomalies import (
    extra_injections,
    finish_label,
    label,
    pick_day,
    plan_injections,
    standing_labels,
)
from .population import US_HOUR, Rows, roster, services, to_table, workday

__all__ = ["DEFAULT_START", "DEFAULT_TZ", "chain_table", "chain_table_from", "generate_month",
           "month_policy"]

DEFAULT_START = date(2024, 3, 1)  # March 2024: includes the US switch to summer time
DEFAULT_TZ = "America/New_York"
GENESIS = "GENESIS"
#: Roles whose activity is generated around the clock rather than in shifts.
_ROUND_THE_CLOCK = ("service", "system", "kiosk", "gateway")


def generate_month(seed: int = 7, *, clean: bool = False, start: date = DEFAULT_START,
                   days: int = 31, tz: str = DEFAULT_TZ, scale: float = 1.0
                   ) -> tuple[pa.Table, list[dict]]:
    """Generate a month of activity, chained with python-seed hashes.

    Parameters
    ----------
    seed
        Seed of the ``random.Random`` that drives everything (deterministic output).
    clean
        Inject no anomalies (``labels`` then holds only the standing conditions).
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
        One per anomaly: ``check``, ``actor_id``, ``day`` (local date),
        ``window_start``/``window_end`` (UTC ISO text), ``what``; ``failed_access_burst``
        labels carry ``kind``, required-field labels ``field`` and ``problem`` instead of a
        window; standing conditions (in every month) carry ``standing: True``.
    """
    rng = random.Random(seed)
    actors = roster(rng, days, start, scale)
    by_id = {a.actor_id: a for a in actors}
    rows = Rows(rng)
    # Injections replace an actor's ordinary day: choose (actor, day) pairs up front.
    plan: dict[tuple[str, int], dict] = {}
    labels: list[dict] = standing_labels(start, days)
    if not clean:
        plan = plan_injections(rng, actors, days, start)
    for a in actors:
        if a.role in _ROUND_THE_CLOCK:
            continue
        for day in a.days:
            spec = plan.get((a.actor_id, day))
            if spec is None:
                workday(rows, a, day)
            else:
                spec["apply"](rows, a, day, spec, labels)
    services(rows, by_id, days)
    if not clean:
        extra_injections(rows, by_id, rng, days, labels, plan)
    table, local = to_table(rows, start, tz)
    if not clean:
        # a logging outage: nothing at all was written for three hours (before chaining)
        busy = {d + k for (_, d) in plan for k in (0, 1)} | {12, 18}
        day = pick_day(rng, days, start, weekday=True, avoid=busy)
        lo = (day * 24 + 1) * US_HOUR
        hi = (day * 24 + 4) * US_HOUR
        keep = ~((local >= lo) & (local < hi))
        table = table.filter(pa.array(keep))
        labels.append(label("retention_coverage", None, start, day, lo, hi,
                             "logging outage 01:00-04:00 local"))
    labels = [finish_label(lab, start, tz) for lab in labels]
    return chain_table(table), labels



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
