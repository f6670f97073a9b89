"""The reference-import wrappers pass every transfer hook on to what they wrap.

References are fetched through a wrapper that narrows the listing to a file pattern. A hook
added to :class:`Connection` or :class:`TransferType` later (as ``observe``, the HTTP settle
guard's HEAD, was) and not forwarded silently falls back to the base class's default for
reference imports only: they would lose a protection data imports have.
"""

from __future__ import annotations

import inspect

import pytest

from stratoflow.server.workflow import transfers
from stratoflow.transfer.base import Connection, TransferType


def _hooks(cls: type) -> set[str]:
    return {
        name
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_")
        and (inspect.isfunction(member) or isinstance(member, property))
        # built on the hooks (options, connect, ...) the wrapper forwards
        and name not in {"from_config", "to_config", "fetch_new"}
    }


@pytest.mark.parametrize(
    ("wrapper", "base"),
    [
        (transfers._MatchingConnection, Connection),
        (transfers._Matching, TransferType),
    ],
)
def test_every_hook_is_forwarded(wrapper: type, base: type) -> None:
    missing = sorted(name for name in _hooks(base) if name not in vars(wrapper))
    assert not missing, f"{wrapper.__name__} does not forward {missing}"
