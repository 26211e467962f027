"""Trying a profile on a source: the text it builds, the digests, and why they differ.

:func:`probe_profile` (``audit-analytics profile test``) shows, for the first rows, the
exact text the profile builds next to the stored hash and the computed one, then the
match rate over a sample. When no row matches it says what it can tell from the data:
the stored digests' encoding and length, values of ``prev_hash`` that look like a genesis
marker, the columns the profile does not read, and which part of the text differs (the
profile is tried again with that part written another way: a timestamp format, a JSON
knob).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa

from .._engine import Engine, EngineError, quote_ident
from .._text import shown
from ..errors import ProfileError
from ..sources import Source
from . import kernel
from .detection import detect_profile, profile_source, sample_matches
from .digests import compute, decode, encode
from .expressions import expression_columns, profile_parts, scan_query
from .integrity import finer_timestamps, row_integrity
from .profiles import DIGEST_SIZES, HashProfile, load_profile
from .schema import BOOKKEEPING, classify

__all__ = ["ProfileProbe", "describe_stored", "probe_profile"]

#: Other ways a producer writes a timestamp, tried on a part of a SQL text that reads one.
TIMESTAMP_FORMS = (
    ("ISO 8601 with milliseconds and Z (JavaScript toISOString)", "%Y-%m-%dT%H:%M:%S.%gZ"),
    ("ISO 8601 with microseconds and Z", "%Y-%m-%dT%H:%M:%S.%fZ"),
    ("ISO 8601 with seconds and Z", "%Y-%m-%dT%H:%M:%SZ"),
    ("ISO 8601 with microseconds and +00:00 (Python isoformat)", "%Y-%m-%dT%H:%M:%S.%f+00:00"),
    ("ISO 8601 with seconds and +00:00", "%Y-%m-%dT%H:%M:%S+00:00"),
    ("date and time with microseconds and +00", "%Y-%m-%d %H:%M:%S.%f+00"),
    ("date and time with microseconds", "%Y-%m-%d %H:%M:%S.%f"),
    ("date and time with milliseconds", "%Y-%m-%d %H:%M:%S.%g"),
    ("date and time with seconds", "%Y-%m-%d %H:%M:%S"),
    ("epoch milliseconds", None),
    ("epoch seconds", None),
    ("epoch microseconds", None),
)
_EPOCHS = {"epoch milliseconds": "epoch_ms", "epoch microseconds": "epoch_us",
           "epoch seconds": "epoch"}
_SIZES_BY_HEX = {2 * size: [d for d, s in DIGEST_SIZES.items() if s == size and
                            not d.startswith("hmac-")] for size in set(DIGEST_SIZES.values())}
_TRY_ROWS = 64


@dataclass
class ProfileProbe:
    """What trying a profile on a source showed (see :func:`probe_profile`)."""

    profile: HashProfile
    source: str
    rows: list[dict]
    sampled: int
    matched: int
    hints: list[str] = field(default_factory=list)
    unused_columns: list[str] = field(default_factory=list)
    note: str | None = None

    @property
    def ok(self) -> bool:
        """Every sampled row matched."""
        return self.sampled > 0 and self.matched == self.sampled

    def to_dict(self) -> dict:
        """A JSON-ready form (the HMAC key is never part of it)."""
        return {"source": self.source, "profile": self.profile.name,
                "description": self.profile.describe(), "detection": self.note,
                "rows": self.rows,
                "sample": {"rows": self.sampled, "matched": self.matched,
                           "rate": self.matched / self.sampled if self.sampled else 0.0},
                "ok": self.ok, "unused_columns": self.unused_columns, "hints": self.hints}

    def summary(self) -> str:
        """Lines for people: each row's text and digests, the match rate, the hints."""
        lines = [f"profile {shown(self.profile.describe())}"]
        if self.note:
            lines.append(shown(self.note))
        for row in self.rows:
            lines.append(f"row {shown(row['id'])}: {'match' if row['match'] else 'NO MATCH'}")
            lines.append(f"  text:     {shown(row['text'], None)}")
            lines.append(f"  stored:   {shown(row['stored'])}")
            lines.append(f"  computed: {shown(row['computed'])}")
            if row.get("reason"):
                lines.append(f"  why:      {shown(row['reason'], None)}")
        rate = 100.0 * self.matched / self.sampled if self.sampled else 0.0
        lines.append(f"sample: {self.matched} of {self.sampled} sampled rows match ({rate:.1f}%)")
        if self.unused_columns:
            lines.append("columns the hash does not read: " +
                         ", ".join(shown(c) for c in self.unused_columns))
        lines += [f"hint: {shown(h, None)}" for h in self.hints]
        return "\n".join(lines)


def describe_stored(value: str | None) -> str | None:
    """What a stored digest's text looks like: its encoding, length and likely digest."""
    if not value:
        return None
    n = len(value)
    if re.fullmatch(r"[0-9a-f]+", value) or re.fullmatch(r"[0-9A-F]+", value):
        case = "lowercase" if value == value.lower() else "uppercase"
        guess = _SIZES_BY_HEX.get(n)
        what = f" ({' or '.join(guess)} size)" if guess else ""
        return f"{case} hex, {n} characters{what}"
    if re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", value) and n % 4 == 0:
        size = n // 4 * 3 - value.count("=")
        guess = _SIZES_BY_HEX.get(2 * size)
        what = f" ({' or '.join(guess)} size)" if guess else ""
        return f"base64, {n} characters, {size} bytes{what}"
    return f"{n} characters, neither hex nor base64"


def _texts(profile: HashProfile, batch: pa.Table, ok: np.ndarray) -> list[str]:
    if profile.text == "sql":
        return [v if isinstance(v, str) else
                (v.decode("utf-8", "replace") if v is not None else None)
                for v in batch.column("__text").to_pylist()]
    fields = [batch.column("f:" + name) for name in profile.ordered_fields]
    texts = kernel.canonical_texts(profile, fields)
    if profile.null == "null-or-omit":  # show the form that matched: null, or key left out
        omitted = kernel.canonical_texts(profile, fields, omit_nulls=True)
        first, _ = compute(profile, texts)
        stored, _ = decode(profile, batch.column("__hash"))
        texts = [a if (first[i] == stored[i]).all() or not ok[i] else b
                 for i, (a, b) in enumerate(zip(texts, omitted))]
    return [t.decode("utf-8", "replace") for t in texts]


def _evaluate(engine: Engine, part, profile: HashProfile, limit: str) -> tuple[pa.Table, tuple]:
    query = scan_query(engine, part.sql, part.params, profile, part.where)
    batch = engine.arrow(f"SELECT * FROM ({query}) {limit}", part.params)
    fields = ([] if profile.text == "sql"
              else [batch.column("f:" + name) for name in profile.ordered_fields])
    text = batch.column("__text") if profile.text == "sql" else None
    ok, computed, hf, stored = row_integrity(profile, fields, batch.column("__hash"), text)
    finer = finer_timestamps(profile, batch)
    if finer:  # a timestamp finer than the profile's text is not what was hashed
        ok = ok.copy()
        ok[list(finer)] = False
    return batch, (ok, computed, hf, stored)


def probe_profile(engine: Engine, source: Source, profile: str | HashProfile = "auto",
                  rows: int = 5, sample: int = 512) -> ProfileProbe:
    """Try ``profile`` on ``source``: its text and digests for ``rows`` rows, then a sample.

    Raises
    ------
    ProfileError
        The profile is invalid, its expression cannot be evaluated on the source, or
        (``auto``) no candidate reproduces any sampled hash.
    """
    if rows < 1:
        raise ProfileError("--rows must be at least 1")
    note = None
    if isinstance(profile, str) and profile == "auto":
        chosen, note = detect_profile(engine, source)
    else:
        chosen = load_profile(profile)
    mapped = profile_source(source, chosen)
    part = profile_parts(mapped, chosen)[0]
    batch, (ok, computed, hf, stored) = _evaluate(engine, part, chosen, f"LIMIT {int(rows)}")
    texts = _texts(chosen, batch, ok)
    hashes = batch.column("__hash").to_pylist()
    ids = batch.column("__id" if "__id" in batch.schema.names else "f:id").to_pylist()
    finer = finer_timestamps(chosen, batch)  # a timestamp the text cannot hold: no digest
    shown_rows = [{"id": ids[i], "text": texts[i], "stored": hashes[i],
                   "computed": encode(chosen, computed[i].tobytes())
                   if (chosen.text == "json" or texts[i] is not None) and i not in finer
                   else None,
                   "match": bool(ok[i]), **({"reason": finer[i]} if i in finer else {})}
                  for i in range(batch.num_rows)]
    sampled_batch = engine.arrow(
        f"SELECT * FROM ({scan_query(engine, part.sql, part.params, chosen, part.where)}) "
        f"USING SAMPLE {int(sample)} ROWS", part.params)
    matched, _ = sample_matches(chosen, sampled_batch)
    probe = ProfileProbe(profile=chosen, source=source.label, rows=shown_rows,
                         sampled=sampled_batch.num_rows, matched=matched, note=note,
                         unused_columns=_unused(engine, part, chosen))
    if matched == 0:
        both = pa.concat_tables([batch.select(["f:prev_hash"]),
                                 sampled_batch.select(["f:prev_hash"])])
        probe.hints = _hints(engine, part, chosen, both, hashes)
    return probe


def _unused(engine: Engine, part, profile: HashProfile) -> list[str]:
    """Stored columns the profile's text does not read (``hash`` aside)."""
    columns = engine.columns(part.sql, part.params)
    by_role = profile.column_map
    stored = [by_role.get(c, c) if not c.startswith("stored:") else c[7:] for c in columns]
    if profile.text == "sql":
        read = set(expression_columns(profile))
    else:
        read = {by_role.get(f, f) for f in profile.fields}
    skip = {by_role.get("hash", "hash"), *BOOKKEEPING}
    return [c for c in stored if c not in read and c not in skip]


def _hints(engine, part, profile: HashProfile, batch: pa.Table, hashes: list) -> list[str]:
    hints = []
    form = describe_stored(next((h for h in hashes if h), None))
    if form:
        expected = describe_stored(encode(profile, bytes(profile.digest_size)))
        hints.append(f"stored hashes are {form}; the profile's {profile.digest} stored as "
                     f"{profile.encoding} would be {expected}")
    prevs = batch.column("f:prev_hash")
    _, pf = decode(profile, prevs, link=True)
    values = prevs.to_pylist()
    odd = sorted({v for v, f in zip(values, pf.tolist()) if f == 2 and v is not None})
    zeros = sorted({v for v in values if v and set(v) <= {"0"}})
    for value in (zeros or odd)[:3]:
        hints.append(f"prev_hash {json.dumps(value)} looks like a genesis value; the profile's "
                     f"genesis is {json.dumps(profile.genesis)}")
    nulls = int((pf == 1).sum())
    if nulls:
        hints.append(f"{nulls} sampled row(s) have a NULL prev_hash: set null_prev_is_genesis "
                     "= true if a NULL starts the chain")
    hints += _variants(engine, part, profile)  # the first rows and a sample's prev_hash
    if profile.digest.startswith("hmac-"):
        hints.append("a keyed digest never matches with the wrong key: check "
                     f"{'$' + profile.key_env if profile.key_env else profile.key_file}")
    return hints


def _rate(engine, part, profile: HashProfile) -> int:
    try:
        _, (ok, *_rest) = _evaluate(engine, part, profile, f"LIMIT {_TRY_ROWS}")
    except (ProfileError, EngineError):
        return 0
    return int(ok.sum())


def _variants(engine, part, profile: HashProfile) -> list[str]:
    """Which single change to the profile makes rows match (where the text differs)."""
    if profile.text == "json":
        tries = [("timestamp", t) for t in ("python-isoformat", "js-iso")]
        tries += [("escape", e) for e in ("ascii", "raw")]
        tries += [("key_order", k) for k in ("sorted", "insertion")]
        tries += [("null", n) for n in ("null", "omit", "null-or-omit")]
        found = []
        for knob, value in tries:
            if getattr(profile, knob) == value:
                continue
            hits = _rate(engine, part, replace(profile, **{knob: value}))
            if hits:
                found.append(f"the text differs in its {knob}: rows match with "
                             f"{knob} = {json.dumps(value)} ({hits} of the first "
                             f"{_TRY_ROWS} rows)")
        for pair in ((", ", ": "), (",", ":")):
            if (profile.item_separator, profile.key_separator) != pair:
                hits = _rate(engine, part, replace(profile, item_separator=pair[0],
                                                   key_separator=pair[1]))
                if hits:
                    found.append(f"the text differs in its separators: rows match with "
                                 f"item_separator = {json.dumps(pair[0])}, key_separator = "
                                 f"{json.dumps(pair[1])}")
        return found
    return _sql_variants(engine, part, profile)


def _operands(expression: str) -> list[tuple[int, int]]:
    """The spans of the top-level ``||`` operands of ``expression`` (empty if unknown)."""
    probe = Engine()
    try:
        tree = json.loads(probe.scalar("SELECT json_serialize_sql($1)",
                                       [f"SELECT ({expression}\n) AS __text"]))
    finally:
        probe.close()
    if tree.get("error"):
        return []
    top = tree["statements"][0]["node"]["select_list"][0]
    leaves: list[dict] = []

    def flatten(node: dict) -> None:
        if node.get("class") == "FUNCTION" and node.get("function_name") == "||":
            for arg in node.get("arguments", []):
                flatten(arg.get("expression", arg))
        else:
            leaves.append(node)

    flatten(top)
    spans = []
    for leaf in leaves:
        at, size = leaf.get("query_location"), leaf.get("query_location_length")
        if at is None or size is None or at >= 1 << 62 or size == 0:
            return []
        spans.append((at - len("SELECT ("), at - len("SELECT (") + size))
    return spans


def _sql_variants(engine, part, profile: HashProfile) -> list[str]:
    expression = profile.expression or ""
    spans = _operands(expression)
    if not spans:
        return []
    from ..sources.mapped import stored_sql

    types = engine.columns(stored_sql(part.sql, engine.columns(part.sql, part.params),
                                      profile.column_map), part.params)
    stamp_cols = {c for c, t in types.items() if classify(t) == "timestamp"}
    stamp_cols.add(profile.column_map.get("timestamp", "timestamp"))
    found = []
    for k, (a, b) in enumerate(spans, start=1):
        piece = expression[a:b]
        used = [c for c in types if c in stamp_cols and re.search(
            rf'(?<![\w"]){re.escape(c)}(?![\w"])|"{re.escape(c)}"', piece)]
        if not used:
            continue
        col = f"TRY_CAST({quote_ident(used[0])} AS TIMESTAMPTZ)"
        for label, fmt in TIMESTAMP_FORMS:
            if fmt is None:
                fn = _EPOCHS[label]
                other = f"CAST(CAST({fn}({col}) AS BIGINT) AS VARCHAR)"
            else:
                other = f"strftime(timezone('UTC', {col}), '{fmt}')"
            attempt = replace(profile, expression=expression[:a] + other + expression[b:])
            hits = _rate(engine, part, attempt)
            if hits:
                found.append(f"the text differs in part {k} of {len(spans)} ({piece.strip()}): "
                             f"rows match when it is written as {label}: {other} "
                             f"({hits} of the first {_TRY_ROWS} rows)")
                break
        else:
            found.append(f"part {k} of {len(spans)} ({piece.strip()}) reads a timestamp; no "
                         "common timestamp format makes the rows match")
    return found
