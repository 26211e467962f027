"""The toolkit's own access journal: who read which audit log, when, how, with what result.

Reading audit logs is itself an auditable act (HIPAA 164.312(b), PCI DSS 10.2.1.3, SOC 2
CC7.2). Every API call and command that reads a source (``open``, ``verify``, ``sql``,
``report``...) appends one line to ``journal.jsonl`` in the toolkit's home folder
(``$AUDIT_ANALYTICS_HOME``, default ``~/.local/share/audit_analytics``)::

    {"id": "...", "timestamp": "2024-02-01T06:00:03.120443+00:00",
     "actor_id": "alice", "action": "verify", "resource_type": "audit_log",
     "resource_id": "postgresql://app:***@db/prod", "result": "success",
     "prev_hash": "...", "hash": "...", "parameters": {"profile": "auto"}, ...}

The lines are hash-chained with the ``python-seed`` profile (the hash covers ``id``,
``timestamp``, ``actor_id``, ``action``, ``resource_type``, ``resource_id``, ``result``
and ``prev_hash``; ``parameters``, ``command``, ``host``, ``pid``, ``session`` (one id per
process) and ``error`` are details the hash does not cover, and :func:`verify` names them
as unprotected).

``resource_id`` is the source as it was named (masked), kept for people; ``source_id`` is
its canonical identity (:func:`~audit_analytics.sources.identity.source_identity`: one key
for ``./clean.parquet``, ``clean.parquet`` and ``/srv/audit/clean.parquet``, never a
credential). It is stored beside the hashed fields and the entry's ``id`` commits to it
(:func:`~audit_analytics.trail._chainfile.bound_id`), so an edited ``source_id`` is
evidence of tampering like an edited hashed field: :meth:`Journal.verify` reports it as a
``hash_mismatch`` of that line, and readers ignore it. Readers (:meth:`Journal.access_rows`,
the ``log_access`` check, ``journal show --source``) match on the identity. An entry
without a valid ``source_id`` (written before it existed, or edited) counts by the identity
of its ``resource_id``, computed when it is read: best effort, as a relative path there
resolves against the reader's working directory.

A damaged line (cut short by a crash, or edited) never stops journaling: later entries
chain from the last intact one and ``journal verify`` reports the damage.
Appends hold an exclusive ``flock``; ``audit-analytics journal verify`` checks the chain.

What a process records goes through one :class:`Recorder` (:data:`RECORDER`, which the
CLI gives its ``--actor``, ``--home`` and command name; :func:`record`, :func:`suspended`,
:func:`set_context` and :func:`current_actor` are its methods). The review ledger takes
its actor and home from the same recorder.

Who: ``--actor`` / :func:`set_context`, else ``$AUDIT_ANALYTICS_ACTOR``, else the OS user.
Turn journaling off with ``AUDIT_ANALYTICS_JOURNAL=off`` or ``AuditLog(..., journal=False)``
(the toolkit does so for its own internal reads). A journal that cannot be written never
stops an analysis: one warning is logged and the work goes on.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import _args
from .._secrets import mask_secrets
from .._text import shown
from ..errors import LedgerError, UsageError
from ..periods import parse_when
from ..sources.identity import source_identity
from ._chainfile import ChainFile, binding_problem, default_home

if TYPE_CHECKING:  # pandas loads lazily: opening a log stays cheap
    import pandas as pd

__all__ = [
    "RECORDER",
    "SESSION",
    "Journal",
    "Recorder",
    "current_actor",
    "enabled",
    "mask_source",
    "record",
    "same_source",
    "set_context",
    "source_key",
    "source_label",
    "suspended",
]

log = logging.getLogger("audit_analytics")

FILENAME = "journal.jsonl"
RESOURCE_TYPE = "audit_log"
#: The details an entry's ``id`` commits to.
BOUND = ("source_id",)
#: What an access entry says of the read: it succeeded or failed.
RESULTS = ("success", "failure")
_HOST = socket.gethostname()
#: This process's id in the journal's ``session`` detail (a review leaves its own reads out).
SESSION = uuid.uuid4().hex


def mask_source(label: object) -> str:
    """A source label safe to store and print: ``postgresql://u:***@h/db``.

    Passwords in a URL's user-info and ``password=...`` parameters are replaced by ``***``.
    """
    return mask_secrets(label)


def source_label(source: object) -> str:
    """The masked text a source is shown by: a source's label, or the text given."""
    from ..sources.base import Source

    return mask_source(source.label if isinstance(source, Source) else source)


def source_key(source: object) -> str:
    """The canonical identity key of a source or of its text (see :mod:`..sources.identity`)."""
    return source_identity(source).key


def same_source(frame: pd.DataFrame, source: object, spelling: str,
                stored: str = "source_id") -> pd.Series:
    """Which rows of ``frame`` (journal or ledger entries) are about ``source``.

    A row's identity is its ``stored`` key when it has one (a non-empty text), else the
    identity of its ``spelling`` column (an entry written before identities were stored;
    computed once per distinct spelling). A row with neither matches nothing.
    """
    import pandas as pd

    wanted = source_key(source)
    spellings: dict[str, str] = {}

    def key_of(stored_key, spelled) -> str | None:
        if isinstance(stored_key, str) and stored_key:
            return stored_key
        if not isinstance(spelled, str):
            return None
        if spelled not in spellings:
            spellings[spelled] = source_key(spelled)
        return spellings[spelled]

    ids = frame[stored] if stored in frame else [None] * len(frame)
    return pd.Series([key_of(i, s) == wanted for i, s in zip(ids, frame[spelling])],
                     index=frame.index, dtype=bool)


def enabled() -> bool:
    """False when ``AUDIT_ANALYTICS_JOURNAL`` is ``off`` (or ``0``, ``false``, ``no``)."""
    value = os.environ.get("AUDIT_ANALYTICS_JOURNAL", "on").strip().lower()
    return value not in ("off", "0", "false", "no")


class Journal:
    """The access journal in a home folder.

    Parameters
    ----------
    home
        The toolkit's home folder (default: the recorder's, else see
        :func:`audit_analytics.trail._chainfile.default_home`).
    recorder
        Whose context (actor, home, command) the entries carry (default: :data:`RECORDER`).
    """

    def __init__(self, home: str | os.PathLike | None = None, *,
                 recorder: Recorder | None = None) -> None:
        self.recorder = _recorder_argument(recorder)
        self.home = default_home(_args.path(home, "home", optional=True) or self.recorder.home)
        self.path = self.home / FILENAME
        self._file = ChainFile(self.path, "journal")

    def append(self, action: str, source: object, *, result: str = "success",
               parameters: Mapping | None = None, actor: str | None = None,
               error: str | None = None, source_id: str | None = None) -> dict:
        """Append one access entry and return it.

        ``source`` is a :class:`~audit_analytics.sources.base.Source` or the text a source
        was named by: its masked label is the ``resource_id``, its canonical identity the
        ``source_id`` (unless given: a source that could not be opened has no object that
        knows its table).
        """
        _args.text(action, "action")
        if result not in RESULTS:
            raise UsageError(f"result must be {' or '.join(RESULTS)}, not "
                             f"{shown(repr(result), 80)}", argument="result")
        if parameters is not None and not isinstance(parameters, Mapping):
            raise UsageError(f"parameters must be a mapping, not {type(parameters).__name__}",
                             argument="parameters")
        _args.text(actor, "actor", optional=True)
        _args.text(error, "error", optional=True, empty=True)
        _args.text(source_id, "source_id", optional=True)
        details = {
            "parameters": {k: mask_source(v) if isinstance(v, str) else v
                           for k, v in (parameters or {}).items()},
            "command": self.recorder.command,
            "host": _HOST,
            "pid": os.getpid(),
            "session": SESSION,
        }
        if error:
            details["error"] = mask_source(error)
        return self._file.append(
            {"actor_id": self.recorder.current_actor(actor), "action": action,
             "resource_type": RESOURCE_TYPE, "resource_id": source_label(source),
             "result": result},
            details, bind={"source_id": source_id or source_key(source)},
        )

    def entries(self) -> pd.DataFrame:
        """Every entry as a DataFrame in the event schema (timestamp typed, UTC).

        ``source_id`` is the identity the entry's ``id`` commits to; ``None`` for an entry
        written before identities were recorded, or whose ``source_id`` was edited
        (:meth:`verify` names it).
        """
        import pandas as pd

        rows = [e if binding_problem(e, BOUND) is None else {**e, "source_id": None}
                for e in self._file.read() if "__line_error" not in e]
        columns = ["id", "timestamp", "actor_id", "action", "resource_type", "resource_id",
                   "source_id", "result", "parameters", "command", "host", "pid", "session",
                   "error", "prev_hash", "hash"]
        frame = pd.DataFrame.from_records(rows, columns=columns)
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce",
                                            format="ISO8601")
        frame["actor_type"] = "user"
        return frame

    def access_rows(self, source: object | None = None, since=None, until=None, *,
                    others_only: bool = False) -> pd.DataFrame:
        """Entries about ``source`` within ``[since, until)``, for checks.

        ``source`` (a :class:`~audit_analytics.sources.base.Source` or any spelling of one)
        is matched on its canonical identity (see :func:`same_source`). With
        ``others_only``, the entries this process wrote are left out.
        """
        import pandas as pd

        since = parse_when(since, "UTC", what="since")  # naive: UTC
        until = parse_when(until, "UTC", what="until")
        frame = self.entries()
        if source is not None:
            frame = frame[same_source(frame, source, "resource_id")]
        if since is not None:
            frame = frame[frame["timestamp"] >= pd.Timestamp(since)]
        if until is not None:
            frame = frame[frame["timestamp"] < pd.Timestamp(until)]
        if others_only:
            frame = frame[frame["session"] != SESSION]
        return frame.reset_index(drop=True)

    def verify(self):
        """Verify the journal (a ``VerifyResult``; ``None`` if the journal is empty).

        The chain is verified by the toolkit's verifier; an entry whose ``source_id`` is not
        what its ``id`` commits to is a ``hash_mismatch`` of its line as well.
        """
        result = self._file.verify()
        if result is None:
            return None
        for entry in self._file.read():
            problem = None if "__line_error" in entry else binding_problem(entry, BOUND)
            if problem is not None:
                result.add_finding({"kind": "hash_mismatch", "id": str(entry.get("id")),
                                    "row": f"{self.path} line {entry['__line']} ({problem})"})
        result.unprotected_fields = [f for f in result.unprotected_fields if f not in BOUND]
        return result

    def __len__(self) -> int:
        return len(self._file.read())


@dataclass
class Recorder:
    """Who acts and where the records go, and the journal entries written on their behalf.

    Parameters
    ----------
    actor, home, command
        The CLI's ``--actor``, ``--home`` and command name (``None``: the defaults).
    """

    actor: str | None = None
    home: str | None = None
    command: str | None = None
    _depth: int = 0
    warned: bool = False

    def set_context(self, *, actor: str | None = None, home: str | os.PathLike | None = None,
                    command: str | None = None) -> None:
        """Set the defaults (the CLI's ``--actor``, ``--home`` and command name)."""
        if actor is not None:
            self.actor = actor
        if home is not None:
            self.home = str(home)
        if command is not None:
            self.command = command

    def current_actor(self, actor: str | None = None) -> str:
        """Who acts: ``actor``, ``--actor``, ``$AUDIT_ANALYTICS_ACTOR`` or the OS user."""
        if actor:
            return actor
        if self.actor:
            return self.actor
        if env := os.environ.get("AUDIT_ANALYTICS_ACTOR"):
            return env
        try:
            return getpass.getuser()
        except (OSError, KeyError):  # no passwd entry (containers)
            return f"uid:{os.getuid()}"

    def record(self, action: str, source: object, *, result: str = "success",
               parameters: Mapping | None = None, error: str | None = None,
               source_id: str | None = None) -> dict | None:
        """Append an entry unless journaling is off or suspended; never raises.

        A journal that cannot be written logs one warning per recorder and returns ``None``.
        """
        if self._depth or not enabled():
            return None
        try:
            return Journal(recorder=self).append(action, source, result=result,
                                                 parameters=parameters, error=error,
                                                 source_id=source_id)
        except (LedgerError, OSError) as exc:
            if not self.warned:
                self.warned = True
                log.warning("access journal not written: %s", exc)
            return None

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Record nothing inside (an outer entry, such as ``report``, already covers it)."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1


#: The process's recorder: the CLI sets its context; the API records through it.
RECORDER = Recorder()
set_context = RECORDER.set_context
current_actor = RECORDER.current_actor
record = RECORDER.record
suspended = RECORDER.suspended


def _recorder_argument(recorder) -> Recorder:
    """``recorder``, or the process's own when ``None``."""
    if recorder is None:
        return RECORDER
    if not isinstance(recorder, Recorder):
        raise UsageError(f"recorder must be a Recorder, not {type(recorder).__name__}",
                         argument="recorder")
    return recorder


