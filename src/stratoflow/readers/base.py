"""The Reader extension point: a file format in, a standardized Dataset out.

A reader subclasses :class:`Reader`, implements :meth:`Reader._read` and declares how to
recognise its files (``magic`` bytes first, then ``suffixes``). Options are explicit keyword
arguments of ``__init__`` (never ``**kwargs``) so that a job definition can be checked against
the signature before anything runs (:func:`check_options`). Readers know nothing of databases.

The public :meth:`Reader.read` is a template around ``_read``: it adds the source attributes
(file name, SHA-256 checksum, reader), validates the result against the contract and
translates every parsing failure into a :class:`~stratoflow.errors.ReaderError` naming the file,
so a caller never sees a half-parsed Dataset or a third-party exception.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import xarray as xr

from stratoflow.dataset import validate
from stratoflow.errors import ConfigError, DatasetError, ReaderError

__all__ = [
    "UNKNOWN_UNITS",
    "Reader",
    "check_options",
    "file_checksum",
    "require_file",
    "text_bytes",
    "without_bom",
]

PathLike = str | os.PathLike[str]


_UTF8_BOM = b"\xef\xbb\xbf"

#: The ``units`` of a variable whose file gives none (no unit in a NASA Ames or ICARTT
#: variable name, no ``units`` attribute in a netCDF file, none configured for a table column).
#: Not ``"1"``: that says "dimensionless", a claim the file never made, and one that converts:
#: a mixing ratio in ppb without its unit became 1e9 ppb when converted to ppb. ``"unknown"``
#: is no unit pint or UDUNITS knows, so any conversion refuses it, naming it, and QC does not
#: judge such a variable against limits in units it may not be in. Writers write it as it is,
#: so it reads back as it was. ``"none"`` (and ``"1"``) in a file still mean dimensionless.
UNKNOWN_UNITS = "unknown"


def without_bom(raw: bytes) -> bytes:
    """``raw`` without a leading UTF-8 byte order mark.

    Windows editors (Notepad, Excel's "CSV UTF-8") put one before the first line of a text
    file; it is not part of the content, and a header parser would see it glued to the first
    number. Line numbers do not change (the mark sits on line 1); the checksum of the file is
    taken from its bytes as stored, mark included.
    """
    return raw.removeprefix(_UTF8_BOM)


def text_bytes(raw: bytes) -> bytes:
    """The bytes of a text file without a UTF-8 BOM, with bare-CR line ends read as LF,
    UTF-16 (with its byte order mark) as UTF-8.

    Classic Mac OS software (and some instrument PCs exporting "for Mac") ends lines with a
    bare CR; a parser that splits on LF would see the whole file as its first line and call
    it truncated. Only a file with no LF at all is converted, byte for byte (CR -> LF), so
    offsets and line numbers stay those of the file; a file mixing conventions is left to the
    parser to report. A DOS end-of-file mark (Ctrl-Z) after the last line is dropped.
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Windows' "Unicode" (UTF-16, marked by its BOM): a NUL byte beside every character,
        # refused as "NUL byte in the header"; as UTF-8 it reads like any other file
        raw = raw.decode("utf-16", errors="replace").encode("utf-8")
    raw = without_bom(raw)
    end = len(raw)
    while end and raw[end - 1] in b" \t\r\n":  # only the trailing blanks are looked at
        end -= 1
    if end and raw[end - 1] == 0x1A:  # DOS end-of-file mark (Ctrl-Z) after the last line
        raw = raw[: end - 1] + raw[end:]
    if b"\r" in raw and b"\n" not in raw:
        return raw.replace(b"\r", b"\n")
    return raw


def require_file(path: PathLike) -> None:
    """Raise :class:`ReaderError` saying why ``path`` is not a readable file, if it is not.

    Checked before any reader guesses or parses, so an empty argument, a directory or a file
    we may not read (permission denied) reads as what it is, not as "no reader recognises
    this file".
    """
    if not str(path):
        raise ReaderError("no file given (the path is empty)")
    p = Path(path)
    if p.is_dir():
        raise ReaderError("is a directory, not a file", path=path)
    if not p.is_file():
        raise ReaderError("no such file", path=path)
    try:  # unreadable: said as such, not as "no reader recognises this file"
        with open(p, "rb"):
            pass
    except OSError as exc:
        raise ReaderError(f"cannot read: {exc.strerror or exc}", path=path) from exc


def file_checksum(path: PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, hex encoded (streamed: constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_options(reader_cls: type[Reader], options: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` when ``options`` do not fit the reader's signature."""
    try:
        inspect.signature(reader_cls).bind(**options)
    except TypeError as exc:
        raise ConfigError(f"reader {reader_cls.name!r}: invalid options: {exc}") from exc


class Reader(ABC):
    """Base class of all readers.

    Subclasses set ``name``, ``description``, ``magic`` and/or ``suffixes``, may raise
    ``priority`` to win over a generic reader that can open the same files, and implement
    :meth:`_read`.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    magic: ClassVar[tuple[bytes, ...]] = ()
    suffixes: ClassVar[tuple[str, ...]] = ()
    priority: ClassVar[int] = 0

    @classmethod
    def guess_can_open(cls, path: PathLike) -> bool:
        """Whether this reader can probably open ``path``: magic bytes first, then the suffix."""
        p = Path(path)
        if cls.magic:
            try:
                with open(p, "rb") as fh:
                    head = fh.read(max(len(m) for m in cls.magic))
            except OSError:
                head = b""
            if head:
                return any(head.startswith(m) for m in cls.magic) and cls._accepts_name(p)
        return cls._accepts_name(p) and bool(cls.suffixes)

    @classmethod
    def _accepts_name(cls, path: Path) -> bool:
        if not cls.suffixes:
            return True
        name = path.name.lower()
        return any(name.endswith(s.lower()) for s in cls.suffixes)

    def read(self, path: PathLike) -> xr.Dataset:
        """Parse ``path`` into a validated standardized Dataset or raise ReaderError."""
        require_file(path)
        p = Path(path)
        try:
            ds = self._read(p)
            ds.attrs.setdefault("source_file", p.name)
            ds.attrs["source_checksum"] = file_checksum(p)
            ds.attrs["reader"] = self.name
            return validate(ds)
        except ReaderError:
            raise
        except DatasetError as exc:
            raise ReaderError(str(exc), path=p) from exc
        except (
            ValueError,
            TypeError,
            KeyError,
            IndexError,
            OSError,
            UnicodeError,
            OverflowError,
            AttributeError,
            RuntimeError,
            ArithmeticError,
        ) as exc:
            # Boundary translation: whatever the parser or a library raised on a malformed
            # file becomes a ReaderError that names the file and keeps the cause.
            raise ReaderError(
                f"cannot parse as {self.name}: {type(exc).__name__}: {exc}", path=p
            ) from exc

    @abstractmethod
    def _read(self, path: Path) -> xr.Dataset:
        """Parse the file; raise ReaderError (with ``path`` and ``line``) for any defect."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
