"""The ``audit-analytics`` command: the group (:mod:`.app`) and one module per subcommand.

Importing the package registers every subcommand on the group; :func:`main` is the
console entry point.
"""

from . import check, cloudtrail, journal, load, protections, report, verify  # noqa: F401 - registers them
from .app import cli, main

__all__ = ["cli", "main"]
