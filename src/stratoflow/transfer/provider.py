"""Who the external party is: shown in the admin, recorded in the provenance of imported files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Self

from stratoflow.errors import ConfigError
from stratoflow.transfer.config import build, no_credentials

__all__ = ["DataProvider"]


@dataclass(frozen=True)
class DataProvider:
    """A data provider (data centre, instrument PI, partner portal).

    ``licence`` is the licence of the data (an SPDX id such as ``CC-BY-4.0`` or a URL);
    ``terms`` the terms of use or citation requirement, kept with every file fetched from it.

    Example::

        DataProvider(name="IAGOS-DC", url="https://iagos.aeris-data.fr", licence="CC-BY-4.0")
    """

    name: str
    description: str = ""
    contact: str = ""
    url: str = ""
    licence: str = ""
    terms: str = ""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ConfigError("data provider: name must not be empty")
        # Stored and shown (provenance of every file, admin lists), never used to log in:
        # refused here as a job definition's provider URL is (its model's ``clean``).
        no_credentials(self.url, "url", f"data provider {self.name!r}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Build from a plain dict of the dataclass fields."""
        return build(cls, config, what="data provider")

    def to_config(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)

    def provenance(self) -> dict[str, str]:
        """Attributes to record with a fetched file (non-empty fields, prefixed ``provider_``)."""
        return {f"provider_{k}": v for k, v in asdict(self).items() if v}
