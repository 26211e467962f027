"""What really protects a PostgreSQL audit table from being changed.

A hash chain reveals changes; the database should prevent them. The seed relies on a
row trigger that raises on UPDATE and DELETE. That trigger does not fire on TRUNCATE,
and whoever owns the table (or is a superuser) can disable it or switch
``session_replication_role`` to ``replica``, which silences ordinary triggers. This
module reads the catalog (``pg_trigger``, ``pg_proc``, ``pg_class``, ``pg_roles``,
``has_table_privilege``) through a read-only session and grades each protection
``pass``, ``warn`` or ``fail`` with a one-line reason.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from .._text import shown
from ..errors import SourceError
from ..status import STATUS_COLOURS, worst_status
from .postgres import PostgresSource

__all__ = ["ProtectionItem", "ProtectionsReport", "inspect_protections"]

_RAISES = re.compile(r"\braise\b(?!\s+(notice|warning|info|log|debug)\b)", re.IGNORECASE)

# tgtype bits (src/include/catalog/pg_trigger.h)
_ROW, _BEFORE, _INSERT, _DELETE, _UPDATE, _TRUNCATE, _INSTEAD = 1, 2, 4, 8, 16, 32, 64

_TRIGGERS_SQL = """
SELECT t.tgname::text, t.tgtype::int, t.tgenabled::text, p.proname::text,
       COALESCE(p.prosrc, '')
FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
WHERE t.tgrelid = to_regclass($1) AND NOT t.tgisinternal
ORDER BY t.tgname
"""

_ROLES_SQL = """
SELECT r.rolname::text, r.rolsuper, r.rolbypassrls,
       r.oid = c.relowner AS owns,
       has_table_privilege(r.oid, c.oid, 'UPDATE') AS can_update,
       has_table_privilege(r.oid, c.oid, 'DELETE') AS can_delete,
       has_table_privilege(r.oid, c.oid, 'TRUNCATE') AS can_truncate
FROM pg_roles r CROSS JOIN pg_class c
WHERE c.oid = to_regclass($1) AND r.rolname NOT LIKE 'pg\\_%'
ORDER BY r.rolname
"""

_ME_SQL = """
SELECT current_user::text, r.rolsuper, r.oid = c.relowner OR pg_has_role(c.relowner, 'USAGE'),
       current_setting('session_replication_role'),
       EXISTS (SELECT 1 FROM pg_settings WHERE name = 'session_replication_role'
               AND context IN ('user', 'superuser') AND r.rolsuper)
FROM pg_roles r CROSS JOIN pg_class c
WHERE r.rolname = current_user AND c.oid = to_regclass($1)
"""


@dataclass(frozen=True)
class ProtectionItem:
    """One graded protection: a name, ``pass``/``warn``/``fail`` and a one-line reason."""

    name: str
    status: str
    reason: str

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {"name": self.name, "status": self.status, "reason": self.reason}


@dataclass
class ProtectionsReport:
    """The protections of one table, as the connected role sees them."""

    source: str
    table: str
    role: str
    items: list[ProtectionItem] = field(default_factory=list)
    triggers: list[dict] = field(default_factory=list)
    roles: list[dict] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The worst status of all items."""
        return worst_status(i.status for i in self.items)

    @property
    def ok(self) -> bool:
        """True when no item fails."""
        return self.status != "fail"

    def to_dict(self) -> dict:
        """A JSON-ready dict: status, items, triggers and roles."""
        return {"source": self.source, "table": self.table, "role": self.role,
                "status": self.status, "ok": self.ok,
                "items": [i.to_dict() for i in self.items],
                "triggers": list(self.triggers), "roles": list(self.roles)}

    def summary(self) -> str:
        """One line per item, worst first in the heading."""
        lines = [f"{shown(self.source)}: protections of {shown(self.table)} (as "
                 f"{shown(self.role)}): {self.status.upper()}"]
        lines += [f"  {i.status:<4}  {shown(i.name)}: {shown(i.reason, 2000)}"
                  for i in self.items]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<ProtectionsReport {self.table!r} {self.status} items={len(self.items)}>"

    def _repr_html_(self) -> str:
        colour = STATUS_COLOURS
        rows = "".join(
            f"<tr><td style='color:{colour[i.status]};font-weight:bold'>{i.status}</td>"
            f"<td>{html.escape(i.name)}</td><td style='text-align:left'>"
            f"{html.escape(i.reason)}</td></tr>" for i in self.items)
        return (f"<div><b>{html.escape(self.table)}</b> ({html.escape(self.source)}): "
                f"<span style='color:{colour[self.status]}'>{self.status}</span>"
                f"<table>{rows}</table></div>")


def _blocks(trigger: dict, event: int) -> bool:
    """A BEFORE/INSTEAD OF trigger on ``event`` whose function raises (the seed's kind)."""
    kind = trigger["type"]
    timing_ok = bool(kind & (_BEFORE | _INSTEAD))
    raises = bool(_RAISES.search(trigger["source"]))
    return bool(kind & event) and timing_ok and raises


def _grade_triggers(triggers: list[dict]) -> list[ProtectionItem]:
    items = []
    enabled = [t for t in triggers if t["enabled"] != "D"]
    disabled = [t["name"] for t in triggers if t["enabled"] == "D"]
    for op, bit in (("UPDATE", _UPDATE), ("DELETE", _DELETE)):
        on = [t["name"] for t in enabled if _blocks(t, bit)]
        off = [t["name"] for t in triggers if t["enabled"] == "D" and _blocks(t, bit)]
        if on:
            items.append(ProtectionItem(f"blocks {op}", "pass",
                                        f"trigger {', '.join(on)} raises on {op}"))
        elif off:
            items.append(ProtectionItem(f"blocks {op}", "fail",
                                        f"trigger {', '.join(off)} would raise on {op} but is "
                                        "DISABLED"))
        else:
            items.append(ProtectionItem(f"blocks {op}", "fail",
                                        f"no enabled trigger raises on {op}"))
    stmt = [t["name"] for t in enabled if _blocks(t, _TRUNCATE) and not t["type"] & _ROW]
    if stmt:
        items.append(ProtectionItem("blocks TRUNCATE", "pass",
                                    f"statement-level trigger {', '.join(stmt)} raises on "
                                    "TRUNCATE"))
    else:
        items.append(ProtectionItem("blocks TRUNCATE", "fail",
                                    "no BEFORE TRUNCATE statement trigger: a row trigger does "
                                    "not fire on TRUNCATE, which empties the table"))
    replica_only = [t["name"] for t in enabled if t["enabled"] == "O"]
    if replica_only:
        items.append(ProtectionItem(
            "fires under replication role", "warn",
            f"trigger(s) {', '.join(replica_only)} are silenced by "
            "session_replication_role = replica (ENABLE ALWAYS TRIGGER would keep them)"))
    if disabled:
        items.append(ProtectionItem("triggers enabled", "fail",
                                    f"disabled trigger(s): {', '.join(disabled)}"))
    return items


def _grade_roles(roles: list[dict]) -> list[ProtectionItem]:
    items = []
    for op in ("update", "delete", "truncate"):
        holders = [r["role"] for r in roles if r[f"can_{op}"] and not r["superuser"]]
        supers = [r["role"] for r in roles if r["superuser"]]
        if holders:
            items.append(ProtectionItem(
                f"{op.upper()} privilege", "warn",
                f"held by {', '.join(holders)} (and superusers {', '.join(supers) or 'none'})"))
        else:
            items.append(ProtectionItem(f"{op.upper()} privilege", "pass",
                                        f"only superusers ({', '.join(supers) or 'none'})"))
    owners = [r["role"] for r in roles if r["owns"]]
    items.append(ProtectionItem("owner", "warn",
                                f"{', '.join(owners) or '?'} owns the table and can DISABLE "
                                "TRIGGER, ALTER or DROP it: keep the owner apart from the "
                                "application's role"))
    return items


def _grade_me(me: tuple) -> list[ProtectionItem]:
    role, superuser, owner, replication_role, can_set_replication = me
    reasons = []
    if superuser:
        reasons.append("is a superuser")
    if owner:
        reasons.append("owns the table (ALTER TABLE ... DISABLE TRIGGER)")
    if can_set_replication:
        reasons.append("may SET session_replication_role = replica")
    if reasons:
        return [ProtectionItem("connected role cannot bypass triggers", "warn",
                               f"{role} {', '.join(reasons)}")]
    return [ProtectionItem("connected role cannot bypass triggers", "pass",
                           f"{role} is neither superuser nor owner "
                           f"(session_replication_role = {replication_role})")]


def inspect_protections(source: str | PostgresSource,
                        table: str = "audit_logs") -> ProtectionsReport:
    """Grade the protections of a PostgreSQL table against change.

    Parameters
    ----------
    source
        ``postgresql://user:pass@host:port/db``, or an opened source (its own table is
        inspected then); the session is read-only.
    table
        The table of a URL, optionally schema-qualified.

    Returns
    -------
    ProtectionsReport
        Items graded ``pass``/``warn``/``fail``; ``fail`` means a change is not prevented.
    """
    if not isinstance(source, PostgresSource):
        source = PostgresSource(source, table=table)
    with source.session() as cur:
        source.describe_table(cur)
        name = source.table.sql
        try:
            cur.execute(_TRIGGERS_SQL, [name])
            triggers = [{"name": n, "type": t, "enabled": e, "function": f, "source": s}
                        for n, t, e, f, s in cur.fetchall()]
            cur.execute(_ROLES_SQL, [name])
            roles = [{"role": r, "superuser": s, "bypass_rls": b, "owns": o,
                      "can_update": u, "can_delete": d, "can_truncate": t}
                     for r, s, b, o, u, d, t in cur.fetchall()]
            cur.execute(_ME_SQL, [name])
            me = cur.fetchone()
        except Exception as exc:
            raise SourceError(f"cannot read the catalog of {source.masked_url}: "
                              f"{str(exc).strip().splitlines()[0]}",
                              source=source.label) from None
    items = _grade_triggers(triggers) + _grade_roles(roles) + _grade_me(me)
    for t in triggers:
        t.pop("source")
    return ProtectionsReport(source=source.masked_url, table=str(source.table), role=me[0],
                             items=items, triggers=triggers, roles=roles)
