r"""Values from a log made safe to show: on a terminal line, in a report, in a chart.

An audit log is written by the systems it watches, so any value in it (an actor id, a
resource id, a user agent) may hold characters meant for the reader's screen rather
than for the record: ANSI and OSC escape sequences that retitle a terminal or erase a
line, a carriage return or newline that forges a line of output (``chain_integrity
PASS``), bidirectional overrides (U+202E) that reorder what a reviewer reads, zero-width
characters that make two ids look alike. Human output shows every such character as a
visible escape instead, and clips values too long to read; JSON keeps values exact.

Escaped (Unicode general categories Cc, Cf, Cs, Zl and Zp): the C0 controls (``\n``,
``\r``, ``\t`` and ``\xNN``), DEL and the C1 controls (``\x7f``...``\x9f``, which
include the single-character CSI and OSC introducers), the bidirectional embeddings,
overrides, isolates and marks (U+061C, U+200E-200F, U+202A-202E, U+2066-2069),
zero-width and other invisible format characters, the line and paragraph separators
(U+2028-2029) and lone surrogates, as ``\u`` and four hex digits (``\U`` and eight past
the BMP). A
backslash is left as it is.
"""

from __future__ import annotations

import re

from .errors import UsageError

__all__ = ["LIMIT", "escape_json", "printable", "shown", "terminal_text"]

#: Characters of a value shown before it is clipped.
LIMIT = 200

# C0 controls, then everything else escaped (see the module's docstring)
_C0 = "\x00-\x1f"
_OTHERS = (
    "\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)
_UNSAFE = re.compile(f"[{_C0}{_OTHERS}]")
_UNSAFE_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f{_OTHERS}]")
_UNSAFE_BUT_LAYOUT = re.compile(f"[\x00-\x08\x0b-\x1f{_OTHERS}]")  # tabs kept too
# json.dumps escapes the C0 controls itself; DEL, C1, bidi and the rest it writes raw
_JSON_RAW = re.compile(f"[{_OTHERS}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named:
        return named
    point = ord(char)
    if point < 0x100:
        return f"\\x{point:02x}"
    if point < 0x10000:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"


def printable(value) -> str:
    """``value`` as text with every control, format and bidi character escaped visibly.

    Parameters
    ----------
    value
        Any value; ``None`` becomes an empty string.

    Returns
    -------
    str
        One line of text that a terminal or a browser shows as it is written.
    """
    text = "" if value is None else str(value)
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def shown(value, limit: int | None = LIMIT, *, count: bool = True) -> str:
    """``value`` clipped to ``limit`` characters, then made printable (:func:`printable`).

    Parameters
    ----------
    value
        Any value; ``None`` becomes an empty string.
    limit
        Characters kept (``None``: the whole value).
    count
        After the ellipsis of a clipped value, state its full length (``… (1,048,576
        characters)``): the length of the value itself, before escaping.

    Returns
    -------
    str
        One line, at most ``limit`` characters of the value and their escapes.
    """
    if limit is not None and (type(limit) is not int or limit < 0):
        raise UsageError(f"limit must be None or a whole number of at least 0, not "
                         f"{printable(repr(limit))[:80]}", argument="limit")
    text = "" if value is None else str(value)
    if limit is not None and len(text) > limit:
        kept = printable(text[:limit])
        return kept + "\u2026" + (f" ({len(text):,} characters)" if count else "")
    return printable(text)


def terminal_text(text: str, *, tabs: bool = False) -> str:
    r"""Multi-line output with every unsafe character escaped except the line breaks.

    The last guard before a terminal: values are escaped where they are formatted
    (:func:`shown`), so a newline left here is the output's own layout. With ``tabs``
    the tabs are kept too, for output whose columns are tab-separated (each value in it
    escaped by :func:`shown`, which writes a tab inside a value as ``\t``).
    """
    unsafe = _UNSAFE_BUT_LAYOUT if tabs else _UNSAFE_BUT_NEWLINE
    return unsafe.sub(_escape, text) if unsafe.search(text) else text


def escape_json(text: str) -> str:
    r"""JSON text with DEL, C1, bidi and other invisible characters as ``\u`` escapes.

    The document parses to exactly the same values; only the characters a terminal would
    act on (or a reader would not see) are written as escapes. Astral characters are
    written as their UTF-16 surrogate pair, as JSON requires.
    """
    def escape(match: re.Match) -> str:
        point = ord(match.group())
        if point < 0x10000:
            return f"\\u{point:04x}"
        point -= 0x10000
        return f"\\u{0xd800 + (point >> 10):04x}\\u{0xdc00 + (point & 0x3ff):04x}"

    return _JSON_RAW.sub(escape, text) if _JSON_RAW.search(text) else text
