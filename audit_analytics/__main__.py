"""``python -m audit_analytics`` runs the command line."""

from .cli import main

main()
