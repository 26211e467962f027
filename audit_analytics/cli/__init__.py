"""The ``audit-analytics`` command: the group (:mod:`.app`) and one module per subcommand.

Importing the package registers every subcommand on the group; :func:`main` is the
console entry point.
"""

from . import (  # noqa: F401 - registers them
    archive,
    check,
    cloudtrail,
    journal,
    load,
    object_lock,
    profile,
    protections,
    reconcile,
    report,
    spotcheck,
    verify,
)
from .app import cli, main

__all__ = ["cli", "main"]
