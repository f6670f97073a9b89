"""Exports: a record of every file exported (what, which versions, which writer, checksum)."""
