"""A month in which every event has an actor of its own: input that grows every list.

``crowd_month(n)`` returns ``n`` events, chained with python-seed hashes, spread evenly over
a month, each by a distinct actor, on a distinct record, from a distinct session. Nothing
any check or report keeps per actor, per resource, per IP address or per finding stays
small on it, which is what it is for (tests and ``benchmarks/bench_report.py``):

- every actor lacks a baseline (one actor-day of history) in the five baseline checks;
- one event in :data:`FAILING` fails or is denied (the failures chart ranks that many
  actors);
- one in :data:`READERS` reads the audit log as a ``user`` (a ``log_access`` finding each,
  unauthorized under the default policy), as many again as a ``system`` actor
  (authorized: one entry each in ``log_access``'s authorized readers);
- one in :data:`BAD_IPS` has an IP address that does not parse, each a different one (a
  ``required_fields`` finding each).

The events are generated with numpy and chained with the package's canonical renderer
(:func:`~audit_analytics.samples.activity.chain_table`): a million take a few seconds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa

from .activity import chain_table

__all__ = ["BAD_IPS", "FAILING", "READERS", "crowd_counts", "crowd_month"]

#: One event in this many fails or is denied.
FAILING = 20
#: One event in this many reads the audit log unauthorized (``user``), as many authorized.
READERS = 100
#: One event in this many has an IP address that does not parse.
BAD_IPS = 10
_DAY_US = 86_400_000_000


def crowd_month(n: int, *, start: date = date(2024, 1, 1), days: int = 31) -> pa.Table:
    """``n`` chained events over ``days`` UTC days from ``start``, one actor each.

    Event ``i`` is by actor ``c-<i>`` on record ``MRN-<i>``; which events fail, read the
    log or carry a bad IP address follows from ``i`` alone (see :func:`crowd_counts`).
    """
    idx = np.arange(n, dtype=np.int64)
    origin = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()
                 * 1_000_000)
    ts = origin + idx * (days * _DAY_US // max(n, 1)) + 7
    digits = np.char.zfill(idx.astype(str), 7)
    reads = idx % READERS
    reader = reads == 1          # unauthorized: a user reading the log
    system = reads == 2          # authorized by actor type
    action = np.where(reader | system, "view_audit_log", "read")
    rtype = np.where(reader | system, "audit_log", "patient_record")
    failing = (idx % FAILING == 3)
    result = np.where(failing & (idx % (2 * FAILING) == 3), "denied",
                      np.where(failing, "failure", "success"))
    bad_ip = idx % BAD_IPS == 5
    ips = np.char.add(np.char.add("10.", (idx // 65_536 % 256).astype(str)),
                      np.char.add(np.char.add(".", (idx // 256 % 256).astype(str)),
                                  np.char.add(".", (idx % 256).astype(str))))
    ips = np.where(bad_ip, np.char.add("host-", digits), ips)
    table = pa.table({
        "id": pa.array(np.char.add("e-", digits)),
        "timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "actor_id": pa.array(np.char.add("c-", digits)),
        "actor_type": pa.array(np.where(system, "system", "user")),
        "action": pa.array(action),
        "resource_type": pa.array(rtype),
        "resource_id": pa.array(np.char.add("MRN-", digits)),
        "result": pa.array(result),
        "ip_address": pa.array(ips),
        "user_agent": pa.array(np.full(n, "Mozilla/5.0")),
        "session_id": pa.array(np.char.add("s-", digits)),
    })
    return chain_table(table)


def crowd_counts(n: int) -> dict[str, int]:
    """What :func:`crowd_month` of ``n`` events holds, counted from its rules.

    ``actors`` (all distinct), ``failing`` (events failed or denied, one actor each),
    ``unauthorized_readers`` and ``authorized_readers`` (of the audit log, one actor and
    one actor-day each), ``bad_ips`` (distinct unparsable addresses).
    """
    idx = np.arange(n, dtype=np.int64)
    return {"actors": n, "failing": int((idx % FAILING == 3).sum()),
            "unauthorized_readers": int((idx % READERS == 1).sum()),
            "authorized_readers": int((idx % READERS == 2).sum()),
            "bad_ips": int((idx % BAD_IPS == 5).sum())}
