"""Credentials never reach output, logs or stored records: the one masking rule."""

from __future__ import annotations

import re

__all__ = ["mask_secrets"]

# user:password@ in a URL's user-info; password=... (URL query or key/value strings)
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][\w+.-]*://[^:/@\s]*:)(?P<pw>[^@\s/]*)(?P<at>@)")
_KEYVALUE = re.compile(r"(?i)\b(password|passwd|pwd)=([^\s&;'\"]+)")


def mask_secrets(text: object) -> str:
    """``text`` with every password replaced by ``***``.

    >>> mask_secrets("postgresql://app:hunter2@db/prod?sslmode=require&password=x")
    'postgresql://app:***@db/prod?sslmode=require&password=***'
    """
    masked = _USERINFO.sub(lambda m: f"{m['head']}***{m['at']}", str(text))
    return _KEYVALUE.sub(lambda m: f"{m[1]}=***", masked)
