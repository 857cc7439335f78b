"""Where to connect: a peer's address and TLS root, from a local network's state directory
or from a Fabric common connection profile (JSON or YAML)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class Endpoint:
    """A peer's gRPC address, the PEM root that signed its TLS certificate, and an optional
    TLS server name override."""

    address: str
    tls_root: bytes
    server_name: str = ""
    msp_id: str = ""

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


def from_state_dir(state_dir: str | Path | None = None, org: str = "Org1",
                   peer: int = 0) -> Endpoint:
    """The endpoint of peer ``peer`` of ``org`` in a local network's state directory."""
    from ledgerlake.network import LocalNetwork

    net = LocalNetwork(state_dir)
    if not net.bootstrapped:
        raise ConfigError(f"no network in {net.state_dir}; run 'ledgerlake network up' or "
                          f"pass a connection profile")
    org_spec = net.layout.org(org)
    peers = net.layout.peers_of(org_spec)
    if not 0 <= peer < len(peers):
        raise ConfigError(f"{org_spec.name} has {len(peers)} peer(s); no peer {peer}")
    return Endpoint(peers[peer].address, net.layout.ca_cert(org_spec).read_bytes(),
                    msp_id=org_spec.msp_id)


def from_profile(path: str | Path, org: str | None = None) -> Endpoint:
    """The first peer of ``org`` (default: the profile's client organisation) in a Fabric
    common connection profile."""
    path = Path(path)
    try:
        text = path.read_text()
        profile = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except OSError as exc:
        raise ConfigError(f"cannot read connection profile {path}: {exc.strerror}") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"connection profile {path} is not valid JSON/YAML: {exc}") from None
    try:
        org = org or profile["client"]["organization"]
        org_entry = profile["organizations"][org]
        peer_name = org_entry["peers"][0]
        peer = profile["peers"][peer_name]
        url = peer["url"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ConfigError(f"connection profile {path} lacks {exc} (needed: client.organization, "
                          f"organizations.<org>.peers, peers.<peer>.url)") from None
    address = url.split("://", 1)[-1]
    tls = peer.get("tlsCACerts", {})
    if "pem" in tls:
        root = tls["pem"].encode()
    elif "path" in tls:
        root = (path.parent / tls["path"]).read_bytes()
    else:
        raise ConfigError(f"connection profile {path}: peer {peer_name} has no tlsCACerts")
    override = peer.get("grpcOptions", {}).get("ssl-target-name-override", "")
    return Endpoint(address, root, override, org_entry.get("mspid", ""))
