"""Exporters: database -> standardized Dataset -> Writer (needs the server set up)."""

from __future__ import annotations

__all__ = ["ExportedFile", "export_flight"]


def __getattr__(name: str) -> object:
    # Lazy: Django models need configured settings, which plain library users lack.
    if name in __all__:
        from stratoflow.exporters import flight

        return getattr(flight, name)
    raise AttributeError(name)
