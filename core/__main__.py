"""``python -m core`` runs the ``calspot`` command line."""

from .cli import run

run()
