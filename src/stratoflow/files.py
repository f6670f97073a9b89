"""Files stratoflow hands to people and other systems get the permissions any tool gives.

Writing atomically means writing a temporary file first, and :func:`tempfile.mkstemp` creates
it readable by its owner only (0600). Renamed into place as is, an export or a delivered file
would be unreadable for the data centre's group, the web server or the colleague who asked
for it. :func:`publish` gives it the mode ``open()`` would have: 0666 less the umask.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["publish", "umask"]


def umask() -> int:
    """The process's umask, read without changing it (Linux: /proc; elsewhere set and reset)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # not atomic, but only where /proc is missing
    os.umask(mask)
    return mask


def publish(path: str | os.PathLike[str]) -> None:
    """Give ``path`` (a finished temporary file) the permissions of a normally created file."""
    os.chmod(path, 0o666 & ~umask())
