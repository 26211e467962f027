"""The row-wise reference: a producer's hashed text and digest, one row at a time.

This is the plain definition the native kernel is tested against, what a reader checks
one event by hand with, and what the pure-Python kernel (``_pykernel``) renders with. It
is deliberately simple: each value is written by :mod:`json` exactly as the producer's
``json.dumps`` or ``JSON.stringify`` wrote it, and the items are joined with the
producer's separators.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring, encode_basestring_ascii

from .profiles import HashProfile

__all__ = ["TextForm", "canonical_text", "format_timestamp", "render_timestamp", "row_digest"]

_ESCAPES = ("ascii", "raw")
_TIMESTAMPS = ("python-isoformat", "js-iso")


def format_timestamp(moment: datetime, style: str) -> str:
    """A moment as the producer wrote it: ``"python-isoformat"`` or ``"js-iso"``.

    ``python-isoformat`` is ``datetime.isoformat()`` of the UTC moment (no fraction when
    the microsecond is 0); ``js-iso`` is ``Date.toISOString()`` (milliseconds, ``Z``).
    A naive moment is taken as UTC.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    if style == "js-iso":
        return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
                f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z")
    return moment.isoformat() + "+00:00"  # what isoformat() writes for a UTC moment


def render_timestamp(profile: HashProfile, value: object) -> object:
    """Render a timestamp as the producer did; text is returned as stored."""
    if not isinstance(value, datetime):
        return value
    return format_timestamp(value, profile.timestamp)


@dataclass(frozen=True)
class TextForm:
    """How a producer writes one row's hashed text; the kernel's spec, in Python terms.

    Parameters
    ----------
    keys
        Each item's key text as written between its quotes, in order.
    item_separator, key_separator
        The separators between items and between a key and its value.
    ascii
        Strings escaped as ``json.dumps(ensure_ascii=True)`` does, else as
        ``ensure_ascii=False`` (``JSON.stringify``) does.
    timestamp
        How a datetime value is written (see :func:`format_timestamp`).
    omit_nulls
        A null value leaves its item out, instead of writing ``null``.
    """

    keys: tuple[str, ...]
    item_separator: str
    key_separator: str
    ascii: bool
    timestamp: str
    omit_nulls: bool
    _encode: object = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        encoder = json.JSONEncoder(ensure_ascii=self.ascii,
                                   separators=(self.item_separator, self.key_separator))
        object.__setattr__(self, "_encode", encoder.encode)

    @classmethod
    def from_spec(cls, spec: tuple) -> TextForm:
        """The form of a kernel spec ``(keys, item_sep, kv_sep, escape, ts, null)``.

        The byte strings are decoded as UTF-8, with undecodable bytes kept (they come back
        unchanged in the text).
        """
        keys, item_sep, kv_sep, escape, ts_mode, null_mode = spec
        return cls(
            keys=tuple(_text(k) for k in keys),
            item_separator=_text(item_sep),
            key_separator=_text(kv_sep),
            ascii=_ESCAPES[escape] == "ascii",
            timestamp=_TIMESTAMPS[ts_mode],
            omit_nulls=bool(null_mode),
        )

    def value(self, value: object) -> str:
        """One value's JSON text (a datetime written in the form's timestamp style)."""
        if isinstance(value, datetime):
            value = format_timestamp(value, self.timestamp)
        if type(value) is int:
            return int.__repr__(value)
        return self._encode(value)

    def texts(self, columns: Sequence[Sequence]) -> list[bytes]:
        """The text of every row of ``columns`` (one sequence of values per key)."""
        if len(columns) != len(self.keys):
            raise ValueError(f"{len(self.keys)} keys but {len(columns)} columns")
        if not self.keys:
            return []
        values = [self._json(column) for column in columns]  # None for a null
        # a row with every value present fills one template; the others list their items
        leads = [f'"{key}"{self.key_separator}' for key in self.keys]
        template = "{" + self.item_separator.replace("%", "%%").join(
            lead.replace("%", "%%") + "%s" for lead in leads) + "}"
        null = None if self.omit_nulls else "null"
        out = []
        for row in zip(*values):
            if None in row:
                items = [lead + (null if v is None else v)
                         for lead, v in zip(leads, row) if v is not None or null]
                text = "{" + self.item_separator.join(items) + "}"
            else:
                text = template % row
            out.append(text.encode("utf-8", "surrogateescape"))
        return out

    def _json(self, values: Sequence) -> list[str | None]:
        """Each value's JSON text, None for a null."""
        kinds = set(map(type, values)) - {type(None)}
        if kinds == {str}:  # what JSONEncoder.encode does for a str, without its dispatch
            quote = encode_basestring_ascii if self.ascii else encode_basestring
            return [None if v is None else quote(v) for v in values]
        if kinds == {datetime}:
            style = self.timestamp
            quote = encode_basestring_ascii if self.ascii else encode_basestring
            return [None if v is None else quote(format_timestamp(v, style)) for v in values]
        if kinds == {int}:
            return [None if v is None else int.__repr__(v) for v in values]
        return [None if v is None else self.value(v) for v in values]

    def text(self, values: Sequence) -> bytes:
        """The text of one row (its values in key order)."""
        if not self.keys:
            return b"{}"
        return self.texts([[v] for v in values])[0]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def canonical_text(profile: HashProfile, row: Mapping, *, omit_nulls: bool | None = None) -> bytes:
    """The exact bytes ``profile``'s producer hashed for ``row``."""
    form = TextForm.from_spec(profile.native_spec(omit_nulls=omit_nulls))
    return form.text([row.get(name) for name in profile.ordered_fields])


def row_digest(profile: HashProfile, row: Mapping, *, omit_nulls: bool | None = None) -> str:
    """The digest ``profile``'s producer stored as ``row``'s hash, in its encoding.

    A JSON profile's text only: a ``text = "sql"`` profile's text is its expression's.
    """
    text = canonical_text(profile, row, omit_nulls=omit_nulls)
    if profile.digest.startswith("hmac-"):
        raw = hmac.digest(profile.key, text, profile.digest[5:])
    else:
        raw = hashlib.new(profile.digest.replace("-", "_"), text).digest()
    if profile.encoding == "base64":
        return base64.b64encode(raw).decode()
    return raw.hex().upper() if profile.encoding == "HEX" else raw.hex()
