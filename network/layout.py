"""Where everything of a local network lives: its nodes, their ports and their files.

All of it is derived from a ``NetworkSpec`` and a state directory, so two commands that
agree on those two agree on everything else. Ports come from one base port:

    base + 10·i + {0 api, 1 ops}                  CA of organisation i (0 = orderer org)
    base + 100 + 10·n + {0 grpc, 1 admin, 2 ops}  orderer n
    base + 200 + 10·k + {0 grpc, 1 chaincode, 2 ops}  peer k (counted across orgs)
    base + 300 + 10·i + {0 grpc}                  chaincode server of peer org i

Every node listens on 127.0.0.1 unless the spec's ``hosts`` gives it an address of its
own (and maybe a network namespace to run in): ``Node.host`` is what everything that
addresses the node uses (certificates, endpoints, consenters, profiles, health checks).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from ledgerlake.client.connection import PROFILES_DIR, local_profile_path
from ledgerlake.errors import ConfigError
from ledgerlake.network.spec import NetworkSpec, OrgSpec

STATE_ENV = "LEDGERLAKE_STATE_DIR"
ORDERER_ORG = OrgSpec("Orderer", peers=0)
HOST = "127.0.0.1"


def default_state_dir() -> Path:
    """``$LEDGERLAKE_STATE_DIR`` if set, else ``.ledgerlake/`` under the current directory."""
    return Path(os.environ.get(STATE_ENV) or ".ledgerlake").expanduser().resolve()


@dataclass(frozen=True)
class Node:
    """One process of the network."""

    name: str
    kind: str  # "ca" | "orderer" | "peer" | "chaincode"
    org: OrgSpec
    ports: dict
    host: str = HOST   # the address it listens on and is reached at
    netns: str = ""    # the network namespace it runs in ("" for this machine's own)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.ports['grpc' if 'grpc' in self.ports else 'api']}"

    def at(self, port: str) -> str:
        """``host:port`` of one of its ports (``node.at("ops")``)."""
        return f"{self.host}:{self.ports[port]}"


class Layout:
    """Nodes, ports and paths of one network spec in one state directory."""

    def __init__(self, spec: NetworkSpec, state_dir: Path):
        self.spec = spec
        self.state_dir = Path(state_dir)
        b = spec.base_port
        self.orgs: tuple[OrgSpec, ...] = spec.orgs
        self.cas = [
            Node(f"ca.{org.domain}", "ca", org, {"api": b + 10 * i, "ops": b + 10 * i + 1})
            for i, org in enumerate((ORDERER_ORG, *spec.orgs))
        ]
        self.orderers = [
            Node(f"orderer{n + 1}", "orderer", ORDERER_ORG,
                 {"grpc": b + 100 + 10 * n, "admin": b + 101 + 10 * n, "ops": b + 102 + 10 * n})
            for n in range(spec.orderer_count)
        ]
        self.peers: list[Node] = []
        for org in spec.orgs:
            for p in range(org.peers):
                k = len(self.peers)
                self.peers.append(Node(
                    f"peer{p}.{org.domain}", "peer", org,
                    {"grpc": b + 200 + 10 * k, "chaincode": b + 201 + 10 * k,
                     "ops": b + 202 + 10 * k}))
        self.chaincode_servers = [
            Node(f"chaincode.{org.domain}", "chaincode", org, {"grpc": b + 300 + 10 * i})
            for i, org in enumerate(spec.orgs)
        ]
        self._place(spec)

    def _place(self, spec: NetworkSpec) -> None:
        """Give the nodes the spec's ``hosts`` name their address and namespace."""
        names = {n.name for n in self.nodes}
        for h in spec.hosts:
            if h.node not in names:
                raise ConfigError(f"spec field 'hosts' names no node of this network: "
                                  f"{h.node!r}; nodes: {', '.join(n.name for n in self.nodes)}")
        placed = {h.node: h for h in spec.hosts}

        def place(nodes: list[Node]) -> list[Node]:
            return [replace(n, host=placed[n.name].address, netns=placed[n.name].netns)
                    if n.name in placed else n for n in nodes]

        self.cas, self.orderers = place(self.cas), place(self.orderers)
        self.peers, self.chaincode_servers = place(self.peers), place(self.chaincode_servers)

    # -- nodes -----------------------------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        """Every node, in start order."""
        return [*self.cas, *self.orderers, *self.peers, *self.chaincode_servers]

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise ConfigError(f"no node named {name!r}; nodes: "
                          f"{', '.join(n.name for n in self.nodes)}")

    def ca_of(self, org: OrgSpec) -> Node:
        return next(n for n in self.cas if n.org.name == org.name)

    def peers_of(self, org: OrgSpec) -> list[Node]:
        return [n for n in self.peers if n.org.name == org.name]

    def chaincode_server_of(self, org: OrgSpec) -> Node:
        return next(n for n in self.chaincode_servers if n.org.name == org.name)

    def org(self, name: str) -> OrgSpec:
        for org in (ORDERER_ORG, *self.orgs):
            if org.name.lower() == name.lower() or org.msp_id.lower() == name.lower():
                return org
        raise ConfigError(f"no organisation named {name!r}; organisations: "
                          f"{', '.join(o.name for o in self.orgs)}")

    # -- paths -----------------------------------------------------------------------------
    @property
    def spec_file(self) -> Path:
        return self.state_dir / "network.json"

    def node_dir(self, node: Node) -> Path:
        return self.state_dir / "nodes" / node.name

    def log_file(self, node: Node) -> Path:
        return self.state_dir / "logs" / f"{node.name}.log"

    def pid_file(self, node: Node) -> Path:
        return self.state_dir / "run" / f"{node.name}.pid"

    def org_dir(self, org: OrgSpec) -> Path:
        return self.state_dir / "orgs" / org.domain

    def org_msp(self, org: OrgSpec) -> Path:
        return self.org_dir(org) / "msp"

    def ca_cert(self, org: OrgSpec) -> Path:
        """The organisation's CA certificate (root of its MSP and of its TLS certificates)."""
        return self.org_msp(org) / "cacerts" / "ca.pem"

    def wallet_dir(self, org: OrgSpec, user: str | None = None) -> Path:
        """The client wallet (format: ``ledgerlake.client.identity``): one entry per user."""
        base = self.state_dir / "wallet" / org.name
        return base / user if user else base

    def user_dir(self, org: OrgSpec, user: str) -> Path:
        """The network's own copy of a user: its MSP folder (for the peer CLI) and its TLS
        client pair (for admin APIs); the wallet entry is written from it."""
        return self.org_dir(org) / "users" / user

    @property
    def profiles_dir(self) -> Path:
        return self.state_dir / PROFILES_DIR

    def profile_file(self, org: OrgSpec) -> Path:
        """The organisation's connection profile, where the client looks for it."""
        return local_profile_path(self.state_dir, org.name)

    @property
    def config_dir(self) -> Path:
        return self.state_dir / "config"

    @property
    def channel_block(self) -> Path:
        return self.state_dir / "channel" / f"{self.spec.channel}.block"

    @property
    def builder_dir(self) -> Path:
        return self.state_dir / "builders" / "ccaas"

    @property
    def chaincode_dir(self) -> Path:
        return self.state_dir / "chaincode" / self.spec.chaincode
