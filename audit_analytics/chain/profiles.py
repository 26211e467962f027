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

A custom profile is a TOML file with the same knobs (see :func:`load_profile`), or one
that describes any other producer: which source column plays each role (``columns``), the
hashed text as a DuckDB SQL expression over the stored columns (``text = "sql"``), the
digest (SHA-2, SHA-1, MD5, SHA3-256 or a keyed HMAC), how digests are stored (``encoding``),
the genesis value and, for producers that store no link, the order that chains the rows
(``order_by``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from .._files import read_small_file, read_toml
from .._text import shown
from ..errors import ProfileError, UsageError

__all__ = ["BUILTIN_PROFILES", "DIGEST_SIZES", "ENCODINGS", "HashProfile", "load_profile",
           "profile_argument"]

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
_TEXTS = ("json", "sql")
#: Digest name -> its size in bytes.
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64, "sha1": 20, "md5": 16,
                "sha3-256": 32, "hmac-sha256": 32, "hmac-sha512": 64}
#: How a digest is stored: lowercase hex, uppercase hex, standard padded base64.
ENCODINGS = ("hex", "HEX", "base64")
_KEY_LIMIT = 64 << 10


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
        The digest: one of :data:`DIGEST_SIZES` (``hmac-*`` are keyed).
    columns
        ``(role, stored column)`` pairs: which stored column plays each event-schema role.
    text
        ``"json"`` (the knobs above build the text) or ``"sql"`` (``expression`` does).
    expression
        With ``text="sql"``: a DuckDB SQL expression over the stored column names whose
        value is the exact text the producer hashed.
    encoding
        How ``hash`` and ``prev_hash`` are stored: one of :data:`ENCODINGS`.
    key_env, key_file
        HMAC only: where the key is read from (an environment variable, or a file whose
        text is the key, a final newline removed). The key itself is never shown.
    null_prev_is_genesis
        A NULL ``prev_hash`` starts a chain, like the genesis value.
    order_by
        For producers that store no link: each row's predecessor is the row before it in
        this column's order (``prev_hash`` is then the predecessor's stored hash).
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
    columns: tuple[tuple[str, str], ...] = ()
    text: str = "json"
    expression: str | None = None
    encoding: str = "hex"
    key_env: str | None = None
    key_file: str | None = None
    null_prev_is_genesis: bool = False
    order_by: str | None = None
    key: bytes | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = self._type_problems()
        if problems:
            raise ProfileError(f"invalid hash profile {shown(repr(self.name), 80)}: "
                               f"{'; '.join(problems)}")
        if self.text == "json":
            if not self.fields:
                problems.append("'fields' is empty")
            if len(set(self.fields)) != len(self.fields):
                problems.append("'fields' repeats a name")
            if "prev_hash" not in self.fields and not self.order_by:
                problems.append("'fields' must include prev_hash (the chain link)")
            if self.expression is not None:
                problems.append("expression needs text = \"sql\"")
        elif self.text == "sql":
            if not isinstance(self.expression, str) or not self.expression.strip():
                problems.append("text = \"sql\" needs an expression")
        else:
            problems.append(f"text must be one of {', '.join(_TEXTS)}")
        problems += self._link_problems()
        if self.key_order not in _KEY_ORDERS:
            problems.append(f"key_order must be one of {', '.join(_KEY_ORDERS)}")
        if self.escape not in _ESCAPES:
            problems.append(f"escape must be one of {', '.join(_ESCAPES)}")
        if self.timestamp not in _TIMESTAMPS:
            problems.append(f"timestamp must be one of {', '.join(_TIMESTAMPS)}")
        if self.null not in _NULLS:
            problems.append(f"null must be one of {', '.join(_NULLS)}")
        if self.digest not in DIGEST_SIZES:
            problems.append(f"digest must be one of {', '.join(DIGEST_SIZES)}")
        if self.encoding not in ENCODINGS:
            problems.append(f"encoding must be one of {', '.join(ENCODINGS)}")
        keyed = self.digest.startswith("hmac-")
        if not keyed and (self.key_env or self.key_file or self.key is not None):
            problems.append("key_env and key_file apply to hmac-sha256 and hmac-sha512 only")
        if keyed and self.key_env and self.key_file:
            problems.append("give key_env or key_file, not both")
        if keyed and self.key is None and not (self.key_env or self.key_file):
            problems.append(f"{self.digest} needs key_env or key_file")
        where = f" in {self.source}" if self.source else ""
        if problems:
            raise ProfileError(f"invalid hash profile {self.name!r}{where}: {'; '.join(problems)}")
        if self.text == "sql":  # refused here, before any source is read
            from .functions import check_expression

            check_expression(self.expression, self.name)
        if keyed and self.key is None:
            object.__setattr__(self, "key", self._read_key(where))

    def _type_problems(self) -> list[str]:
        """What is not of its type (lists of fields and columns become tuples)."""
        problems = []
        if not isinstance(self.name, str) or not self.name.strip():
            problems.append("name must be non-empty text")
        if isinstance(self.fields, list):
            object.__setattr__(self, "fields", tuple(self.fields))
        if not isinstance(self.fields, tuple) or not all(
                isinstance(f, str) and f for f in self.fields):
            problems.append("fields must be a list of column names")
        for key in ("key_order", "item_separator", "key_separator", "escape", "timestamp",
                    "null", "genesis", "digest", "text", "encoding"):
            if not isinstance(getattr(self, key), str):
                problems.append(f"{key} must be text")
        for key in ("expression", "key_env", "key_file", "order_by", "source"):
            if getattr(self, key) is not None and not isinstance(getattr(self, key), str):
                problems.append(f"{key} must be text")
        columns = self.columns
        if isinstance(columns, dict):
            columns = tuple(columns.items())
        if isinstance(columns, list | tuple) and all(
                isinstance(pair, list | tuple) and len(pair) == 2 for pair in columns):
            object.__setattr__(self, "columns", tuple(tuple(pair) for pair in columns))
        else:
            problems.append("columns must be (role, column) pairs")
        if not isinstance(self.null_prev_is_genesis, bool):
            problems.append("null_prev_is_genesis must be true or false")
        if self.key is not None and not isinstance(self.key, bytes):
            problems.append("key must be bytes")
        return problems

    def _link_problems(self) -> list[str]:
        problems = []
        roles = [r for r, _ in self.columns]
        stored = [c for _, c in self.columns]
        if not all(isinstance(x, str) and x for pair in self.columns for x in pair):
            problems.append("columns must map role names to column names")
        elif len(set(roles)) != len(roles) or len(set(stored)) != len(stored):
            problems.append("columns repeats a role or a column")
        if self.order_by is not None:
            if not isinstance(self.order_by, str) or not self.order_by:
                problems.append("order_by must name a column")
            if "prev_hash" in roles:
                problems.append("with order_by, prev_hash is not a column (it is the "
                                "predecessor's hash)")
        return problems

    def _read_key(self, where: str) -> bytes:
        """The HMAC key from ``key_env`` or ``key_file`` (never shown in a message)."""
        if self.key_env:
            value = os.environ.get(self.key_env)
            if not value:
                raise ProfileError(f"hash profile {self.name!r}{where} reads its HMAC key from "
                                   f"${self.key_env}, which is not set")
            return value.encode()
        text = read_small_file(self.key_file, what="HMAC key file", limit=_KEY_LIMIT,
                               error=ProfileError)
        text = text[:-1] if text.endswith("\n") else text
        text = text[:-1] if text.endswith("\r") else text
        if not text:
            raise ProfileError(f"HMAC key file {self.key_file} is empty")
        return text.encode()

    @property
    def column_map(self) -> dict[str, str]:
        """Role -> stored column, for the roles the profile maps."""
        return dict(self.columns)

    @property
    def digest_size(self) -> int:
        """The digest's size in bytes."""
        return DIGEST_SIZES[self.digest]

    @property
    def native_default(self) -> bool:
        """True when the kernel's own path applies: SHA-256 stored as lowercase hex."""
        return self.digest == "sha256" and self.encoding == "hex"

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
        """One line saying how this profile builds the hashed text (never the key)."""
        stored = f", stored as {self.encoding}" if self.encoding != "hex" else ""
        if self.text == "sql":
            return f"{self.name}: {self.digest} of the SQL expression {self.expression!r}{stored}"
        return (
            f"{self.name}: {self.digest} of JSON over {', '.join(self.ordered_fields)} "
            f"({self.key_order} keys, separators {self.item_separator!r} {self.key_separator!r}, "
            f"{self.escape} text, {self.timestamp} timestamps, nulls {self.null}){stored}"
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
    "columns",
    "text",
    "expression",
    "encoding",
    "key_env",
    "key_file",
    "null_prev_is_genesis",
    "order_by",
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
        digest = "sha256"                 # sha384, sha512, sha1, md5, sha3-256,
                                          # hmac-sha256, hmac-sha512 (with key_env/key_file)
        encoding = "hex"                  # or "HEX", "base64"

    or, for a producer that hashes text of its own::

        name = "records-trigger"
        columns = { id = "event_id", timestamp = "logged_at", hash = "row_hash",
                    prev_hash = "prior_hash" }
        text = "sql"
        expression = "prior_hash || '|' || CAST(event_id AS VARCHAR) || '|' || action"
        genesis = "0000000000000000000000000000000000000000000000000000000000000000"
        null_prev_is_genesis = false
        order_by = "id"                   # only for producers that store no link

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
                "null", "genesis", "digest", "text", "expression", "encoding", "key_env",
                "key_file", "order_by"):
        if key in data:
            if not isinstance(data[key], str):
                raise ProfileError(f"{key} in profile {source} must be a string")
            values[key] = data[key]
    if "key_file" in values:
        values["key_file"] = str((Path(source).parent / values["key_file"]).expanduser())
    if "null_prev_is_genesis" in data:
        if not isinstance(data["null_prev_is_genesis"], bool):
            raise ProfileError(f"null_prev_is_genesis in profile {source} must be true or false")
        values["null_prev_is_genesis"] = data["null_prev_is_genesis"]
    if "columns" in data:
        cols = data["columns"]
        if not isinstance(cols, dict) or not all(isinstance(v, str) for v in cols.values()):
            raise ProfileError(f"columns in profile {source} must be a table of role = "
                               "\"column\" pairs")
        values["columns"] = tuple(cols.items())
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


def profile_argument(profile, *, optional: bool = False) -> None:
    """Refuse a profile argument that is neither a name, a TOML path nor a HashProfile."""
    if profile is None and optional:
        return
    if not isinstance(profile, str | os.PathLike | HashProfile):
        raise UsageError(f"profile must be a name, a TOML path or a HashProfile, not "
                         f"{shown(repr(profile), 80)}", argument="profile")
