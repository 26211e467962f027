"""(Re)write the committed samples under ``data_samples/``, deterministically.

Run as ``python -m audit_analytics.samples.build data_samples`` (``make samples``).
For each profile (``python_seed/``, ``node_seed/``) it writes a shuffled clean chain as
Parquet, the same chain as a hive-partitioned folder with the producer's timestamp
text, one tampered file per kind of damage plus one with several at once, the trusted
anchors, and one ``expected.json`` for everything (what a correct verifier reports).
Every file is written to a temporary name and moved into place with ``os.replace``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.parquet as pq

from . import node_seed, python_seed, tamper
from .events import COLUMNS, generate_events

log = logging.getLogger("audit_analytics")

N_CLEAN = 2000
#: Tampered files start from the first N_TAMPER rows of the clean chain (keeps the
#: committed samples small); their anchors are in ``tampered/anchors.jsonl``.
N_TAMPER = 400
ROW_GROUP_SIZE = 500
COMPRESSION = "zstd"
TS_TYPE = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Profile:
    """One producer whose samples are built."""

    dirname: str
    name: str
    module: ModuleType
    seed: int


PROFILES = (
    Profile("python_seed", python_seed.PROFILE, python_seed, 1),
    Profile("node_seed", node_seed.PROFILE, node_seed, 2),
)


# --- writing --------------------------------------------------------------------------
def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _write_text(path: Path, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)

    _atomic_write(path, write)


def to_table(rows: Sequence[dict], text_timestamps: Callable | None = None) -> pa.Table:
    """Return ``rows`` as an Arrow table with the event-schema columns in order.

    Timestamps become ``timestamp('us', tz='UTC')``, or text through
    ``text_timestamps`` (the producer's rendering) when given.
    """
    arrays = []
    fields = []
    for col in COLUMNS:
        values = [r.get(col) for r in rows]
        if col == "timestamp":
            if text_timestamps is None:
                values = [v.astimezone(UTC) for v in values]
                typ = TS_TYPE
            else:
                values = [text_timestamps(v) for v in values]
                typ = pa.string()
        else:
            typ = pa.string()
        arrays.append(pa.array(values, type=typ))
        fields.append(pa.field(col, typ))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _shuffled(rows: Sequence[dict], key: str) -> list[dict]:
    out = list(rows)
    random.Random(key).shuffle(out)  # str seeds are stable across runs and processes
    return out


def _write_parquet(path: Path, table: pa.Table) -> None:
    _atomic_write(
        path,
        lambda tmp: pq.write_table(
            table, tmp, row_group_size=ROW_GROUP_SIZE, compression=COMPRESSION
        ),
    )


def _write_anchors(path: Path, anchors: list[dict]) -> None:
    lines = (json.dumps({"id": a["id"], "hash": a["hash"]}) + "\n" for a in anchors)
    _write_text(path, "".join(lines))


def _remove_stale(folder: Path, pattern: str, keep: set[Path]) -> None:
    for p in folder.glob(pattern):
        if p.is_file() and p not in keep:
            p.unlink()
            log.info("removed stale sample %s", p)
    for d in sorted(folder.glob("date=*"), reverse=True):
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()


# --- chains -----------------------------------------------------------------------------
def node_chain(events: Sequence[dict]) -> tuple[list[dict], str]:
    """Chain ``events`` with the real node_seed.js when node exists, else the Python port.

    Returns the entries (timestamps as ms-precision UTC datetimes) and which producer
    made them. When node runs, its output is cross-checked against the port.
    """
    port = node_seed.chain(events)
    try:
        js = node_seed.run_node(events)
    except node_seed.NodeNotFoundError:
        log.warning("node not found: node-seed samples come from the Python port")
        return port, "node_seed.py (Python port; node was not found)"
    entries = []
    for js_row, py_row in zip(js, port, strict=True):
        entry = dict(js_row)
        entry["timestamp"] = node_seed.to_datetime(js_row["timestamp"])
        if entry != py_row:
            raise RuntimeError(f"node_seed.py disagrees with node_seed.js on id {entry['id']}")
        entries.append(entry)
    return entries, "node_seed.js (run by node)"


def profile_chain(profile: Profile) -> tuple[list[dict], str]:
    """Return the clean chain of ``profile`` and the name of its producer."""
    events = generate_events(N_CLEAN, seed=profile.seed)
    if profile.module is node_seed:
        return node_chain(events)
    return python_seed.chain(events), "python_seed.PythonSeedLogger"


# --- the build --------------------------------------------------------------------------
def build_profile(out: Path, profile: Profile) -> dict[str, dict]:
    """Write one profile's samples under ``out/<dirname>``; return its expected.json part."""
    base = out / profile.dirname
    chain, producer = profile_chain(profile)
    hash_fn = profile.module.compute_hash
    rel = profile.dirname
    expected: dict[str, dict] = {}

    def entry(anchor: str | None, findings: list[dict], rows: int) -> dict:
        return {
            "profile": profile.name,
            "producer": producer,
            "anchor": anchor,
            "ok": not findings,
            "findings": findings,
            "rows": rows,
        }

    # clean chain, shuffled, timestamp column typed
    _write_parquet(base / "clean.parquet", to_table(_shuffled(chain, f"{rel}/clean")))
    _write_anchors(base / "anchors.jsonl", tamper.anchors_for(chain))
    expected[f"{rel}/clean.parquet"] = entry(f"{rel}/anchors.jsonl", [], len(chain))

    # same chain, timestamps as the producer's text, hive-partitioned by UTC date
    by_date: dict[str, list[dict]] = {}
    for row in chain:
        by_date.setdefault(row["timestamp"].astimezone(UTC).date().isoformat(), []).append(row)
    text_dir = base / "clean_text_ts"
    written = set()
    for day, rows in sorted(by_date.items()):
        path = text_dir / f"date={day}" / "part-0.parquet"
        table = to_table(_shuffled(rows, f"{rel}/text/{day}"), profile.module.render_timestamp)
        _write_parquet(path, table)
        written.add(path)
    _remove_stale(text_dir, "date=*/*.parquet", written)
    expected[f"{rel}/clean_text_ts"] = entry(f"{rel}/anchors.jsonl", [], len(chain))

    # tampered variants, from a prefix of the clean chain with its own anchors
    tbase = chain[:N_TAMPER]
    tdir = base / "tampered"
    t_anchor = f"{rel}/tampered/anchors.jsonl"
    _write_anchors(tdir / "anchors.jsonl", tamper.anchors_for(tbase))
    written = set()
    variants = [(k, [k]) for k in tamper.KINDS] + [("all", list(tamper.COMBINED_KINDS))]
    for name, kinds in variants:
        rows, findings = tamper.tamper_many(tbase, kinds, hash_fn, seed=profile.seed)
        path = tdir / f"{name}.parquet"
        _write_parquet(path, to_table(_shuffled(rows, f"{rel}/tampered/{name}")))
        written.add(path)
        expected[f"{rel}/tampered/{name}.parquet"] = entry(t_anchor, findings, len(rows))
    _remove_stale(tdir, "*.parquet", written)
    return expected


#: (kind, damage, the finding it must produce) for README.md.
KIND_DOCS = (
    ("alter", "a middle row's `action` changed, hash untouched", "`hash_mismatch` at that row"),
    ("delete", "a middle row removed", "`missing_predecessor` at the next row"),
    (
        "insert",
        "a forged, correctly hashed row chained to row k (row k+1 untouched)",
        "`fork` at row k",
    ),
    (
        "fork",
        "a 3-row branch of legitimately hashed rows from row k (the producers' race)",
        "`fork` at row k",
    ),
    (
        "extra_genesis",
        "a correctly hashed row linked to `GENESIS` mid-chain",
        "`extra_genesis` at that row",
    ),
    (
        "duplicate_id",
        "a different event reusing a middle row's id, appended after the head",
        "`duplicate_id` at that id",
    ),
    ("duplicate_copy", "an exact copy of a middle row", "`duplicate_id` at that id"),
    (
        "timestamp_regression",
        "a legitimately hashed row after the head, 5 minutes earlier",
        "`timestamp_regression` at that row",
    ),
    ("truncated", "the last 5 rows dropped", "`truncated` at the head anchor's id"),
    (
        "rewrite_suffix",
        "row n-4 altered and every hash from there recomputed",
        "`anchor_mismatch` at the head anchor's id",
    ),
    (
        "malformed",
        "two rows after the head: a non-hex hash, then a row chained to it with hash null",
        "`malformed` at both",
    ),
)


def readme(node_producer: str) -> str:
    """Return the text of ``data_samples/README.md``."""
    combined = ", ".join(f"`{k}`" for k in tamper.COMBINED_KINDS)
    files = (
        (
            "`clean.parquet`",
            f"{N_CLEAN} chained events; rows shuffled (file order is not chain order); "
            f"`timestamp` is `timestamp[us, tz=UTC]`; row groups of {ROW_GROUP_SIZE} rows",
        ),
        (
            "`clean_text_ts/date=YYYY-MM-DD/part-0.parquet`",
            "the same chain, hive-partitioned by UTC date, `timestamp` stored as the "
            "producer's ISO text (the exact text that was hashed)",
        ),
        (
            "`anchors.jsonl`",
            'trusted anchors of the clean chain, `{"id", "hash"}` per line: a middle '
            "checkpoint, then the head",
        ),
        (
            "`tampered/<kind>.parquet`",
            f"the first {N_TAMPER} rows of the clean chain with one kind of damage (shuffled)",
        ),
        ("`tampered/all.parquet`", f"several kinds at once: {combined}"),
        (
            "`tampered/anchors.jsonl`",
            f"trusted anchors of that {N_TAMPER}-row chain (checkpoint, head)",
        ),
    )
    lines = [
        "# Sample audit logs",
        "",
        "Generated by `python -m audit_analytics.samples.build data_samples` (`make samples`);",
        "do not edit by hand. The build is deterministic: regenerating rewrites identical",
        "contents. Everything a correct verifier must report is in `expected.json`.",
        "",
        "Two hash profiles, one folder each, made by the seed's two producers:",
        "",
        "- `python_seed/`: the seed's Python AuditLogger (`json.dumps(..., sort_keys=True)`,",
        "  timestamps as `datetime.isoformat()`), reproduced in",
        "  `audit_analytics/samples/python_seed.py`.",
        "- `node_seed/`: the seed's Express AuditLogger (`JSON.stringify`, timestamps as",
        "  `toISOString()`, millisecond precision), run for real by `node` on",
        f"  `audit_analytics/samples/node_seed.js` (this build: {node_producer}).",
        "",
        "In each folder:",
        "",
        "| path | what |",
        "| --- | --- |",
        *(f"| {p} | {w} |" for p, w in files),
        "",
        "Kinds of damage (the finding each must produce, and nothing else):",
        "",
        "| kind | damage | finding |",
        "| --- | --- | --- |",
        *(f"| `{k}` | {d} | {f} |" for k, d, f in KIND_DOCS),
        "",
        "`expected.json` maps each sample (path relative to this folder) to",
        '`{"profile", "producer", "anchor", "ok", "findings": [{"kind", "id"}], "rows"}`;',
        "`anchor` is the anchors file to verify against (relative path). A malformed row",
        "(hash or prev_hash not 64 lowercase hex digits, nor `GENESIS` for prev_hash) is",
        "expected to be reported once; a malformed hash is no parent, and a malformed",
        "prev_hash links nowhere.",
        "",
        "Some events carry non-ASCII text (é, 中文), an astral character (😀), quotes,",
        "backslashes, tabs, newlines, other control characters, U+2028 and DEL in hashed",
        "fields, so both escaping schemes are exercised; some consecutive events share a",
        "timestamp and some fall on a whole second.",
        "",
    ]
    return "\n".join(lines)


def build(out: Path) -> dict[str, dict]:
    """Write every sample under ``out``; return the expected.json mapping."""
    out = Path(out)
    expected: dict[str, dict] = {}
    for profile in PROFILES:
        expected.update(build_profile(out, profile))
    _write_text(out / "expected.json", json.dumps(expected, indent=2, sort_keys=True) + "\n")
    _write_text(out / "README.md", readme(expected["node_seed/clean.parquet"]["producer"]))
    return expected


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: ``python -m audit_analytics.samples.build OUT_DIR``."""
    parser = argparse.ArgumentParser(prog="python -m audit_analytics.samples.build")
    parser.add_argument("out", nargs="?", default="data_samples", help="output folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    expected = build(Path(args.out))
    total = sum(p.stat().st_size for p in Path(args.out).rglob("*") if p.is_file())
    log.info("wrote %d samples to %s (%.2f MB)", len(expected), args.out, total / 1e6)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
