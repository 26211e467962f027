"""Inject each kind of chain damage into a clean chain, with the findings it must produce.

Every injector works on a chain (entries in chain order, each with ``prev_hash`` and
``hash``) and the hash profile's ``compute_hash``, and returns the damaged rows plus
the exact findings (``{"kind", "id"}``) a correct verifier reports on them, given the
trusted anchors of :func:`anchors_for` (the head and a middle checkpoint). Rows are
designed so that each kind leaves no other trace: forged rows are hashed correctly,
their timestamps never precede their predecessor's (except for
``timestamp_regression``), and neither anchor is touched except by ``truncated`` and
``rewrite_suffix``.

========================  ================================================  ==============
kind                      damage                                            finding id
========================  ================================================  ==============
alter                     a hashed field (action) of a middle row changed,  that row
                          its hash left alone                               (hash_mismatch)
delete                    a middle row removed                              the next row
                                                                            (missing_predecessor)
insert                    a forged, correctly hashed row chained to row k;  row k (fork)
                          row k+1 left alone
fork                      a 3-row branch of legitimately hashed rows from   row k (fork)
                          row k, the first at row k+1's instant (a race)
extra_genesis             a correctly hashed row linked to "GENESIS"        that row
                          mid-file
duplicate_id              a different event reusing a middle row's id,      that id
                          correctly hashed, appended after the head
duplicate_copy            an exact copy of a middle row                     that id
                                                                            (duplicate_id)
timestamp_regression      a legitimately hashed row appended after the      that row
                          head, 5 minutes earlier than the head
truncated                 the last 5 rows dropped                           head anchor
rewrite_suffix            row n-4 altered, it and all later hashes          head anchor
                          recomputed                                        (anchor_mismatch)
malformed                 two rows after the head: a non-hex hash, then a   both rows
                          row chained to that text with hash null
========================  ================================================  ==============

``malformed`` assumes a verifier reports a row whose hash or prev_hash is not 64
lowercase hex digits (or ``GENESIS``) once, as malformed; such a hash is no parent,
and a malformed prev_hash links nowhere (no missing_predecessor). The malformed rows
are leaves chained one after the other, so it does not matter whether a verifier
counts a malformed row as a child of its (well-formed) predecessor.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta

from .events import new_uuid, random_event

GENESIS = "GENESIS"
KINDS = (
    "alter",
    "delete",
    "insert",
    "fork",
    "extra_genesis",
    "duplicate_id",
    "duplicate_copy",
    "timestamp_regression",
    "truncated",
    "rewrite_suffix",
    "malformed",
)
#: The kinds that ``tampered/all`` combines (rewrite_suffix and truncated both need the
#: tail, so only truncated is there).
COMBINED_KINDS = (
    "alter",
    "delete",
    "insert",
    "fork",
    "extra_genesis",
    "duplicate_id",
    "timestamp_regression",
    "truncated",
    "malformed",
)
#: Where each injector acts, as a fraction of the chain length (the checkpoint anchor
#: sits at 0.5, which no injector touches).
POSITIONS = {
    "duplicate_copy": 0.1,
    "alter": 0.2,
    "delete": 0.3,
    "insert": 0.4,
    "checkpoint": 0.5,
    "fork": 0.6,
    "extra_genesis": 0.7,
    "duplicate_id": 0.8,
}
TRUNCATE_ROWS = 5
REWRITE_FROM_END = 4
MIN_CHAIN = 40

HashFn = Callable[[dict], str]


def checkpoint_index(n: int) -> int:
    """Return the chain index of the middle checkpoint anchor for a chain of ``n`` rows."""
    return int(n * POSITIONS["checkpoint"])


def anchors_for(chain: Sequence[dict]) -> list[dict]:
    """Return the trusted anchors of ``chain``: the middle checkpoint, then the head."""
    mid, head = chain[checkpoint_index(len(chain))], chain[-1]
    return [{"id": mid["id"], "hash": mid["hash"]}, {"id": head["id"], "hash": head["hash"]}]


class _Tamperer:
    def __init__(self, chain: Sequence[dict], compute_hash: HashFn, seed: int) -> None:
        if len(chain) < MIN_CHAIN:
            raise ValueError(f"need a chain of at least {MIN_CHAIN} rows, got {len(chain)}")
        self.chain = [dict(r) for r in chain]
        self.rows = list(self.chain)  # the working file, chain order plus injections
        self.tip = self.chain[-1]  # where appended rows chain to
        self.hash = compute_hash
        self.rng = random.Random(f"tamper:{seed}")  # not the event generator's stream
        self.ids = {r["id"] for r in self.chain}
        self.findings: list[dict] = []

    # helpers -------------------------------------------------------------------------
    def at(self, kind: str) -> int:
        return int(len(self.chain) * POSITIONS[kind])

    def index(self, row: dict) -> int:
        for i, r in enumerate(self.rows):
            if r is row:
                return i
        raise LookupError("row not in the working file")

    def forge(self, prev_hash: str, ts, row_id: str | None = None) -> dict:
        """Return a new, correctly hashed row (all event columns) chained to prev_hash."""
        row = random_event(self.rng, ts)
        while row["id"] in self.ids:  # forged ids are fresh unless asked otherwise
            row["id"] = new_uuid(self.rng)
        if row_id is not None:
            row["id"] = row_id
        self.ids.add(row["id"])
        row["prev_hash"] = prev_hash
        row["hash"] = self.hash(row)
        return row

    def insert_after(self, anchor: dict, row: dict) -> None:
        self.rows.insert(self.index(anchor) + 1, row)

    def append(self, row: dict) -> None:
        self.rows.append(row)
        self.tip = row

    def found(self, kind: str, row_id: str) -> None:
        self.findings.append({"kind": kind, "id": row_id})

    # injectors -----------------------------------------------------------------------
    def alter(self) -> None:
        row = self.chain[self.at("alter")]
        row["action"] = "export" if row["action"] == "delete" else "delete"
        self.found("hash_mismatch", row["id"])

    def delete(self) -> None:
        i = self.at("delete")
        self.rows.pop(self.index(self.chain[i]))
        self.found("missing_predecessor", self.chain[i + 1]["id"])

    def insert(self) -> None:
        parent = self.chain[self.at("insert")]
        forged = self.forge(parent["hash"], parent["timestamp"] + timedelta(milliseconds=1))
        self.insert_after(parent, forged)
        self.found("fork", parent["id"])

    def fork(self) -> None:
        k = self.at("fork")
        parent, child = self.chain[k], self.chain[k + 1]
        prev, after = parent["hash"], child
        for j in range(3):
            row = self.forge(prev, child["timestamp"] + timedelta(milliseconds=j))
            self.insert_after(after, row)
            prev, after = row["hash"], row
        self.found("fork", parent["id"])

    def extra_genesis(self) -> None:
        row = self.chain[self.at("extra_genesis")]
        g = self.forge(GENESIS, row["timestamp"] + timedelta(milliseconds=1))
        self.insert_after(row, g)
        self.found("extra_genesis", g["id"])

    def duplicate_id(self) -> None:
        victim = self.chain[self.at("duplicate_id")]
        d = self.forge(self.tip["hash"], self.tip["timestamp"] + timedelta(seconds=1), victim["id"])
        self.append(d)
        self.found("duplicate_id", victim["id"])

    def duplicate_copy(self) -> None:
        victim = self.chain[self.at("duplicate_copy")]
        self.rows.append(dict(victim))  # not the tip: it links where the original does
        self.found("duplicate_id", victim["id"])

    def timestamp_regression(self) -> None:
        r = self.forge(self.tip["hash"], self.tip["timestamp"] - timedelta(minutes=5))
        self.append(r)
        self.found("timestamp_regression", r["id"])

    def truncated(self) -> None:
        head = self.chain[-1]
        for row in self.chain[-TRUNCATE_ROWS:]:
            self.rows.pop(self.index(row))
        if self.tip is head:
            self.tip = self.chain[-TRUNCATE_ROWS - 1]
        self.found("truncated", head["id"])

    def rewrite_suffix(self) -> None:
        if self.tip is not self.chain[-1]:
            raise ValueError("rewrite_suffix must run before rows are appended or dropped")
        suffix = self.chain[-REWRITE_FROM_END:]
        row = suffix[0]
        row["actor_id"] = "u-0001" if row["actor_id"] != "u-0001" else "u-0002"
        row["hash"] = self.hash(row)
        for prev, cur in zip(suffix, suffix[1:]):
            cur["prev_hash"] = prev["hash"]
            cur["hash"] = self.hash(cur)
        self.found("anchor_mismatch", self.chain[-1]["id"])

    def malformed(self) -> None:
        # A producer bug writes a non-hex digest; the next row chains to that text as
        # its prev_hash (as a producer would) and has no hash at all.
        bad = self.forge(self.tip["hash"], self.tip["timestamp"] + timedelta(seconds=2))
        bad["hash"] = bad["hash"][:60] + "zzzz"  # right length, not hex
        self.append(bad)
        null = self.forge(bad["hash"], bad["timestamp"] + timedelta(seconds=1))
        null["hash"] = None
        self.append(null)
        self.found("malformed", bad["id"])
        self.found("malformed", null["id"])


#: Order in which combined injectors run (tail rewrites and drops before appends).
_ORDER = (
    "alter",
    "delete",
    "insert",
    "fork",
    "extra_genesis",
    "duplicate_copy",
    "rewrite_suffix",
    "truncated",
    "duplicate_id",
    "timestamp_regression",
    "malformed",
)


def tamper_many(
    chain: Sequence[dict], kinds: Iterable[str], compute_hash: HashFn, *, seed: int = 0
) -> tuple[list[dict], list[dict]]:
    """Apply several kinds of damage to a copy of ``chain`` at once.

    Parameters
    ----------
    chain
        Entries in chain order (``chain[0]`` links to GENESIS); not modified.
    kinds
        Names from :data:`KINDS`; ``rewrite_suffix`` and ``truncated`` exclude each other.
    compute_hash
        The chain's profile digest function (``python_seed.compute_hash`` or
        ``node_seed.compute_hash``), used for forged and rewritten rows.
    seed
        Seed for the forged rows' content.

    Returns
    -------
    tuple
        (rows in chain order plus injections, findings sorted by kind then id). The
        findings are the complete expected result against :func:`anchors_for` of the
        clean chain.
    """
    wanted = set(kinds)
    unknown = wanted - set(KINDS)
    if unknown:
        raise ValueError(f"unknown tamper kinds: {sorted(unknown)}")
    if {"rewrite_suffix", "truncated"} <= wanted:
        raise ValueError("rewrite_suffix and truncated both act on the tail; pick one")
    t = _Tamperer(chain, compute_hash, seed)
    for kind in _ORDER:
        if kind in wanted:
            getattr(t, kind)()
    findings = sorted(t.findings, key=lambda f: (f["kind"], f["id"]))
    return [dict(r) for r in t.rows], findings


def tamper(
    chain: Sequence[dict], kind: str, compute_hash: HashFn, *, seed: int = 0
) -> tuple[list[dict], list[dict]]:
    """Apply one kind of damage (see the module table); return (rows, expected findings)."""
    return tamper_many(chain, [kind], compute_hash, seed=seed)
