"""Where to connect: peers and CAs from a Fabric common connection profile (JSON or YAML),
the format Fabric's SDKs read, so the same code serves a local network and any other.

The parts of a profile read here (others are ignored)::

    name, version
    client.organization                      the default organisation (optional)
    organizations.<org>.mspid                required
    organizations.<org>.peers                names of the org's peers
    organizations.<org>.certificateAuthorities
    peers.<name>.url                         grpcs://host:port
    peers.<name>.tlsCACerts                  {pem: PEM or [PEM, …]} or {path: file}
    peers.<name>.grpcOptions.ssl-target-name-override (or hostnameOverride)
    certificateAuthorities.<name>.url        https://host:port
    certificateAuthorities.<name>.caName, .tlsCACerts

A relative ``tlsCACerts.path`` is read from the profile's folder. A local network's ``up``
writes one profile per organisation to ``<state dir>/profiles/<Org>.json``; the client
finds it there (``from_state_dir``) without knowing anything else of the network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import grpc
import yaml

from ledgerlake.errors import ConfigError

#: Blocks can be large; the peer allows 100 MB.
MAX_MESSAGE = 100 * 2**20
#: The peer rejects keepalive pings more often than every 60 s.
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", MAX_MESSAGE),
                   ("grpc.max_send_message_length", MAX_MESSAGE),
                   ("grpc.keepalive_time_ms", 120_000),
                   ("grpc.keepalive_permit_without_calls", 0)]
#: Where, in a local network's state directory, the connection profiles are.
PROFILES_DIR = "profiles"
#: The command line program (named in hints).
PROG = "ledgerlake"


@dataclass(frozen=True)
class Endpoint:
    """A peer's gRPC address, the PEM root that signed its TLS certificate, an optional
    TLS server name override, its organisation's MSP ID and its name in the profile."""

    address: str
    tls_root: bytes
    server_name: str = ""
    msp_id: str = ""
    name: str = ""

    def _options(self) -> list:
        options = list(CHANNEL_OPTIONS)
        if self.server_name:
            options.append(("grpc.ssl_target_name_override", self.server_name))
        return options

    def dial(self) -> grpc.Channel:
        """A blocking gRPC channel to this peer (the caller owns and closes it)."""
        return grpc.secure_channel(self.address, grpc.ssl_channel_credentials(self.tls_root),
                                   options=self._options())

    def dial_async(self) -> grpc.aio.Channel:
        """An asyncio gRPC channel to this peer (the caller owns and closes it)."""
        return grpc.aio.secure_channel(self.address,
                                       grpc.ssl_channel_credentials(self.tls_root),
                                       options=self._options())


@dataclass(frozen=True)
class CertificateAuthority:
    """A Fabric CA of the profile: REST URL, CA name (empty: the server's default CA) and
    the PEM root of its TLS certificate."""

    name: str
    url: str
    tls_root: bytes
    ca_name: str = ""

    def client(self, timeout: float = 15.0):
        """A ``CAClient`` for this CA."""
        from ledgerlake.client.ca import CAClient
        return CAClient(self.url, self.tls_root, caname=self.ca_name, timeout=timeout)


@dataclass(frozen=True)
class Organization:
    """An organisation of the profile: its key, MSP ID, peer and CA names."""

    name: str
    msp_id: str
    peers: tuple[str, ...]
    certificate_authorities: tuple[str, ...]


class ConnectionProfile:
    """A parsed, checked Fabric common connection profile.

    Every organisation, the peers and CAs it names, their URLs and TLS roots are checked
    when the profile is read; the first problem is a one-line ConfigError naming the field.
    """

    def __init__(self, document: Any, source: str | Path = "<profile>",
                 base_dir: Path | None = None):
        self.source = str(source)
        self._base = base_dir or Path.cwd()
        doc = self._mapping(document, "the profile")
        self.name = str(doc.get("name", ""))
        self.version = str(doc.get("version", ""))
        client = self._mapping(doc.get("client") or {}, "client")
        self.client_organization: str | None = client.get("organization") or None
        if self.client_organization is not None and not isinstance(self.client_organization,
                                                                    str):
            raise self._error("client.organization must be a string")
        if not doc.get("organizations"):
            raise self._error("organizations is missing")
        orgs = self._mapping(doc["organizations"], "organizations")
        peer_docs = self._mapping(doc.get("peers") or {}, "peers")
        ca_docs = self._mapping(doc.get("certificateAuthorities") or {}, "certificateAuthorities")
        self.organizations: dict[str, Organization] = {}
        self._peers: dict[str, Endpoint] = {}
        self._cas: dict[str, CertificateAuthority] = {}
        for key, entry in orgs.items():
            where = f"organizations.{key}"
            entry = self._mapping(entry, where)
            msp_id = self._need(entry, "mspid", where)
            peers = self._names(entry.get("peers") or [], f"{where}.peers")
            cas = self._names(entry.get("certificateAuthorities") or [],
                              f"{where}.certificateAuthorities")
            for peer in peers:
                if peer not in self._peers:
                    if peer not in peer_docs:
                        raise self._error(f"{where}.peers names {peer!r}, which is not in peers")
                    self._peers[peer] = self._peer(peer, peer_docs[peer], msp_id)
            for ca in cas:
                if ca not in self._cas:
                    if ca not in ca_docs:
                        raise self._error(f"{where}.certificateAuthorities names {ca!r}, "
                                          f"which is not in certificateAuthorities")
                    self._cas[ca] = self._ca(ca, ca_docs[ca])
            self.organizations[str(key)] = Organization(str(key), msp_id, peers, cas)
        if self.client_organization is not None:
            self.organization(self.client_organization)  # it must exist

    # -- reading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> "ConnectionProfile":
        """Read a profile file: ``.json`` as JSON, anything else as YAML."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read connection profile {path}: {exc.strerror}") from None
        try:
            document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            kind = "JSON" if path.suffix == ".json" else "YAML"
            detail = " ".join(str(exc).split())
            raise ConfigError(f"connection profile {path} is not valid {kind}: {detail}") from None
        return cls(document, path, path.parent)

    def organization(self, org: str | None = None) -> Organization:
        """An organisation by name or MSP ID (case-insensitive); default: the client's."""
        wanted = org or self.client_organization
        if not wanted:
            raise self._error("has no client.organization; name an organisation")
        for entry in self.organizations.values():
            if wanted.lower() in (entry.name.lower(), entry.msp_id.lower()):
                return entry
        raise self._error(f"has no organisation {wanted!r}; organisations: "
                          f"{', '.join(self.organizations)}")

    def peers(self, org: str | None = None) -> list[Endpoint]:
        """The endpoints of an organisation's peers, in profile order."""
        return [self._peers[name] for name in self.organization(org).peers]

    @property
    def all_peers(self) -> list[Endpoint]:
        """Every peer of every organisation."""
        return list(self._peers.values())

    def endpoint(self, peer: int | str = 0, org: str | None = None) -> Endpoint:
        """One peer of an organisation, by index in its list or by name."""
        entry = self.organization(org)
        if isinstance(peer, str):
            if peer not in entry.peers:
                raise self._error(f"organisation {entry.name} has no peer {peer!r}; its peers: "
                                  f"{', '.join(entry.peers) or 'none'}")
            return self._peers[peer]
        if not 0 <= peer < len(entry.peers):
            raise self._error(f"organisation {entry.name} has {len(entry.peers)} peer(s); "
                              f"no peer {peer}")
        return self._peers[entry.peers[peer]]

    def ca(self, org: str | None = None) -> CertificateAuthority:
        """The (first) certificate authority of an organisation."""
        entry = self.organization(org)
        if not entry.certificate_authorities:
            raise self._error(f"organisation {entry.name} lists no certificateAuthorities")
        return self._cas[entry.certificate_authorities[0]]

    # -- checks --------------------------------------------------------------------------
    def _error(self, what: str) -> ConfigError:
        return ConfigError(f"connection profile {self.source}: {what}")

    def _mapping(self, value: Any, where: str) -> Mapping:
        if not isinstance(value, Mapping):
            raise self._error(f"{where} must be a mapping, not {type(value).__name__}")
        return value

    def _need(self, doc: Mapping, key: str, where: str) -> str:
        field = f"{where}.{key}"
        value = doc.get(key)
        if value in (None, "", [], {}):
            raise self._error(f"{field} is missing")
        if not isinstance(value, str):
            raise self._error(f"{field} must be a string")
        return value

    def _names(self, value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self._error(f"{where} must be a list of names")
        return tuple(value)

    def _url(self, doc: Mapping, where: str, schemes: tuple[str, ...]) -> tuple[str, str]:
        url = self._need(doc, "url", where)
        scheme, sep, rest = url.partition("://")
        if not sep:
            scheme, rest = schemes[0], url
        if scheme not in schemes:
            raise self._error(f"{where}.url {url!r} must start with "
                              f"{' or '.join(s + '://' for s in schemes)} (TLS is required)")
        host, _, port = rest.rstrip("/").rpartition(":")
        if not host or not port.isdigit():
            raise self._error(f"{where}.url {url!r} lacks host:port")
        return scheme, rest.rstrip("/")

    def _tls_root(self, doc: Mapping, where: str) -> bytes:
        if not doc.get("tlsCACerts"):
            raise self._error(f"{where}.tlsCACerts is missing")
        tls = self._mapping(doc["tlsCACerts"], f"{where}.tlsCACerts")
        if "pem" in tls:
            pem = tls["pem"]
            pems = pem if isinstance(pem, list) else [pem]
            if not pems or not all(isinstance(p, str) and "-----BEGIN CERTIFICATE-----" in p
                                   for p in pems):
                raise self._error(f"{where}.tlsCACerts.pem must be a PEM certificate "
                                  f"(or a list of them)")
            return "\n".join(p.strip() + "\n" for p in pems).encode()
        if "path" in tls:
            if not isinstance(tls["path"], str) or not tls["path"]:
                raise self._error(f"{where}.tlsCACerts.path must be a file name")
            file = Path(tls["path"]).expanduser()
            file = file if file.is_absolute() else self._base / file
            try:
                data = file.read_bytes()
            except OSError as exc:
                raise self._error(f"{where}.tlsCACerts.path: cannot read {file} "
                                  f"({exc.strerror})") from None
            if b"-----BEGIN CERTIFICATE-----" not in data:
                raise self._error(f"{where}.tlsCACerts.path: {file} holds no PEM certificate")
            return data
        raise self._error(f"{where}.tlsCACerts needs pem or path")

    def _peer(self, name: str, doc: Any, msp_id: str) -> Endpoint:
        where = f"peers.{name}"
        doc = self._mapping(doc, where)
        _, address = self._url(doc, where, ("grpcs",))
        options = self._mapping(doc.get("grpcOptions") or {}, f"{where}.grpcOptions")
        override = options.get("ssl-target-name-override") or options.get("hostnameOverride") or ""
        if not isinstance(override, str):
            raise self._error(f"{where}.grpcOptions.ssl-target-name-override must be a string")
        return Endpoint(address, self._tls_root(doc, where), override, msp_id, name)

    def _ca(self, name: str, doc: Any) -> CertificateAuthority:
        where = f"certificateAuthorities.{name}"
        doc = self._mapping(doc, where)
        _, rest = self._url(doc, where, ("https",))
        ca_name = doc.get("caName", "") or ""
        if not isinstance(ca_name, str):
            raise self._error(f"{where}.caName must be a string")
        return CertificateAuthority(name, f"https://{rest}", self._tls_root(doc, where), ca_name)


def load_profile(path: str | Path) -> ConnectionProfile:
    """Read and check a Fabric common connection profile (JSON or YAML)."""
    return ConnectionProfile.load(path)


def from_profile(path: str | Path, org: str | None = None, peer: int | str = 0) -> Endpoint:
    """Peer ``peer`` (index or name) of ``org`` (default: the profile's client organisation)
    in a Fabric common connection profile."""
    return load_profile(path).endpoint(peer, org)


def local_profile_path(state_dir: str | Path, org: str) -> Path:
    """Where a local network keeps organisation ``org``'s connection profile."""
    return Path(state_dir) / PROFILES_DIR / f"{org}.json"


def local_org_key_path(state_dir: str | Path, org: str) -> Path:
    """Where a local network keeps organisation ``org``'s X25519 private key (0600), the
    key its wrapped stream data keys open with: ``<state dir>/keys/<org>/x25519.pem``."""
    return Path(state_dir) / "keys" / org / "x25519.pem"


def load_local_profile(state_dir: str | Path, org: str = "Org1") -> ConnectionProfile:
    """The connection profile a local network wrote for ``org`` (its name or MSP ID)."""
    path = local_profile_path(state_dir, org)
    if not path.exists():
        for candidate in sorted((Path(state_dir) / PROFILES_DIR).glob("*.json")):
            profile = load_profile(candidate)
            try:
                if profile.organization() is profile.organization(org):
                    return profile
            except ConfigError:
                continue
        raise ConfigError(f"no connection profile for {org} in {Path(state_dir) / PROFILES_DIR}; "
                          f"run '{PROG} network up' or pass a profile")
    return load_profile(path)


def from_state_dir(state_dir: str | Path, org: str = "Org1", peer: int | str = 0) -> Endpoint:
    """Peer ``peer`` of ``org`` from the connection profile in a local network's state
    directory (``<state dir>/profiles/<org>.json``)."""
    return load_local_profile(state_dir, org).endpoint(peer)
