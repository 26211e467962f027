r"""Showing a log's values in a notebook: tables and plots that draw values as written.

A query result is a plain :class:`pandas.DataFrame` holding the values exactly; a
notebook that shows it as it is lets an actor id with an ANSI sequence, a bidi override
or a newline reach the reader (pandas escapes HTML, not those). :func:`display_frame`
shows a frame with every cell and index label made printable
(:func:`audit_analytics._text.shown`), leaving the data itself untouched.
:func:`plot_style` turns matplotlib's mathtext off as the report's charts do
(:mod:`audit_analytics.report.charts`), so an actor id ``$\x$`` is drawn literally
instead of failing to parse as a formula.

>>> import pandas as pd
>>> styled = display_frame(pd.DataFrame({"actor_id": ["u-1\x1b[2J"]}))
>>> "u-1\\x1b[2J" in styled.to_html()
True
"""

from __future__ import annotations

import pandas as pd

from ._text import LIMIT, shown
from .errors import UsageError

__all__ = ["display_frame", "plot_style", "shown"]


def display_frame(frame: pd.DataFrame, limit: int | None = LIMIT):
    """``frame`` ready to display: every value and label printable, the data unchanged.

    Parameters
    ----------
    frame
        Any DataFrame (a query result, a check's findings).
    limit
        Characters shown of a text value before it is clipped (``None``: all).

    Returns
    -------
    pandas.io.formats.style.Styler
        Renders as an escaped HTML table in a notebook; ``.data`` is ``frame`` itself.
    """
    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"frame must be a pandas DataFrame, not {type(frame).__name__}",
                         argument="frame")
    shown("", limit)  # a limit that is not a whole number of at least 0: UsageError

    def cell(value) -> str:
        return shown(value, limit)

    text = [c for c in frame.columns if frame[c].dtype == object or
            pd.api.types.is_string_dtype(frame[c].dtype)]
    return (frame.style.format(cell, subset=text, escape="html")
            .format_index(cell, escape="html", axis=0)
            .format_index(cell, escape="html", axis=1))


def plot_style() -> dict:
    """Set matplotlib's options so that values are drawn as text, as in the report.

    Mathtext is turned off (``text.parse_math``): ``$x$`` in an actor id is not a formula.
    Call it once before plotting; label values are best passed through
    :func:`audit_analytics._text.printable` too (a newline would break a tick label).

    Returns
    -------
    dict
        The options set.
    """
    import matplotlib

    options = {"text.parse_math": False, "text.usetex": False}
    matplotlib.rcParams.update(options)
    return options
