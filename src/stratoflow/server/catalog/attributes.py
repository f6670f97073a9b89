"""How the catalog stores a variable's or a file's attributes in JSON, and reads them back.

JSON has no NaN or infinity, and PostgreSQL's ``jsonb`` and SQLite's ``json_valid`` refuse the
bare tokens Python's :mod:`json` writes. A non-finite float attribute (``_FillValue = NaN``,
``valid_max = NaN``, an open-ended ``range = [0, inf]``) is therefore stored as a tagged
object, and turned back into the float when read::

    NaN        -> {"__float__": "NaN"}
    +infinity  -> {"__float__": "Infinity"}
    -infinity  -> {"__float__": "-Infinity"}

A tagged object cannot be confused with an attribute: netCDF, NASA Ames and ICARTT attributes
are numbers, text or arrays of them, never mappings. Plain text stays text: a provider's
``comment = "NaN"`` comes back as the string it was. (Attributes stored before this encoding
hold the bare strings ``"NaN"``/``"Infinity"``; they are left as they are, since text cannot
be told from a number there.) numpy scalars and arrays become Python numbers and lists.

Example::

    >>> stored = attributes_to_json({"valid_max": float("nan"), "units": "ppb"})
    >>> stored
    {'valid_max': {'__float__': 'NaN'}, 'units': 'ppb'}
    >>> attributes_from_json(stored)
    {'valid_max': nan, 'units': 'ppb'}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["NON_FINITE_TAG", "attributes_from_json", "attributes_to_json", "json_ready"]

#: Key of the tagged object that stands for a non-finite float in stored attributes.
NON_FINITE_TAG = "__float__"

_NAMES = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_VALUES = {name: float(text) for text, name in _NAMES.items()}


def json_ready(value: Any, non_finite: Callable[[str], Any]) -> Any:
    """``value`` as JSON can hold it: numpy scalars and arrays as Python values, mappings and
    sequences walked, and each non-finite float replaced by ``non_finite(name)`` (``name``
    one of ``NaN``, ``Infinity``, ``-Infinity``)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return non_finite(_NAMES[repr(value)])
    if isinstance(value, Mapping):
        return {str(k): json_ready(v, non_finite) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v, non_finite) for v in value]
    return value


def _tagged(name: str) -> dict[str, str]:
    return {NON_FINITE_TAG: name}


def attributes_to_json(attrs: Mapping[Any, Any]) -> dict[str, Any]:
    """Attributes as stored in a ``JSONField``; :func:`attributes_from_json` reverses it."""
    return {str(k): json_ready(v, _tagged) for k, v in attrs.items()}


def _decoded(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and value.get(NON_FINITE_TAG) in _VALUES:
            return _VALUES[value[NON_FINITE_TAG]]
        return {k: _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def attributes_from_json(stored: Mapping[str, Any]) -> dict[str, Any]:
    """Stored attributes as they were given: non-finite floats back as floats."""
    return {str(k): _decoded(v) for k, v in stored.items()}
