"""TransferHandler = TransferType x ConnectionHandler x DataProvider (+ a retry policy).

This is the object a job uses: ``fetch_new(staging)`` before reading, ``put(path)`` after
writing an export. It checks at construction that the authentication method fits the protocol,
retries transient failures with backoff, and re-raises every failure as a stratoflow error whose
message starts with the provider's name and the remote location (never a secret), e.g.
``provider 'IAGOS-DC' (https://portal.example/api/): GET .../files: HTTP 401: ...``.

The whole handler is a plain dict, secrets as references, so it can live in a YAML job file or
a database row::

    {"provider": {"name": "IAGOS-DC", "url": "https://iagos.aeris-data.fr"},
     "transfer": {"type": "http", "base_url": "https://portal.example/api/"},
     "auth": {"method": "hashtoken", "passphrase": "env:IAGOS_PASSPHRASE"},
     "retry": {"attempts": 4, "base": 0.5}}
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Self, TypeVar

from stratoflow import plugins
from stratoflow.errors import ConfigError, GoneError, TransferError
from stratoflow.transfer.auth import auth_from_config
from stratoflow.transfer.auth.base import ConnectionHandler
from stratoflow.transfer.base import RemoteItem, TransferType, UploadTrace
from stratoflow.transfer.provider import DataProvider
from stratoflow.transfer.retry import RetryPolicy
from stratoflow.transfer.staging import StagedFile, StagingArea, other_bytes, write_verified

__all__ = ["TransferHandler", "transfer_type_from_config"]

T = TypeVar("T")


def transfer_type_from_config(config: Mapping[str, Any]) -> TransferType:
    """The transfer type described by ``config`` (key ``type`` names the plugin)."""
    kind = config.get("type")
    if not isinstance(kind, str):
        raise ConfigError("transfer config: 'type' (e.g. 'http', 'sftp') is required")
    cls: type[TransferType] = plugins.load("transfer_types", kind)
    return cls.from_config(config)


class TransferHandler:
    """Fetch from / deliver to one provider through one protocol with one auth method.

    Example::

        handler = TransferHandler(
            transfer=HttpPortal(base_url="https://portal.example/api/"),
            auth=BearerAuth(token=Secret("env:PORTAL_TOKEN")),
            provider=DataProvider(name="Portal"),
        )
        new_files = handler.fetch_new(StagingArea("/srv/staging/portal"))
    """

    def __init__(
        self,
        *,
        transfer: TransferType,
        auth: ConnectionHandler,
        provider: DataProvider,
        retry: RetryPolicy | None = None,
    ) -> None:
        if transfer.protocol not in auth.protocols:
            raise ConfigError(
                f"provider {provider.name!r}: auth method {auth.name!r} cannot be used with "
                f"transfer type {transfer.name!r} (it supports: "
                f"{', '.join(sorted(auth.protocols)) or 'nothing'})"
            )
        self.transfer, self.auth, self.provider = transfer, auth, provider
        self.retry = retry if retry is not None else RetryPolicy()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Build from ``{"provider": ..., "transfer": ..., "auth": ..., "retry": ...}``."""
        unknown = set(config) - {"provider", "transfer", "auth", "retry"}
        if unknown:
            raise ConfigError(f"transfer handler: unknown keys {sorted(unknown)}")
        try:
            provider = DataProvider.from_config(config["provider"])
            transfer = transfer_type_from_config(config["transfer"])
        except KeyError as exc:
            raise ConfigError(f"transfer handler: missing section {exc.args[0]!r}") from None
        auth = auth_from_config(config.get("auth", {"method": "none"}))
        retry = RetryPolicy.from_config(config["retry"]) if "retry" in config else None
        return cls(transfer=transfer, auth=auth, provider=provider, retry=retry)

    def to_config(self) -> dict[str, Any]:
        """The plain-dict form; secrets appear as references only."""
        return {
            "provider": self.provider.to_config(),
            "transfer": self.transfer.to_config(),
            "auth": self.auth.to_config(),
            "retry": self.retry.to_config(),
        }

    def __repr__(self) -> str:
        return (
            f"TransferHandler(provider={self.provider.name!r}, transfer={self.transfer.where!r}, "
            f"auth={self.auth!r})"
        )

    def _named(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except TransferError as exc:
            # Same class, so callers can still tell AuthError from TransientTransferError.
            prefix = f"provider {self.provider.name!r} ({self.transfer.where})"
            raise type(exc)(f"{prefix}: {exc}") from exc

    def list(self) -> builtins.list[RemoteItem]:
        """The items currently offered by the provider."""

        def run() -> builtins.list[RemoteItem]:
            with self.transfer.connect(self.auth) as conn:
                return list(conn.list())

        return self._named(
            lambda: self.retry.call(run, what=f"list {self.provider.name} {self.transfer.where}")
        )

    def fetch_new(
        self,
        staging: StagingArea,
        *,
        on_failure: Callable[[RemoteItem, TransferError], None] | None = None,
    ) -> builtins.list[StagedFile]:
        """Stage every item not fetched before; return the newly staged files.

        ``on_failure`` receives each item whose download failed (the error names the
        provider), and the other items are still fetched; without it the first such failure
        is raised (see :meth:`TransferType.fetch_new`).
        """
        prefix = f"provider {self.provider.name!r} ({self.transfer.where})"

        def failed(item: RemoteItem, exc: TransferError) -> None:
            assert on_failure is not None
            named = type(exc)(f"{prefix}: {exc}")
            named.__cause__ = exc  # the chain tells what the server answered
            on_failure(item, named)

        return self._named(
            lambda: self.transfer.fetch_new(
                self.auth,
                staging,
                retry=self.retry,
                provider=self.provider.name,
                on_failure=failed if on_failure is not None else None,
            )
        )

    def refetch(self, identity: str, sha256: str, path: str | Path) -> None:
        """Download the item ``identity`` again into ``path``, if it still has these bytes.

        Re-processing reads the exact bytes that were imported; when their staged copy was
        cleaned away, the provider usually still has them. Raises
        :class:`~stratoflow.errors.TransferError` (naming the provider) when the item is no
        longer listed or its content changed (that is a new file, imported as such).
        """
        target = Path(path)

        def run() -> None:
            with self.transfer.connect(self.auth) as conn:
                item = next((i for i in conn.list() if i.identity == identity), None)
                if item is None:
                    raise GoneError(f"{identity}: no longer offered")
                if item.sha256 and item.sha256.lower() != sha256.lower():
                    raise other_bytes(identity, item.sha256, sha256)
                write_verified(
                    target, lambda sink: conn.get(item, sink), sha256=sha256, source=identity
                )

        self._named(lambda: self.retry.call(run, what=f"get {identity} again"))

    def put(self, source: str | Path, name: str | None = None) -> str:
        """Deliver a local file (an export) as ``name`` (default: its file name)."""
        path = Path(source)
        remote_name = name or path.name

        def run() -> str:
            with self.transfer.connect(self.auth) as conn:
                return conn.put(path, remote_name)

        return self._named(
            lambda: self.retry.call(run, what=f"put {remote_name} to {self.transfer.where}")
        )

    def find_upload(self, name: str) -> UploadTrace | None:
        """What the target shows of an upload of ``name`` (see
        :meth:`~stratoflow.transfer.base.Connection.find_upload`); ``None`` when the
        transfer type cannot tell (an HTTP endpoint). Retried like the other operations."""

        if not self.transfer.finds_uploads:
            return None  # no connection made (nor a token fetched) only to learn that

        def run() -> UploadTrace | None:
            with self.transfer.connect(self.auth) as conn:
                return conn.find_upload(name)

        return self._named(
            lambda: self.retry.call(run, what=f"look for {name} at {self.transfer.where}")
        )
