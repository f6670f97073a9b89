"""Storage formats shared by the database layer: columnar, compressed, immutable segments."""

from __future__ import annotations

from stratoflow.store.segments import decode_columns, encode_columns

__all__ = ["decode_columns", "encode_columns"]
