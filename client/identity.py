"""Who signs: an MSP ID plus an X.509 certificate, kept apart from the key that signs; and
the wallet, the one place the client reads identities from.

``Identity`` only knows its MSP ID and certificate (what goes into every request as the
creator); a signer (``ledgerlake.client.signing``) is separate, so the key may live anywhere.

The wallet format is the client's, so any tool (a local network's ``up``, an operator's
script, a Fabric SDK) can make entries without knowing the network that issued them. A
wallet entry is a directory (``wallet/Org1/producer/``) holding one ``id.json``, mode 0600,
in the identity format of Fabric SDK file wallets::

    {"version": 1, "mspId": "Org1MSP", "type": "X.509",
     "credentials": {"certificate": "-----BEGIN CERTIFICATE-----…",
                     "privateKey": "-----BEGIN PRIVATE KEY-----…"}}

A Fabric Node/Go SDK wallet file (``<label>.id``, the same JSON) is read as well: pass its
path instead of a directory.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.msp import identities_pb2

from ledgerlake.client.signing import Signer, load_private_key, private_key_pem, signer_from_key
from ledgerlake.errors import ConfigError

#: The file of a wallet entry directory, and the one format version it may have.
WALLET_FILE = "id.json"
WALLET_VERSION = 1


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
    def from_wallet(cls, entry: str | Path) -> "Identity":
        """The identity of a wallet entry (a directory with ``id.json``, or a ``.id`` file)."""
        msp_id, cert, _ = _read_entry(entry)
        try:
            x509.load_pem_x509_certificate(cert)
        except ValueError:
            raise ConfigError(f"wallet entry {_entry_file(entry)}: credentials.certificate is "
                              f"not a PEM X.509 certificate") from None
        return cls(msp_id, cert)


def signer_from_wallet(entry: str | Path) -> Signer:
    """A signer over a wallet entry's private key."""
    path, pem = _entry_file(entry), _read_entry(entry)[2]
    try:
        return signer_from_key(load_private_key(pem))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"wallet entry {path}: credentials.privateKey is not an ECDSA "
                          f"P-256 PEM key ({exc})") from None


def load_wallet(entry: str | Path) -> tuple[Identity, Signer]:
    """The identity and signer of a wallet entry, read once."""
    return Identity.from_wallet(entry), signer_from_wallet(entry)


def write_wallet(entry: str | Path, msp_id: str, certificate: bytes,
                 private_key: bytes | ec.EllipticCurvePrivateKey) -> Path:
    """Write (or replace) a wallet entry directory; returns it.

    The file is created 0600 and replaced atomically, so a reader never sees half an entry
    and the key is never readable by others, not even for an instant."""
    folder = Path(entry)
    key_pem = private_key if isinstance(private_key, bytes) else private_key_pem(private_key)
    x509.load_pem_x509_certificate(certificate)  # refuse to store what cannot be read back
    document = {"version": WALLET_VERSION, "mspId": msp_id, "type": "X.509",
                "credentials": {"certificate": certificate.decode(),
                                "privateKey": key_pem.decode()}}
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".id-", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(document, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, folder / WALLET_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return folder


def wallet_entries(root: str | Path) -> list[Path]:
    """Every wallet entry directory below ``root`` (e.g. ``wallet/`` or ``wallet/Org1``)."""
    return sorted(p.parent for p in Path(root).rglob(WALLET_FILE))


def _entry_file(entry: str | Path) -> Path:
    path = Path(entry)
    return path if path.is_file() else path / WALLET_FILE


def _read_entry(entry: str | Path) -> tuple[str, bytes, bytes]:
    """(msp_id, certificate PEM, private key PEM) of a wallet entry; ConfigError naming
    the first thing wrong."""
    path = _entry_file(entry)
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"no wallet entry at {entry}: cannot read {path} "
                          f"({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigError(f"wallet entry {path} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"wallet entry {path} is not a JSON object")
    if document.get("version", WALLET_VERSION) != WALLET_VERSION:
        raise ConfigError(f"wallet entry {path} has version {document.get('version')!r}; "
                          f"this client reads version {WALLET_VERSION}")
    if document.get("type", "X.509") != "X.509":
        raise ConfigError(f"wallet entry {path} has type {document.get('type')!r}; only "
                          f"X.509 identities are supported")
    credentials = document.get("credentials")
    fields = {"mspId": document.get("mspId"),
              "credentials.certificate": isinstance(credentials, dict)
              and credentials.get("certificate"),
              "credentials.privateKey": isinstance(credentials, dict)
              and credentials.get("privateKey")}
    for name, value in fields.items():
        if not isinstance(value, str) or not value:
            raise ConfigError(f"wallet entry {path} lacks {name} (a non-empty string)")
    return (fields["mspId"], fields["credentials.certificate"].encode(),
            fields["credentials.privateKey"].encode())
