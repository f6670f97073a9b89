"""The conformance suite every transfer type must pass.

A transfer type plugs in by subclassing :class:`TransferConformance` and providing one fixture,
``handler``: a :class:`TransferHandler` whose remote side serves the directory ``remote_root``
(for a server: the directory it exports). The suite seeds that directory, then checks listing,
staging with checksums, "nothing new the second time", new versions of changed files, upload
byte for byte, config round trip and clean errors.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from stratoflow.errors import GoneError, TransferError
from stratoflow.transfer import StagingArea, TransferHandler

SEED = {
    "a.dat": os.urandom(150_000),
    "b.dat": b"second file\n" * 10,
    "c.txt": b"",  # an empty file is a file too
}


class TransferConformance:
    """Mixin: subclasses provide the ``handler`` fixture."""

    @pytest.fixture
    def seeded(self, remote_root: Path) -> Path:
        for name, data in SEED.items():
            (remote_root / name).write_bytes(data)
        return remote_root

    @pytest.fixture
    def staging(self, tmp_path: Path) -> StagingArea:
        return StagingArea(tmp_path / "staging")

    def test_list_shows_every_file(self, seeded: Path, handler: TransferHandler) -> None:
        items = handler.list()
        assert sorted(i.name for i in items) == sorted(SEED)
        assert {i.name: i.size for i in items} == {n: len(d) for n, d in SEED.items()}

    def test_stat_shows_an_item_as_the_listing_does(
        self, seeded: Path, handler: TransferHandler
    ) -> None:
        """A file is staged only if ``stat`` after its download still shows it as listed
        (see ``Settle``): a ``stat`` that shows it any other way would keep it out for good."""
        with handler.transfer.connect(handler.auth) as conn:
            for item in conn.list():
                assert conn.stat(item.identity) == item
            with pytest.raises(GoneError):
                conn.stat("no-such-file.dat")

    def test_fetch_new_stages_files_with_checksums(
        self, seeded: Path, handler: TransferHandler, staging: StagingArea
    ) -> None:
        staged = handler.fetch_new(staging)
        assert sorted(s.name for s in staged) == sorted(SEED)
        for s in staged:
            assert s.path.read_bytes() == SEED[s.name]
            assert s.sha256 == hashlib.sha256(SEED[s.name]).hexdigest()
            assert s.size == len(SEED[s.name])
            assert s.provider == handler.provider.name
        assert list((staging.root / ".partial").iterdir()) == []

    def test_second_fetch_fetches_nothing(
        self, seeded: Path, handler: TransferHandler, staging: StagingArea
    ) -> None:
        handler.fetch_new(staging)
        assert handler.fetch_new(staging) == []
        # the manifest survives a restart
        assert handler.fetch_new(StagingArea(staging.root)) == []

    def test_changed_remote_file_is_a_new_version(
        self, seeded: Path, handler: TransferHandler, staging: StagingArea
    ) -> None:
        handler.fetch_new(staging)
        (seeded / "b.dat").write_bytes(b"changed content, longer than before\n" * 20)
        staged = handler.fetch_new(staging)
        assert [s.name for s in staged] == ["b.dat"]
        versions = staging.versions(staged[0].identity)
        assert [v.path.read_bytes() for v in versions] == [
            SEED["b.dat"],
            b"changed content, longer than before\n" * 20,
        ]

    def test_refetch_puts_back_exactly_the_staged_bytes(
        self, seeded: Path, handler: TransferHandler, staging: StagingArea
    ) -> None:
        """A staged copy cleaned away comes back from the provider only with the same bytes."""
        copy = next(s for s in handler.fetch_new(staging) if s.name == "a.dat")
        copy.path.unlink()
        handler.refetch(copy.identity, copy.sha256, copy.path)
        assert copy.path.read_bytes() == SEED["a.dat"]
        # changed at the provider: refused, and nothing is left where the copy was
        copy.path.unlink()
        (seeded / "a.dat").write_bytes(b"corrected")
        with pytest.raises(TransferError, match="now serves other bytes") as info:
            handler.refetch(copy.identity, copy.sha256, copy.path)
        assert handler.provider.name in str(info.value)
        assert not copy.path.exists()
        assert not [p for p in copy.path.parent.iterdir() if p.name.startswith(".refetch-")]
        (seeded / "a.dat").unlink()
        with pytest.raises(GoneError, match="no longer offered"):
            handler.refetch(copy.identity, copy.sha256, copy.path)

    def test_put_round_trip_byte_for_byte(
        self, seeded: Path, handler: TransferHandler, tmp_path: Path
    ) -> None:
        payload = os.urandom(200_000)
        local = tmp_path / "export.nc"
        local.write_bytes(payload)
        handler.put(local, "exported.nc")
        assert (seeded / "exported.nc").read_bytes() == payload
        assert not [p for p in seeded.iterdir() if p.name.endswith(".part")]
        # overwriting an existing remote file works as well
        local.write_bytes(payload[::-1])
        handler.put(local, "exported.nc")
        assert (seeded / "exported.nc").read_bytes() == payload[::-1]

    def test_config_round_trip(self, handler: TransferHandler) -> None:
        config = handler.to_config()
        again = TransferHandler.from_config(config)
        assert again.to_config() == config
        assert type(again.transfer) is type(handler.transfer)
        assert type(again.auth) is type(handler.auth)

    def test_missing_directory_or_item_is_a_transfer_error(
        self, seeded: Path, handler: TransferHandler, staging: StagingArea
    ) -> None:
        for path in seeded.iterdir():
            path.unlink()
        seeded.rmdir()
        with pytest.raises(TransferError, match=handler.provider.name):
            handler.fetch_new(staging)
        assert staging.files() == []
