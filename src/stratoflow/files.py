"""Files stratoflow hands to people and other systems: written whole or not at all, with the
permissions any tool gives.

A file is written atomically: into a hidden ``.<name>.<host>-<pid>.<random>.part`` beside it
(:func:`partial_file`), renamed into place when complete. The ``.part`` file must not outlive
the write, whatever ends it: an error, Ctrl-C or SIGTERM removes it as the stack unwinds;
when the unwinding hangs and the command is stopped without it, the CLI removes every ``.part``
of the process's unfinished writes just before it exits (:func:`remove_partial_files`, which
removes other registered temporary files too, such as an export's hidden file); and
when the process was killed outright (SIGKILL, power loss), the next write of the same file removes
it, recognising it by the host and process id in its name as the leftover of a process that
no longer runs. A partner's transfer reading the folder (``*``) never picks up a half file,
and no stale one piles up next to the exports.

:func:`tempfile.mkstemp` creates the temporary file readable by its owner only (0600). Renamed
into place as is, an export or a delivered file would be unreadable for the data centre's
group, the web server or the colleague who asked for it. :func:`publish` gives it the mode
``open()`` would have: 0666 less the umask.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import secrets
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "abandoned",
    "owner_pid",
    "partial_file",
    "partial_name",
    "publish",
    "remove_partial_files",
    "this_host",
    "track_unfinished",
    "umask",
    "untrack_unfinished",
]

#: The ``.part`` files (and other temporary files, see :func:`track_unfinished`) of writes
#: this process has started and not finished, each with what says it must stay.
_UNFINISHED: dict[Path, Callable[[], bool] | None] = {}
_UNFINISHED_LOCK = threading.Lock()
_SUFFIX = ".part"


def this_host() -> str:
    """This machine's name as temporary names carry it (``<host>-<pid>``, no '/', kept
    short), so that a later process recognises which ones a process of this machine made."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())[:40] or "localhost"


def partial_name(name: str) -> str:
    """A hidden temporary name for writing ``name``, of this upload or write alone:
    ``.<name>.<host>-<pid>.<random>.part``.

    Two writers of one name at once (two workers delivering the same export, on one machine
    or two) each get their own, so neither writes into, renames or removes the other's.
    """
    return f".{name}.{this_host()}-{os.getpid()}.{secrets.token_hex(6)}{_SUFFIX}"


def owner_pid(part_name: str, target_name: str) -> int | None:
    """The process id in ``part_name``, a :func:`partial_name` of ``target_name`` made on this
    machine; None for any other name (another machine's, someone else's file)."""
    match = re.fullmatch(
        rf"\.{re.escape(target_name)}\.(?P<host>.+)-(?P<pid>\d+)\.[^.]+{re.escape(_SUFFIX)}",
        part_name,
    )
    if match is None or match["host"] != this_host():
        return None
    return int(match["pid"])


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it runs, as another user
        return True
    return True


def abandoned(pid: int, name: str, running: Callable[[str], bool]) -> bool:
    """Whether the temporary file ``name``, made by the process ``pid`` of this machine,
    belongs to no write or upload that still runs: its process is gone (killed mid-way), or
    it is this process and ``running(name)`` says that write has ended (its connection was
    cut, then retried). A process id reused since counts as running: the file stays.
    """
    if pid == os.getpid():
        return not running(name)
    return not _running(pid)


def _owner_is_gone(part: Path, target: Path) -> bool:
    """Whether ``part`` (a sibling of ``target``) is a ``.part`` of ``target`` that no
    running write of this machine owns (see :func:`abandoned`)."""

    def unfinished(name: str) -> bool:
        with _UNFINISHED_LOCK:
            return part.with_name(name) in _UNFINISHED

    pid = owner_pid(part.name, target.name)
    return pid is not None and abandoned(pid, part.name, unfinished)


@contextlib.contextmanager
def partial_file(target: str | os.PathLike[str]) -> Iterator[Path]:
    """An empty temporary file beside ``target`` to write it into, then rename it onto
    ``target``; removed unless it was renamed, whichever way the block ends.

    The ``.part`` files that earlier processes killed while writing ``target`` left behind
    are removed first (see the module). Raises :class:`OSError` when the folder does not
    take a new file.
    """
    target = Path(target)
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*{_SUFFIX}"):
        if _owner_is_gone(leftover, target):
            leftover.unlink(missing_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{target.name}.{this_host()}-{os.getpid()}.", suffix=_SUFFIX, dir=target.parent
    )
    os.close(fd)
    part = Path(name)
    track_unfinished(part)
    try:
        yield part
    finally:
        part.unlink(missing_ok=True)  # gone already when it was renamed into place
        untrack_unfinished(part)


def track_unfinished(path: Path, keep: Callable[[], bool] | None = None) -> None:
    """Have :func:`remove_partial_files` remove ``path``, a temporary file of a write this
    process has not finished (a ``.part`` file, an export's hidden file), unless ``keep()``
    says then that it must stay (it is evidence a later process needs). Until
    :func:`untrack_unfinished`."""
    with _UNFINISHED_LOCK:
        _UNFINISHED[path] = keep


def untrack_unfinished(path: Path) -> None:
    """The write of ``path`` has ended: its own clean-up has (or will have) removed it."""
    with _UNFINISHED_LOCK:
        _UNFINISHED.pop(path, None)


def remove_partial_files() -> None:
    """Remove the ``.part`` files (and the other registered temporary files, see
    :func:`track_unfinished`) of every write this process has not finished.

    For a process about to end without unwinding its stack (``os._exit`` after a clean-up
    that hung): safe from any thread, and it never blocks on the stuck one.
    """
    acquired = _UNFINISHED_LOCK.acquire(timeout=1.0)
    try:
        for part, keep in list(_UNFINISHED.items()):
            with contextlib.suppress(OSError):
                if keep is None or not keep():
                    part.unlink(missing_ok=True)
    finally:
        if acquired:
            _UNFINISHED_LOCK.release()


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
