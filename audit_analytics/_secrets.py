r"""Credentials never reach output, logs or stored records: the one masking rule.

:func:`mask_secrets` replaces every password with ``***``. A password is found the way
the software that reads the connection finds it, never by guessing which characters a
password holds, so one holding ``/``, a space, ``;``, ``:``, ``?`` or ``%``-escapes is
masked whole:

- **a URL's user-info** (``scheme://user:password@host/...``): split as SQLAlchemy's
  ``make_url`` splits it (the toolkit connects through it): the user name runs to the
  first ``:`` or ``/``, the password from there to the next ``@``;
- **a URL's query** (``?password=...``, ``&password=...``): the value runs to the next
  ``&``, as ``urllib.parse.parse_qsl`` reads it;
- **libpq key/value strings** (``host=db password='a b;c' dbname=app``): the value is a
  single-quoted string (``\'`` and ``\\`` escaped) or a run of non-blank characters, as
  libpq's conninfo grammar says; also such a string inside a SQL literal (``''a b''``),
  double-quoted and ODBC ``{...}`` values, and the names ``passwd`` and ``pwd``;
- **every password the toolkit has read from a connection** (:func:`remember`, called by
  the PostgreSQL source and the S3 settings) **and** ``$PGPASSWORD``,
  ``$AWS_SECRET_ACCESS_KEY`` and ``$AWS_SESSION_TOKEN``: wherever one appears verbatim, raw or
  percent-encoded (a driver echoing it), when it is at least :data:`MIN_ECHOED` characters
  long (a shorter one would turn every matching word of a message into ``***``; it is still
  masked wherever it stands as a password).

In free text a URL's end is not marked, so the value of a query password runs to the end
of the line: more may be masked than the password, never less. A value that already is
``***`` is left as it is, so masking twice gives what masking once gave.

>>> mask_secrets("postgresql://app:hun/ter 2@db/prod?sslmode=require&password=a b;c")
'postgresql://app:***@db/prod?sslmode=require&password=***'
>>> mask_secrets("host=db password='a b;c' dbname=app")
'host=db password=*** dbname=app'
"""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import quote, quote_plus

__all__ = ["MIN_ECHOED", "MaskingFilter", "mask_secrets", "remember"]

MASK = "***"
#: Shortest password replaced wherever it appears (see the module docstring).
MIN_ECHOED = 6

# The user-info of a URL, as SQLAlchemy's make_url reads it: ``user:password@``.
_SCHEME = re.compile(r"(?<![\w+.-])[a-zA-Z][\w+.-]*://")
_USERINFO = re.compile(r"[^:/\n]*:(?P<pw>[^@\n]*)@")
# A password keyword: in a URL query (after ? or &) or in a key/value string.
_KEYWORD = re.compile(r"(?i)(?P<lead>[?&])?(?<![\w.-])(?:password|passwd|pwd)\s*=[ \t]*")
_QUERY_VALUE = re.compile(r"[^&\n]*")
# Quoted values: libpq's '...' (backslash escapes), the same inside a SQL literal (''...''),
# "..." and ODBC's {...}; unterminated, they run to the end of the line.
_QUOTED_VALUES = {
    "''": re.compile(r"''(?:[^'\\\n]|\\.|'(?!'))*(?:'')?"),
    "'": re.compile(r"'(?:[^'\\\n]|\\.)*'?"),
    '"': re.compile(r'"(?:[^"\\\n]|\\.)*"?'),
    "{": re.compile(r"\{(?:[^}\n]|\}\})*\}?"),
}
_BARE_VALUE = re.compile(r"(?:[^\s\\]|\\.)*")
_ALREADY = re.compile(r"\*\*\*(?=[\s&'\";,)]|$)")

_remembered: set[str] = set()
#: Environment variables holding a secret, masked wherever their value appears.
_SECRET_VARIABLES = ("PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def remember(secret: str | None) -> None:
    """Mask ``secret`` wherever it appears from now on (in this process).

    Called with every password read from a connection URL, so that a driver message
    that echoes it is masked too.
    """
    if secret:
        _remembered.add(str(secret))


def _echoes() -> list[str]:
    """The remembered passwords and ``$PGPASSWORD``, in every spelling a URL gives them."""
    secrets = set(_remembered)
    for name in _SECRET_VARIABLES:
        if env := os.environ.get(name):
            secrets.add(env)
    forms = set()
    for secret in secrets:
        if len(secret) >= MIN_ECHOED:
            forms.update({secret, quote(secret, safe=""), quote(secret, safe=" +"),
                          quote_plus(secret)})
    return sorted(forms, key=len, reverse=True)  # the longest first: no partial leftovers


def _mask_userinfo(text: str) -> str:
    out, pos = [], 0
    for scheme in _SCHEME.finditer(text):
        if scheme.start() < pos:
            continue
        found = _USERINFO.match(text, scheme.end())
        if found is None:
            continue
        out.append(text[pos:found.start("pw")])
        out.append(MASK)
        pos = found.end("pw")
    out.append(text[pos:])
    return "".join(out)


def _mask_keywords(text: str) -> str:
    out, pos = [], 0
    for key in _KEYWORD.finditer(text):
        if key.start() < pos:
            continue
        start = key.end()
        if _ALREADY.match(text, start):
            continue
        if key["lead"]:
            value = _QUERY_VALUE.match(text, start)
        else:
            opener = next((q for q in _QUOTED_VALUES if text.startswith(q, start)), None)
            value = (_QUOTED_VALUES[opener] if opener else _BARE_VALUE).match(text, start)
        if value.end() == start:  # an empty value hides nothing
            continue
        out.append(text[pos:start])
        out.append(MASK)
        pos = value.end()
    out.append(text[pos:])
    return "".join(out)


def mask_secrets(text: object, *, echoes: bool = True) -> str:
    """``text`` with every password replaced by ``***`` (see the module docstring).

    ``echoes=False`` applies the structural rules alone (user-info, ``password=``...), not
    the remembered and environment passwords: the answer then depends on the text only,
    never on the process (what a canonical identity needs).
    """
    masked = str(text)
    if echoes:
        for form in _echoes():
            masked = masked.replace(form, MASK)
    return _mask_keywords(_mask_userinfo(masked))


class MaskingFilter(logging.Filter):
    """A logging filter that masks passwords in every record's message."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102 - logging's API
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


logging.getLogger("audit_analytics").addFilter(MaskingFilter())
