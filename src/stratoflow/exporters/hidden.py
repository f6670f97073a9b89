"""The hidden files an export is written as before it is linked into place, and what exports
killed outright leave of them.

An export is written as ``.<name>.<fingerprint[:16]>.<host>-<pid>.<random>.export`` beside its
final name ``<name>`` (:func:`hidden_name`), outside any database transaction, then linked to
``<name>`` in the transaction that records it (:mod:`stratoflow.exporters.export`). Ctrl-C,
SIGTERM or an error removes it as the stack unwinds, and a command whose unwinding hangs just
before it exits (:func:`stratoflow.files.remove_partial_files`). A process killed outright
(SIGKILL, power loss) leaves it, with the writer's ``.part`` file of it, or, killed between the
link and the commit, a file under ``<name>`` without a record. The host and process id in the
hidden name tell the next export of ``<name>`` that its writer is gone
(:func:`stratoflow.files.abandoned`): it removes them (:func:`remove_abandoned`), and the
fingerprint tells it that an unrecorded ``<name>`` which is the same file as such a hidden file
is a killed export of its own content, to be replaced (:func:`orphan`), not someone else's file,
which is never overwritten.
"""

from __future__ import annotations

import glob
import os
import re
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from stratoflow.files import (
    abandoned,
    owner_pid,
    this_host,
    track_unfinished,
    untrack_unfinished,
)

__all__ = ["hidden_name", "orphan", "remove_abandoned", "same_file", "writing"]


class _Writing:
    """The hidden files this process is writing (or placing): never a killed export's
    leftover, whatever the process id in their names says."""

    def __init__(self) -> None:
        self._paths: set[Path] = set()
        self._lock = threading.Lock()

    def add(self, hidden: Path, target: Path) -> None:
        """``hidden`` is being written as the export of ``target``.

        Registered with :func:`stratoflow.files.track_unfinished` like a ``.part`` file: a
        command whose unwinding hangs removes it just before it exits, instead of leaving it
        until the next export of ``target``. Unless it is linked to ``target`` by then: the
        record may not have been committed, and the next export needs it to tell that
        ``target`` is a killed export of its own content (:func:`orphan`).
        """
        with self._lock:
            self._paths.add(hidden)
        track_unfinished(hidden, keep=lambda: same_file(hidden, target))

    def discard(self, hidden: Path) -> None:
        with self._lock:
            self._paths.discard(hidden)
        untrack_unfinished(hidden)

    def running(self, directory: Path) -> Callable[[str], bool]:
        """Whether a hidden file of ``directory``, by name, is one this process writes."""

        def running(name: str) -> bool:
            with self._lock:
                return directory / name in self._paths

        return running


#: The hidden files of this process's unfinished exports.
writing = _Writing()
_HIDDEN_SUFFIX = ".export"


def hidden_name(path: Path, digest: str) -> Path:
    """``.<name>.<fingerprint[:16]>.<host>-<pid>.<random>.export`` beside ``path``: where the
    export is written before it is linked into place.

    The host and process id tell a later export a killed one's leftover
    (:func:`remove_abandoned`); the fingerprint tells it that a file under ``path`` without a
    record was put there by an export of this very content that was killed before it could
    record it (:func:`orphan`).
    """
    token = uuid.uuid4().hex[:12]
    return path.with_name(
        f".{path.name}.{digest[:16]}.{this_host()}-{os.getpid()}.{token}{_HIDDEN_SUFFIX}"
    )


def _hidden_owner(name: str, target: str) -> tuple[str, int] | None:
    """``(fingerprint prefix, pid)`` of a :func:`hidden_name` of ``target`` made on this
    machine; None for any other name."""
    match = re.fullmatch(
        rf"\.{re.escape(target)}\.(?P<digest>[0-9a-f]{{16}})\.(?P<host>.+)-(?P<pid>\d+)"
        rf"\.[0-9a-f]+{re.escape(_HIDDEN_SUFFIX)}",
        name,
    )
    if match is None or match["host"] != this_host():
        return None
    return match["digest"], int(match["pid"])


def _abandoned_hidden(path: Path) -> list[tuple[Path, str]]:
    """The hidden files of exports of ``path`` killed mid-way (process gone), with their
    fingerprint prefix."""
    found = []
    for hidden in path.parent.glob(f".{glob.escape(path.name)}.*{_HIDDEN_SUFFIX}"):
        owner = _hidden_owner(hidden.name, path.name)
        if owner is not None and abandoned(owner[1], hidden.name, writing.running(path.parent)):
            found.append((hidden, owner[0]))
    return found


def orphan(path: Path, digest: str) -> bool:
    """True when ``path`` (without a record) was linked into place by an export of this
    content that was killed before it recorded it: its hidden file, left behind, is the same
    file. The export was not done: the file is replaced, never handed on as it is."""
    return any(
        prefix == digest[:16] and same_file(hidden, path)
        for hidden, prefix in _abandoned_hidden(path)
    )


def remove_abandoned(path: Path, *, recorded: bool) -> None:
    """Remove what exports of ``path`` killed outright (SIGKILL, power loss) left beside it:
    their hidden files and the writers' ``.part`` files of those. Until ``path`` is
    ``recorded``, a hidden file that is ``path`` itself stays: it tells :func:`orphan`
    that ``path`` is a killed export's."""
    for hidden, _ in _abandoned_hidden(path):
        if recorded or not same_file(hidden, path):
            hidden.unlink(missing_ok=True)
    for part in path.parent.glob(f"..{glob.escape(path.name)}.*{_HIDDEN_SUFFIX}.*.part"):
        target = part.name[1 : part.name.rindex(_HIDDEN_SUFFIX + ".") + len(_HIDDEN_SUFFIX)]
        pid = owner_pid(part.name, target)
        if pid is not None and abandoned(pid, target, writing.running(path.parent)):
            part.unlink(missing_ok=True)


def same_file(one: Path, other: Path) -> bool:
    """Whether ``one`` and ``other`` are one file (False when either is gone)."""
    try:
        return os.path.samefile(one, other)
    except OSError:  # either is gone
        return False
