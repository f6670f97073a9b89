"""The Writer extension point: a standardized Dataset in, a file in some format out.

A writer subclasses :class:`Writer` and implements :meth:`Writer._write`; options are explicit
keyword arguments of ``__init__``. :meth:`Writer.write` validates the Dataset first, writes to a
temporary file next to the target (:func:`stratoflow.files.partial_file`) and renames it into
place, so a reader of the output directory never sees a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import re
import unicodedata
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import xarray as xr

from stratoflow.dataset import validate
from stratoflow.errors import ConfigError, StratoflowError, WriterError
from stratoflow.files import partial_file, publish

__all__ = ["Writer", "ascii_text", "plain_name"]

_PLAIN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# signs of units and typography whose decomposition is not ASCII, spelled the usual way
_ASCII_SPECIAL = str.maketrans(
    {"µ": "u", "μ": "u", "°": "deg", "–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"'}
)


def ascii_text(text: str) -> str:
    """``text`` in ASCII for formats that allow nothing else (ICARTT): accents dropped
    (``Özone`` -> ``Ozone``), ``µ`` -> ``u``, ``°`` -> ``deg``, other characters outside ASCII
    become ``?``."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKD", text.translate(_ASCII_SPECIAL))
    folded = "".join(c for c in text if not unicodedata.combining(c))
    return folded.encode("ascii", "replace").decode("ascii")


def plain_name(name: str) -> str:
    """``name`` as a plain variable name: ASCII letters, digits and underscores, a letter first.

    Source files name variables as their authors like ("Özone", "O3 (ppb)", "2nd inlet");
    CF 1.8 section 2.3 and ICARTT want the restricted form, which every tool reads. Accents
    are dropped (``Özone`` -> ``Ozone``), runs of other characters become one underscore, and
    a name that does not start with a letter gets ``v_`` in front.
    """
    if _PLAIN_NAME.match(name):
        return name
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    out = re.sub(r"[^A-Za-z0-9_]+", "_", ascii_name).strip("_")
    return out if out[:1].isalpha() else "v_" + out


def _check_target(target: Path) -> None:
    """Raise :class:`WriterError` when ``target`` cannot be a file: it is a directory, or a
    part of its folder path is a file.

    Said in the user's terms before any temporary file exists; found later, the failing
    rename or mkdir would name our hidden temporary file or a parent, not the mistake.
    """
    if target.is_dir():
        raise WriterError(f"{target}: is a directory, not a file")
    for parent in target.parents:
        if parent.exists():  # the nearest existing folder; the rest is created
            if not parent.is_dir():
                raise WriterError(f"{target}: {parent} is a file, not a directory")
            return


class Writer(ABC):
    """Base class of all writers: set ``name``, ``description``, ``suffix``; implement _write."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    suffix: ClassVar[str] = ""

    def write(self, ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
        """Write ``ds`` to ``path`` atomically and return the path."""
        target = Path(path)
        ds = validate(ds)
        _check_target(target)
        # whichever way this ends (an error, a writer's bug, an interrupt), the .part file
        # goes: no half-written file is left for a delivery of the directory to pick up
        with contextlib.ExitStack() as stack:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = stack.enter_context(partial_file(target))
            except OSError as exc:  # permission denied, read-only file system, disk full
                raise WriterError(f"{target}: cannot write: {exc.strerror or exc}") from exc
            try:
                self._write(ds, tmp)
                publish(tmp)
                os.replace(tmp, target)
            except StratoflowError as exc:
                if not isinstance(exc, WriterError | ConfigError) or str(tmp) not in str(exc):
                    raise
                # the user asked for ``target``; the hidden temporary file is ours to know about
                raise type(exc)(str(exc).replace(str(tmp), str(target))) from exc
            except (ValueError, TypeError, KeyError, OSError, RuntimeError) as exc:
                raise WriterError(f"{target}: cannot write as {self.name}: {exc}") from exc
        return target

    @abstractmethod
    def _write(self, ds: xr.Dataset, path: Path) -> None:
        """Write the (validated) Dataset to ``path``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
