"""How stratoflow's CSV export spells metadata in its ``#`` header, so that it reads back as is.

A CSV header line holds one attribute (``# key: value``) or one column's attributes
(``#   name: {...}``). Written naively, text that contains the separators of those lines
(``"; "`` in a long name), several lines, padding, or text that looks like a number
(``"01"``) comes back changed, and numbers come back as text. Here a value is written as it
is only when reading it back gives exactly it; anything else is written as JSON, with numpy
arrays and scalars tagged with their dtype. Column attributes are always one JSON object.

:func:`encode` and :func:`decode` are each other's inverse for strings, booleans, numbers,
lists and numpy arrays/scalars::

    >>> encode("ozone"), encode("01"), encode("1"), encode(3)
    ('ozone', '01', '"1"', '3')
    >>> decode(encode("a; b\\nc")), decode('"1"'), decode("01")
    ('a; b\\nc', '1', '01')
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["TEXT_MARK", "decode", "decode_attrs", "encode", "encode_attrs", "encode_key"]

#: Key in a column's JSON object marking a text column (not an attribute of the variable).
TEXT_MARK = "__text__"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ARRAY, _SCALAR = "__ndarray__", "__numpy__"


def _jsonable(value: Any) -> Any:
    # datetime64/timedelta64 as their integer count of the dtype's unit: ``.item()`` gives
    # datetime.date/timedelta (or int for ns), which JSON cannot hold, and the dtype (kept
    # alongside) turns the count back into the same value
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "Mm":
            return {_ARRAY: value.dtype.str, "values": value.view(np.int64).tolist()}
        return {_ARRAY: value.dtype.str, "values": value.tolist()}
    if isinstance(value, np.generic):
        if value.dtype.kind in "Mm":
            return {_SCALAR: value.dtype.str, "value": int(value.view(np.int64))}
        return {_SCALAR: value.dtype.str, "value": value.item()}
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if _ARRAY in value:
            dtype = np.dtype(value[_ARRAY])
            if dtype.kind in "Mm":
                return np.asarray(value["values"], dtype=np.int64).view(dtype)
            return np.asarray(value["values"], dtype=dtype)
        if _SCALAR in value:
            dtype = np.dtype(value[_SCALAR])
            if dtype.kind in "Mm":
                return np.array(value["value"], dtype=np.int64).view(dtype)[()]
            return dtype.type(value["value"])
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


def decode(text: str) -> Any:
    """The value written by :func:`encode`: JSON when it parses as JSON, else the text itself."""
    try:
        return _from_json(json.loads(text))
    except ValueError:
        return text


def encode(value: Any) -> str:
    """One-line text that :func:`decode` turns back into exactly ``value``.

    Plain text stays plain (readable in a spreadsheet); text that would not come back
    unchanged, and every non-text value, is written as JSON.
    """
    if (
        isinstance(value, str)
        and value
        and value == value.strip()
        and not _CONTROL.search(value)
        and isinstance(back := decode(value), str)
        and back == value
    ):
        return value
    return json.dumps(_jsonable(value), ensure_ascii=False)


def encode_key(key: str) -> str:
    """An attribute name for a ``# key: value`` line (JSON when it has ``:`` or odd characters)."""
    if re.fullmatch(r"[^\s:#\"][^:\x00-\x1f\x7f]*", key) and key == key.strip():
        return key
    return json.dumps(key, ensure_ascii=False).replace(":", "\\u003a")


def encode_attrs(attrs: Mapping[Any, Any]) -> str:
    """A column's attributes as one JSON object (keys in their order)."""
    return json.dumps({str(k): _jsonable(v) for k, v in attrs.items()}, ensure_ascii=False)


def decode_attrs(text: str) -> dict[str, Any] | None:
    """The attributes written by :func:`encode_attrs`, or None when ``text`` is not such."""
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return {str(k): _from_json(v) for k, v in value.items()}
