"""``python -m stratoflow``: the same command as the ``stratoflow`` console script.

Useful where the script is not on PATH (a venv not activated, a source checkout run with
``PYTHONPATH=src``).
"""

import sys

from stratoflow.cli import main

sys.exit(main())
