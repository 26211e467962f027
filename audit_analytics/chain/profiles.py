r"""Hash profiles: exactly which bytes a producer hashed to make each row's ``hash``.

A profile names the hashed fields, their key order, the JSON separators, how text is
escaped, how a timestamp was rendered, what a null became and which ``prev_hash`` starts
a chain. Two profiles come built in, from the seed's two producers:

``python-seed``
    ``json.dumps(entry, sort_keys=True)`` (separators ``", "`` and ``": "``, non-ASCII
    escaped as ``\u`` and four lowercase hex digits, e.g. ``\u00e9``), timestamp from
    ``datetime.isoformat()`` of a UTC datetime (no fraction when the microsecond is 0),
    ``None`` as ``null``.
``node-seed``
    ``JSON.stringify(entry)`` (insertion order, separators ``","`` and ``":"``, raw UTF-8),
    timestamp from ``Date.toISOString()`` (milliseconds, ``Z``), ``null`` as ``null`` and
    ``undefined`` omitted; a stored NULL may have been either, so both are tried.

A custom profile is a TOML file with the same knobs (see :func:`load_profile`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from .._files import read_toml
from ..errors import ProfileError

__all__ = ["BUILTIN_PROFILES", "HashProfile", "load_profile"]

SEED_FIELDS = (
    "id",
    "timestamp",
    "actor_id",
    "action",
    "resource_type",
    "resource_id",
    "result",
    "prev_hash",
)

_ESCAPES = {"ascii": 0, "raw": 1}
_TIMESTAMPS = {"python-isoformat": 0, "js-iso": 1}
_NULLS = {"null": 0, "omit": 1, "null-or-omit": 0}
_KEY_ORDERS = ("sorted", "insertion")


@dataclass(frozen=True)
class HashProfile:
    r"""How a producer computed each row's ``hash``.

    Parameters
    ----------
    name
        Short name shown in results (``python-seed``, ``node-seed`` or the TOML's name).
    fields
        Hashed field names in the producer's insertion order.
    key_order
        ``"sorted"`` (``sort_keys=True``) or ``"insertion"`` (the order of ``fields``).
    item_separator, key_separator
        The JSON separators between items and between a key and its value.
    escape
        ``"ascii"``: every character outside 0x20-0x7E escaped as ``\u`` and four hex
        digits (Python's ``ensure_ascii=True``); ``"raw"``: only ``"``, ``\`` and control characters
        escaped, the rest raw UTF-8 (``JSON.stringify``, ``ensure_ascii=False``).
    timestamp
        How a stored TIMESTAMPTZ is rendered back to the producer's text:
        ``"python-isoformat"`` or ``"js-iso"``. Text timestamps are hashed as stored.
    null
        ``"null"``, ``"omit"`` (the key is left out) or ``"null-or-omit"`` (either, per row).
    genesis
        The ``prev_hash`` of a chain's first entry.
    digest
        The digest algorithm; ``"sha256"`` (lowercase hex).
    """

    name: str
    fields: tuple[str, ...] = SEED_FIELDS
    key_order: str = "sorted"
    item_separator: str = ", "
    key_separator: str = ": "
    escape: str = "ascii"
    timestamp: str = "python-isoformat"
    null: str = "null"
    genesis: str = "GENESIS"
    digest: str = "sha256"
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        problems = []
        if not self.fields:
            problems.append("'fields' is empty")
        if len(set(self.fields)) != len(self.fields):
            problems.append("'fields' repeats a name")
        if "prev_hash" not in self.fields:
            problems.append("'fields' must include prev_hash (the chain link)")
        if self.key_order not in _KEY_ORDERS:
            problems.append(f"key_order must be one of {', '.join(_KEY_ORDERS)}")
        if self.escape not in _ESCAPES:
            problems.append(f"escape must be one of {', '.join(_ESCAPES)}")
        if self.timestamp not in _TIMESTAMPS:
            problems.append(f"timestamp must be one of {', '.join(_TIMESTAMPS)}")
        if self.null not in _NULLS:
            problems.append(f"null must be one of {', '.join(_NULLS)}")
        if self.digest != "sha256":
            problems.append("digest must be sha256")
        if problems:
            where = f" in {self.source}" if self.source else ""
            raise ProfileError(f"invalid hash profile {self.name!r}{where}: {'; '.join(problems)}")

    @property
    def ordered_fields(self) -> tuple[str, ...]:
        """The hashed fields in the order their keys appear in the hashed text."""
        return tuple(sorted(self.fields)) if self.key_order == "sorted" else self.fields

    def native_spec(self, *, omit_nulls: bool | None = None) -> tuple:
        """The spec tuple the kernel takes (keys, separators, modes).

        Each key is given as the producer wrote it between its quotes (JSON-escaped).
        """
        null_mode = _NULLS[self.null] if omit_nulls is None else int(omit_nulls)
        ascii_only = self.escape == "ascii"
        keys = (json.dumps(f, ensure_ascii=ascii_only)[1:-1] for f in self.ordered_fields)
        return (
            tuple(k.encode() for k in keys),
            self.item_separator.encode(),
            self.key_separator.encode(),
            _ESCAPES[self.escape],
            _TIMESTAMPS[self.timestamp],
            null_mode,
        )

    def describe(self) -> str:
        """One line saying how this profile builds the hashed text."""
        return (
            f"{self.name}: sha256 of JSON over {', '.join(self.ordered_fields)} "
            f"({self.key_order} keys, separators {self.item_separator!r} {self.key_separator!r}, "
            f"{self.escape} text, {self.timestamp} timestamps, nulls {self.null})"
        )


PYTHON_SEED = HashProfile(name="python-seed")
NODE_SEED = HashProfile(
    name="node-seed",
    key_order="insertion",
    item_separator=",",
    key_separator=":",
    escape="raw",
    timestamp="js-iso",
    null="null-or-omit",
)

BUILTIN_PROFILES: dict[str, HashProfile] = {p.name: p for p in (PYTHON_SEED, NODE_SEED)}

_TOML_KEYS = {
    "name",
    "fields",
    "key_order",
    "item_separator",
    "key_separator",
    "escape",
    "ensure_ascii",
    "timestamp",
    "null",
    "genesis",
    "digest",
    "based_on",
}


def load_profile(spec: str | Path | HashProfile) -> HashProfile:
    """Resolve a profile name or a TOML file into a :class:`HashProfile`.

    ``spec`` is ``python-seed``, ``node-seed`` or the path of a TOML file such as::

        name = "billing-service"
        based_on = "python-seed"          # optional: start from a built-in profile
        fields = ["id", "timestamp", "actor_id", "action", "prev_hash"]
        key_order = "sorted"              # or "insertion"
        item_separator = ", "
        key_separator = ": "
        escape = "ascii"                  # or "raw"  (ensure_ascii = true|false also works)
        timestamp = "python-isoformat"    # or "js-iso"
        null = "null"                     # or "omit", "null-or-omit"
        genesis = "GENESIS"
        digest = "sha256"

    ``auto`` is resolved by :func:`audit_analytics.chain.verify.detect_profile`, not here.
    """
    if isinstance(spec, HashProfile):
        return spec
    text = str(spec)
    if text in BUILTIN_PROFILES:
        return BUILTIN_PROFILES[text]
    path = Path(text)
    if path.suffix.lower() != ".toml":
        known = ", ".join(["auto", *BUILTIN_PROFILES])
        raise ProfileError(f"unknown profile {text!r}: use one of {known} or a .toml file")
    data = read_toml(path, what="profile file", error=ProfileError)
    return _profile_from_mapping(data, str(path))


def _profile_from_mapping(data: dict, source: str) -> HashProfile:
    unknown = sorted(set(data) - _TOML_KEYS)
    if unknown:
        raise ProfileError(f"unknown key(s) in profile {source}: {', '.join(unknown)}")
    base_name = data.get("based_on", "python-seed")
    if base_name not in BUILTIN_PROFILES:
        raise ProfileError(f"based_on in {source} must name a built-in profile, not {base_name!r}")
    values: dict = {}
    for key in ("name", "key_order", "item_separator", "key_separator", "escape", "timestamp",
                "null", "genesis", "digest"):
        if key in data:
            if not isinstance(data[key], str):
                raise ProfileError(f"{key} in profile {source} must be a string")
            values[key] = data[key]
    if "ensure_ascii" in data:
        if not isinstance(data["ensure_ascii"], bool):
            raise ProfileError(f"ensure_ascii in profile {source} must be true or false")
        values["escape"] = "ascii" if data["ensure_ascii"] else "raw"
    if "fields" in data:
        fields = data["fields"]
        if not isinstance(fields, list) or not all(isinstance(f, str) and f for f in fields):
            raise ProfileError(f"fields in profile {source} must be a list of column names")
        values["fields"] = tuple(fields)
    values.setdefault("name", Path(source).stem)
    return replace(BUILTIN_PROFILES[base_name], **values, source=source)
