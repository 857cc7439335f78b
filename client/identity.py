"""Who signs: an MSP ID plus an X.509 certificate, kept apart from the key that signs.

``Identity`` only knows its MSP ID and certificate (what goes into every request as the
creator); a signer (``ledgerlake.client.signing``) is separate, so the key may live anywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography import x509
from fabric_protos.msp import identities_pb2

from ledgerlake.client.signing import Signer, load_private_key, signer_from_key
from ledgerlake.errors import ConfigError


@dataclass(frozen=True)
class Identity:
    """A client identity: MSP ID and PEM certificate."""

    msp_id: str
    credentials: bytes

    @cached_property
    def creator(self) -> bytes:
        """The serialized identity Fabric puts in headers (``SerializedIdentity``)."""
        return identities_pb2.SerializedIdentity(mspid=self.msp_id,
                                                 id_bytes=self.credentials).SerializeToString()

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.credentials)

    @classmethod
    def from_wallet(cls, folder: str | Path) -> "Identity":
        """Load a wallet entry written by the network (``identity.json`` + ``cert.pem``)."""
        folder = Path(folder)
        try:
            info = json.loads((folder / "identity.json").read_text())
            return cls(info["mspid"], (folder / "cert.pem").read_bytes())
        except (OSError, KeyError, ValueError):
            raise ConfigError(f"{folder} is not a wallet entry (identity.json + cert.pem)") from None


def signer_from_wallet(folder: str | Path) -> Signer:
    """A signer over the wallet entry's private key (``key.pem``)."""
    try:
        return signer_from_key(load_private_key(Path(folder) / "key.pem"))
    except OSError:
        raise ConfigError(f"{folder} has no readable key.pem") from None
