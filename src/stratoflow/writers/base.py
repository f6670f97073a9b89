"""The Writer extension point: a standardized Dataset in, a file in some format out.

A writer subclasses :class:`Writer` and implements :meth:`Writer._write`; options are explicit
keyword arguments of ``__init__``. :meth:`Writer.write` validates the Dataset first, writes to a
temporary file next to the target and renames it into place, so a reader of the output
directory never sees a half-written file.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import xarray as xr

from stratoflow.dataset import validate
from stratoflow.errors import ConfigError, StratoflowError, WriterError

__all__ = ["Writer"]


class Writer(ABC):
    """Base class of all writers: set ``name``, ``description``, ``suffix``; implement _write."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    suffix: ClassVar[str] = ""

    def write(self, ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
        """Write ``ds`` to ``path`` atomically and return the path."""
        target = Path(path)
        ds = validate(ds)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            self._write(ds, tmp)
            os.replace(tmp, target)
        except StratoflowError as exc:
            tmp.unlink(missing_ok=True)
            if not isinstance(exc, WriterError | ConfigError) or str(tmp) not in str(exc):
                raise
            # the user asked for ``target``; the hidden temporary file is ours to know about
            raise type(exc)(str(exc).replace(str(tmp), str(target))) from exc
        except (ValueError, TypeError, KeyError, OSError, RuntimeError) as exc:
            tmp.unlink(missing_ok=True)
            raise WriterError(f"{target}: cannot write as {self.name}: {exc}") from exc
        return target

    @abstractmethod
    def _write(self, ds: xr.Dataset, path: Path) -> None:
        """Write the (validated) Dataset to ``path``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
