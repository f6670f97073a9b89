"""Sub-commands of the ``stratoflow`` CLI, one module each (see :mod:`stratoflow.cli`)."""
