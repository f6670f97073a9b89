"""Staging area, retry policy, configuration round trips and the exported surface."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

import stratoflow.transfer as transfer_pkg
from stratoflow import plugins
from stratoflow.errors import ConfigError, PluginNotFound, TransferError, TransientTransferError
from stratoflow.transfer import DataProvider, RetryPolicy, StagingArea, TransferHandler
from stratoflow.transfer.staging import JOURNAL, MANIFEST, Sink, read_manifest


def _writer(*blocks: bytes, fail: bool = False) -> Callable[[Sink], None]:
    def write(sink: Sink) -> None:
        for block in blocks:
            sink.write(block)
        if fail:
            raise TransientTransferError("connection reset mid-download")

    return write


def test_receive_is_atomic_and_records_checksum(tmp_path: Path) -> None:
    staging = StagingArea(tmp_path)
    staged = staging.receive(identity="x/a.nc", name="a.nc", write=_writer(b"ab", b"cd"), size=4)
    assert staged is not None
    assert staged.path.read_bytes() == b"abcd"
    assert staged.sha256 == hashlib.sha256(b"abcd").hexdigest()
    assert staged.path.parent.parent == tmp_path
    with pytest.raises(TransientTransferError):
        staging.receive(identity="x/b.nc", name="b.nc", write=_writer(b"ab", fail=True))
    with pytest.raises(TransientTransferError, match="truncated"):
        staging.receive(identity="x/c.nc", name="c.nc", write=_writer(b"ab"), size=10)
    with pytest.raises(TransientTransferError, match=r"received 4 bytes, expected 2 \(more than"):
        staging.receive(identity="x/e.nc", name="e.nc", write=_writer(b"ab", b"cd"), size=2)
    with pytest.raises(TransientTransferError, match="SHA-256 mismatch"):
        staging.receive(identity="x/d.nc", name="d.nc", write=_writer(b"ab"), sha256="0" * 64)
    assert [s.identity for s in staging.files()] == ["x/a.nc"]
    assert list((tmp_path / ".partial").iterdir()) == []
    files = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert [f for f in files if f not in (MANIFEST, JOURNAL)] == ["a.nc"]


def test_same_content_is_not_staged_twice_new_content_is_a_version(tmp_path: Path) -> None:
    staging = StagingArea(tmp_path)
    first = staging.receive(identity="f", name="f.nc", write=_writer(b"v1"), version="1")
    assert staging.receive(identity="f", name="f.nc", write=_writer(b"v1"), version="2") is None
    assert staging.known("f", version="2")  # the touched marker is remembered
    second = staging.receive(identity="f", name="f.nc", write=_writer(b"v2"), version="3")
    assert first is not None and second is not None
    assert [v.sha256 for v in StagingArea(tmp_path).versions("f")] == [first.sha256, second.sha256]
    assert first.path != second.path and first.path.read_bytes() == b"v1"


def test_leftover_partials_are_removed_and_names_are_sanitised(tmp_path: Path) -> None:
    (tmp_path / ".partial").mkdir()
    (tmp_path / ".partial" / "get-killed").write_bytes(b"half")
    staging = StagingArea(tmp_path)
    assert list((tmp_path / ".partial").iterdir()) == []
    staged = staging.receive(identity="i", name="../../etc/passwd", write=_writer(b"x"))
    assert staged is not None and staged.path.is_relative_to(tmp_path)


def test_retry_policy_retries_only_transient_errors() -> None:
    waits: list[float] = []
    calls: list[int] = []
    policy = RetryPolicy(attempts=3, base=0.01, factor=2, jitter=0)

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientTransferError("503")
        return "ok"

    assert policy.call(flaky, what="t", sleep=waits.append) == "ok"
    assert waits == [0.01, 0.02]

    def refused() -> str:
        calls.append(1)
        raise TransferError("404")

    calls.clear()
    with pytest.raises(TransferError):
        policy.call(refused, what="t", sleep=waits.append)
    assert len(calls) == 1
    with pytest.raises(ConfigError):
        RetryPolicy(attempts=0)
    delays = [RetryPolicy(base=1, jitter=0.5).delay(1) for _ in range(50)]
    assert all(0.5 <= d <= 1.5 for d in delays) and len(set(delays)) > 1


def test_handler_config_round_trip_and_errors(tmp_path: Path) -> None:
    config = {
        "provider": {"name": "IAGOS-DC", "contact": "dc@example.org", "licence": "CC-BY-4.0"},
        "transfer": {"type": "local", "root": str(tmp_path), "pattern": "*.nc"},
        "auth": {"method": "none"},
        "retry": {"attempts": 2, "base": 0.1, "factor": 2.0, "max_delay": 1.0, "jitter": 0.1},
    }
    handler = TransferHandler.from_config(config)
    assert handler.to_config()["transfer"] == {
        **config["transfer"],
        "recursive": False,
        "min_age": 0.0,
    }
    assert TransferHandler.from_config(handler.to_config()).to_config() == handler.to_config()
    assert handler.provider.provenance() == {
        "provider_name": "IAGOS-DC",
        "provider_contact": "dc@example.org",
        "provider_licence": "CC-BY-4.0",
    }
    with pytest.raises(ConfigError, match="unknown keys"):
        TransferHandler.from_config({**config, "extra": 1})
    with pytest.raises(ConfigError, match="missing section 'provider'"):
        TransferHandler.from_config({"transfer": config["transfer"]})
    with pytest.raises(ConfigError, match=r"transfer type 'local': invalid options"):
        TransferHandler.from_config({**config, "transfer": {"type": "local", "rooot": "/"}})
    with pytest.raises(PluginNotFound, match=r"installed: .*http"):
        TransferHandler.from_config({**config, "transfer": {"type": "gopher"}})
    with pytest.raises(ConfigError, match="name must not be empty"):
        DataProvider(name=" ")


def test_plugins_are_registered_by_name() -> None:
    assert plugins.names("transfer_types") == ["ftp", "http", "local", "sftp"]
    assert set(plugins.names("auth")) >= {
        "none",
        "basic",
        "bearer",
        "apikey",
        "oauth2",
        "hashtoken",
        "ssh",
        "ftp_login",
    }
    for name, cls in plugins.load_all("auth").items():
        assert cls.name == name
    for name, cls in plugins.load_all("transfer_types").items():
        assert cls.name == name


def test_exported_surface() -> None:
    assert sorted(transfer_pkg.__all__) == [
        "Connection",
        "ConnectionHandler",
        "DataProvider",
        "FTPServer",
        "HttpPortal",
        "LocalDirectory",
        "RemoteItem",
        "RetryPolicy",
        "SFTPServer",
        "Secret",
        "StagedFile",
        "StagingArea",
        "TransferHandler",
        "TransferType",
        "UploadTrace",
        "auth_from_config",
        "transfer_type_from_config",
    ]
    for name in transfer_pkg.__all__:
        assert hasattr(transfer_pkg, name)


def test_transfer_library_does_not_import_django() -> None:
    import subprocess
    import sys

    code = "import sys, stratoflow.transfer; print('django' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_local_copy_with_old_size_and_time_is_still_fetched(tmp_path: Path) -> None:
    """``cp -p`` of a corrected file keeps size and mtime; the change time gives it away,
    while a chmod or touch alone reads the file once and stages nothing new."""
    import os
    import time

    from stratoflow.transfer import LocalDirectory
    from stratoflow.transfer.auth.none import NoAuth

    root = tmp_path / "in"
    root.mkdir()
    target = root / "flight.nc"
    target.write_bytes(b"AAAA")
    handler = TransferHandler(
        transfer=LocalDirectory(root=str(root)), auth=NoAuth(), provider=DataProvider(name="p")
    )
    staging = StagingArea(tmp_path / "staging")
    assert len(handler.fetch_new(staging)) == 1
    before = target.stat()
    corrected = tmp_path / "corrected.nc"
    corrected.write_bytes(b"BBBB")  # same size
    os.utime(corrected, ns=(before.st_atime_ns, before.st_mtime_ns))
    time.sleep(0.03)  # the kernel stamps ctime from a coarse clock (one tick: 1-10 ms)
    os.replace(corrected, target)  # mtime and size as before: only ctime differs
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (4, before.st_mtime_ns)
    (again,) = handler.fetch_new(staging)
    assert again.path.read_bytes() == b"BBBB"
    target.chmod(0o600)
    assert handler.fetch_new(staging) == []


def _bytes_written_by_this_thread() -> int:
    with open("/proc/thread-self/io") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("wchar:"))


def _stage(root: Path, n: int) -> int:
    """Bytes this thread wrote to stage ``n`` one-byte files in a new area."""
    staging = StagingArea(root)
    before = _bytes_written_by_this_thread()
    for i in range(n):
        staging.receive(identity=f"in/{i:05d}.nc", name=f"{i:05d}.nc", write=_writer(b"%d" % i))
    return _bytes_written_by_this_thread() - before


@pytest.mark.skipif(
    not Path("/proc/thread-self/io").exists(), reason="needs Linux's per-thread I/O counters"
)
def test_staging_many_files_writes_bytes_linear_in_their_number(tmp_path: Path) -> None:
    """The manifest was rewritten whole for every arriving file: n files wrote O(n^2) bytes
    (10 000 files: gigabytes). Counted by the kernel, not timed: the bytes written per file
    stay a few hundred, four times as many files do not write more per file (the quadratic
    manifest wrote four times as much per file)."""
    small = _stage(tmp_path / "a", 1000) / 1000
    assert small < 1000, small
    large = _stage(tmp_path / "b", 4000) / 4000
    assert large < 1000 and large < 2.5 * small, (small, large)
    # nothing lost: reopened (which folds the journal) or read without opening, all are there
    listed = read_manifest(tmp_path / "b")
    assert len(listed) == 4000 and len({s.identity for s in listed}) == 4000
    assert [s.identity for s in StagingArea(tmp_path / "b").files()] == [s.identity for s in listed]
    assert not (tmp_path / "b" / JOURNAL).exists()  # folded into the snapshot when opened


def test_a_journal_line_cut_short_by_a_kill_is_ignored_others_are_kept(tmp_path: Path) -> None:
    staging = StagingArea(tmp_path)
    for name in ("a", "b"):
        staging.receive(identity=name, name=f"{name}.nc", write=_writer(name.encode()))
    with (tmp_path / JOURNAL).open("a") as fh:
        fh.write('{"path": "c')  # the process died while appending
    assert [s.identity for s in read_manifest(tmp_path)] == ["a", "b"]
    assert [s.identity for s in StagingArea(tmp_path).files()] == ["a", "b"]
    (tmp_path / JOURNAL).write_text("not json\n")
    with pytest.raises(TransferError, match="line 1 is damaged"):
        read_manifest(tmp_path)
