"""Catalog: platforms, flights, source files, series and their stored values and QC runs."""
