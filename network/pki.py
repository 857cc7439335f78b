"""Certificates of a local network: one root CA per organisation, served by fabric-ca-server.

The root key and certificate are made here (so the CA's TLS certificate can be signed by
the same root before the server starts); every node, admin and user identity is then
registered and enrolled through the CA's REST API (``ledgerlake.client.ca``), never with
cryptogen. This module also writes the MSP folders Fabric reads and, through the client's
own writer (``ledgerlake.client.identity.write_wallet``), the wallet entries users sign
with.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ledgerlake.client.ca import CAClient, Enrollment
from ledgerlake.client.identity import Identity, wallet_entries, write_wallet
from ledgerlake.client.signing import new_private_key, private_key_pem
from ledgerlake.errors import ConfigError
from ledgerlake.network.layout import HOST, ORDERER_ORG, Layout, Node
from ledgerlake.network.spec import OrgSpec
from ledgerlake.protocol import ROLE_ATTRIBUTE, ROLES, certificate_attributes

TLS_HOSTS = (HOST, "localhost")


def tls_hosts(host: str = HOST) -> tuple[str, ...]:
    """The names a TLS certificate carries: loopback and, for a node with an address of its
    own, that address (what every other node and client dials)."""
    return TLS_HOSTS if host in TLS_HOSTS else (host, *TLS_HOSTS)

NODE_OUS = """NodeOUs:
  Enable: true
  ClientOUIdentifier: {Certificate: cacerts/ca.pem, OrganizationalUnitIdentifier: client}
  PeerOUIdentifier: {Certificate: cacerts/ca.pem, OrganizationalUnitIdentifier: peer}
  AdminOUIdentifier: {Certificate: cacerts/ca.pem, OrganizationalUnitIdentifier: admin}
  OrdererOUIdentifier: {Certificate: cacerts/ca.pem, OrganizationalUnitIdentifier: orderer}
"""


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file with mode 0600 from the start (never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


# -- the CA's own material ----------------------------------------------------------------
def ca_home(layout: Layout, org: OrgSpec) -> Path:
    return layout.state_dir / "ca" / org.domain


def create_root_ca(layout: Layout, org: OrgSpec) -> None:
    """Make the organisation's root CA key and certificate, and the CA server's TLS pair."""
    home = ca_home(layout, org)
    host = layout.ca_of(org).host
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    key = new_private_key()
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org.name),
        x509.NameAttribute(NameOID.COMMON_NAME, f"ca.{org.domain}"),
    ])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    root = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                       critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    root_pem = root.public_bytes(serialization.Encoding.PEM)
    write_private(home / "ca-key.pem", private_key_pem(key))
    _write(home / "ca-cert.pem", root_pem)

    tls_key = new_private_key()
    tls = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"ca.{org.domain}")]))
        .issuer_name(name).public_key(tls_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"),
             *(x509.IPAddress(ipaddress.ip_address(h)) for h in tls_hosts(host)
               if h != "localhost")]),
            critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(home / "tls-key.pem", private_key_pem(tls_key))
    _write(home / "tls-cert.pem", tls.public_bytes(serialization.Encoding.PEM))
    write_private(home / "registrar.json",
                  json.dumps({"id": "registrar", "secret": secrets.token_urlsafe(18)}).encode())
    write_org_msp(layout, org, root_pem)


def registrar_secret(layout: Layout, org: OrgSpec) -> str:
    return json.loads((ca_home(layout, org) / "registrar.json").read_text())["secret"]


def write_org_msp(layout: Layout, org: OrgSpec, root_pem: bytes) -> None:
    """The organisation's MSP as the channel configuration sees it."""
    msp = layout.org_msp(org)
    _write(msp / "cacerts" / "ca.pem", root_pem)
    _write(msp / "tlscacerts" / "ca.pem", root_pem)
    _write(msp / "config.yaml", NODE_OUS)


def write_msp(folder: Path, enrollment: Enrollment, root_pem: bytes) -> None:
    """A local MSP folder (signcerts, keystore, cacerts, NodeOUs) for one identity."""
    _write(folder / "signcerts" / "cert.pem", enrollment.cert_pem)
    write_private(folder / "keystore" / "priv_sk", private_key_pem(enrollment.key))
    _write(folder / "cacerts" / "ca.pem", root_pem)
    _write(folder / "tlscacerts" / "ca.pem", root_pem)
    _write(folder / "config.yaml", NODE_OUS)


def write_tls(folder: Path, enrollment: Enrollment, root_pem: bytes) -> None:
    _write(folder / "server.crt", enrollment.cert_pem)
    write_private(folder / "server.key", private_key_pem(enrollment.key))
    _write(folder / "ca.crt", root_pem)


# -- identities through the running CA ----------------------------------------------------
class OrgCA:
    """The running CA of one organisation, with its registrar enrolled."""

    def __init__(self, layout: Layout, org: OrgSpec):
        self.layout = layout
        self.org = org
        node = layout.ca_of(org)
        self.root_pem = layout.ca_cert(org).read_bytes()
        self.client = CAClient(f"https://{node.at('api')}", self.root_pem)
        self._registrar: Enrollment | None = None

    @property
    def registrar(self) -> Enrollment:
        if self._registrar is None:
            self._registrar = self.client.enroll("registrar", registrar_secret(self.layout,
                                                                               self.org))
        return self._registrar

    def issue(self, name: str, type: str, attrs: dict[str, str] | None = None,
              host: str = HOST) -> tuple[Enrollment, Enrollment]:
        """Register ``name`` and enroll it twice: a signing certificate and a TLS one (for
        ``host`` and loopback)."""
        secret = self.client.register(self.registrar, name, type=type, attrs=attrs)
        signing = self.client.enroll(name, secret)
        tls = self.client.enroll(name, secret, profile="tls", hosts=tls_hosts(host))
        return signing, tls

    def issue_node(self, node_dir: Path, node: Node, type: str) -> None:
        signing, tls = self.issue(node.name, type, host=node.host)
        write_msp(node_dir / "msp", signing, self.root_pem)
        write_tls(node_dir / "tls", tls, self.root_pem)

    def issue_user(self, name: str, role: str) -> Path:
        """Register a user with ``ledgerlake.role`` in its certificate; store it in the wallet."""
        if role not in ROLES:
            raise ConfigError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if (self.layout.user_dir(self.org, name) / "msp").exists():
            raise ConfigError(f"identity {name!r} already exists in {self.org.name}")
        signing, tls = self.issue(name, "admin" if role == "admin" else "client",
                                  {ROLE_ATTRIBUTE: role})
        return store_user(self.layout, self.org, name, signing, tls, self.root_pem)


def store_user(layout: Layout, org: OrgSpec, name: str, signing: Enrollment, tls: Enrollment,
               root_pem: bytes) -> Path:
    """Keep a user's MSP folder and TLS client pair for the network's own tools, and write
    its wallet entry; returns the wallet entry."""
    folder = layout.user_dir(org, name)
    write_msp(folder / "msp", signing, root_pem)
    _write(folder / "tls" / "client.crt", tls.cert_pem)
    write_private(folder / "tls" / "client.key", private_key_pem(tls.key))
    return write_user_wallet(layout, org, name)


def write_user_wallet(layout: Layout, org: OrgSpec, name: str) -> Path:
    """(Re)write a user's wallet entry from the network's copy of its MSP folder."""
    msp = layout.user_dir(org, name) / "msp"
    return write_wallet(layout.wallet_dir(org, name), org.msp_id,
                        (msp / "signcerts" / "cert.pem").read_bytes(),
                        (msp / "keystore" / "priv_sk").read_bytes())


def write_wallets(layout: Layout) -> list[Path]:
    """Every user's wallet entry, rewritten so the wallet is always current."""
    written = []
    for org in (ORDERER_ORG, *layout.orgs):
        users = layout.org_dir(org) / "users"
        for folder in sorted(users.glob("*/msp")) if users.exists() else ():
            written.append(write_user_wallet(layout, org, folder.parent.name))
    return written


def migrate_legacy_wallet(layout: Layout) -> None:
    """Move what the old wallet entries held for the network (msp/, tls/) to the users'
    folders, and drop the old files (cert.pem, key.pem, ca.pem, identity.json)."""
    for org in (ORDERER_ORG, *layout.orgs):
        base = layout.wallet_dir(org)
        for old in sorted(base.glob("*/identity.json")) if base.exists() else ():
            entry, target = old.parent, layout.user_dir(org, old.parent.name)
            target.mkdir(parents=True, exist_ok=True)
            for sub in ("msp", "tls"):
                if (entry / sub).exists() and not (target / sub).exists():
                    (entry / sub).rename(target / sub)
            for name in ("cert.pem", "key.pem", "ca.pem", "identity.json"):
                (entry / name).unlink(missing_ok=True)


def wallet_identities(layout: Layout) -> list[dict]:
    """Every identity in the wallet: name, MSP ID and role (from its certificate)."""
    found = []
    for entry in wallet_entries(layout.state_dir / "wallet"):
        identity = Identity.from_wallet(entry)
        role = certificate_attributes(identity.credentials).get(ROLE_ATTRIBUTE, "")
        found.append({"name": entry.name, "mspid": identity.msp_id, "role": role})
    return found
