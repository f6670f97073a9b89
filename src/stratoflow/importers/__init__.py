"""Importers: standardized Dataset -> database (needs the server: call stratoflow.server.setup).

One importer serves every reader, because readers all produce the standardized Dataset.
"""

from __future__ import annotations

__all__ = ["FileImport", "import_file"]


def __getattr__(name: str) -> object:
    # Lazy: importing Django models needs configured settings, which plain library users lack.
    if name in __all__:
        from stratoflow.importers import series

        return getattr(series, name)
    raise AttributeError(name)
