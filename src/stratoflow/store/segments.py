"""Columnar segments: many arrays of one length in one compressed, self-describing blob.

A series is never stored as one database row per point (IAGOS alone has ~10^10 points).
Each imported source gives one immutable segment per series: the time stamps and values as
arrays, compressed with Zstandard, in one binary column next to its indexed time range.

Times are stored as first differences of int64 nanoseconds, which makes regular sampling
compress to almost nothing; floats are stored byte-shuffled (all first bytes, then all second
bytes...), which groups the slowly varying exponent bytes and compresses measured values far
better than raw IEEE doubles. Decoding restores the arrays bit for bit, NaN payloads included.

Layout: ``b"SFSEG1"``, a JSON header length (uint32 LE), the JSON header (names, dtypes,
encodings, length), then the Zstandard frame of the concatenated encoded columns.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import zstandard

from stratoflow.errors import StratoflowError

__all__ = ["SegmentError", "decode_columns", "encode_columns"]

_MAGIC = b"SFSEG1"
_LEVEL = 3


class SegmentError(StratoflowError):
    """A stored segment is corrupt or of an unknown layout."""


def _shuffle(a: npt.NDArray[np.generic]) -> bytes:
    raw = np.ascontiguousarray(a).view(np.uint8).reshape(-1, a.dtype.itemsize)
    return np.ascontiguousarray(raw.T).tobytes()


def _unshuffle(buf: bytes, dtype: np.dtype[np.generic], n: int) -> npt.NDArray[np.generic]:
    raw = np.frombuffer(buf, dtype=np.uint8).reshape(dtype.itemsize, n)
    return np.ascontiguousarray(raw.T).view(dtype).reshape(n)


def encode_columns(columns: Mapping[str, npt.ArrayLike]) -> bytes:
    """Encode equally long 1-D arrays (datetime64, integer, float, bool) into one blob."""
    arrays = {name: np.asarray(values) for name, values in columns.items()}
    lengths = {a.shape for a in arrays.values()}
    if len(lengths) > 1 or any(len(s) != 1 for s in lengths):
        raise SegmentError(f"columns must be 1-D and of equal length, got {lengths}")
    n = next(iter(lengths))[0] if lengths else 0
    specs: list[dict[str, object]] = []
    parts: list[bytes] = []
    for name, a in arrays.items():
        if a.dtype.kind == "M":
            ns = a.astype("datetime64[ns]").view(np.int64)
            body = np.diff(ns, prepend=np.int64(0)).astype("<i8").tobytes()
            spec = {"name": name, "dtype": "datetime64[ns]", "encoding": "delta"}
        elif a.dtype.kind in "fiub":
            a = a.astype(a.dtype.newbyteorder("<"))
            body = _shuffle(a) if a.dtype.itemsize > 1 else a.tobytes()
            spec = {"name": name, "dtype": a.dtype.str, "encoding": "shuffle"}
        else:
            raise SegmentError(f"column {name!r}: unsupported dtype {a.dtype}")
        specs.append({**spec, "nbytes": len(body)})
        parts.append(body)
    head = json.dumps({"n": n, "columns": specs}, separators=(",", ":")).encode()
    payload = zstandard.ZstdCompressor(level=_LEVEL).compress(b"".join(parts))
    return _MAGIC + struct.pack("<I", len(head)) + head + payload


def decode_columns(blob: bytes | memoryview) -> dict[str, npt.NDArray[np.generic]]:
    """Decode a blob made by :func:`encode_columns` into its named arrays."""
    blob = bytes(blob)
    if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + 4:
        raise SegmentError("not a stratoflow segment (bad magic)")
    (head_len,) = struct.unpack_from("<I", blob, len(_MAGIC))
    start = len(_MAGIC) + 4
    try:
        header = json.loads(blob[start : start + head_len])
        body = zstandard.ZstdDecompressor().decompress(blob[start + head_len :])
    except (ValueError, zstandard.ZstdError) as exc:
        raise SegmentError(f"corrupt segment: {exc}") from exc
    n = int(header["n"])
    out: dict[str, npt.NDArray[np.generic]] = {}
    offset = 0
    for spec in header["columns"]:
        chunk = body[offset : offset + spec["nbytes"]]
        offset += spec["nbytes"]
        if spec["encoding"] == "delta":
            out[spec["name"]] = np.cumsum(np.frombuffer(chunk, dtype="<i8")).view("datetime64[ns]")
        else:
            dtype = np.dtype(spec["dtype"])
            if dtype.itemsize > 1:
                out[spec["name"]] = _unshuffle(chunk, dtype, n)
            else:
                out[spec["name"]] = np.frombuffer(chunk, dtype=dtype).copy()
    if offset != len(body):
        raise SegmentError("corrupt segment: length mismatch")
    return out
