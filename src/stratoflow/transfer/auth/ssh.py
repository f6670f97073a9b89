"""SSH login for SFTP: a private key (optionally encrypted) or a password.

The key option is a secret reference to the key *text* (``file:/run/secrets/id_ed25519`` or
``env:SFTP_KEY``), so a key can come from a secret mount as easily as from a file.
"""

from __future__ import annotations

import io
from typing import Any

import paramiko

from stratoflow.errors import ConfigError
from stratoflow.transfer.auth.base import ConnectionHandler, SSHLogin
from stratoflow.transfer.secrets import Secret

__all__ = ["SSHAuth"]

_KEY_TYPES: tuple[type[paramiko.PKey], ...] = (
    paramiko.Ed25519Key,
    paramiko.ECDSAKey,
    paramiko.RSAKey,
)


class SSHAuth(ConnectionHandler):
    """SSH user ``username`` with a private ``key`` and/or a ``password`` (both references)."""

    name = "ssh"
    protocols = frozenset({"sftp"})
    secret_options = ("password", "key", "key_passphrase")

    def __init__(
        self,
        *,
        username: str,
        password: Secret | None = None,
        key: Secret | None = None,
        key_passphrase: Secret | None = None,
    ) -> None:
        if password is None and key is None:
            raise ConfigError("auth 'ssh': give a key or a password")
        self.username = username
        self.password, self.key, self.key_passphrase = password, key, key_passphrase

    def options(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "password": self.password,
            "key": self.key,
            "key_passphrase": self.key_passphrase,
        }

    def ssh_login(self) -> SSHLogin:
        pkey = None if self.key is None else self._load_key(self.key)
        password = None if self.password is None else self.password.reveal()
        return SSHLogin(username=self.username, password=password, pkey=pkey)

    def _load_key(self, key: Secret) -> paramiko.PKey:
        text = key.reveal()
        passphrase = None if self.key_passphrase is None else self.key_passphrase.reveal()
        for key_type in _KEY_TYPES:
            try:
                return key_type.from_private_key(io.StringIO(text), password=passphrase)
            except paramiko.PasswordRequiredException as exc:
                raise ConfigError(
                    f"auth 'ssh': key {key.reference} is encrypted; set key_passphrase"
                ) from exc
            except (paramiko.SSHException, ValueError):
                continue
        if self.key_passphrase is not None:
            # paramiko says "not a valid key" for a wrong passphrase too: name both suspects
            raise ConfigError(
                f"auth 'ssh': key {key.reference} is not a readable private key, or "
                f"key_passphrase {self.key_passphrase.reference} is not its passphrase"
            )
        raise ConfigError(f"auth 'ssh': key {key.reference} is not a readable private key")
