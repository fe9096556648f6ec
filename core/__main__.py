"""``python -m core`` runs the ``calspot`` command line."""

import sys

from .cli import main

sys.exit(main())
