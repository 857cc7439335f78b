"""The declarative topology of a local network, with defaults that need no editing.

A spec is plain data (YAML or a dict). ``NetworkSpec.from_mapping`` validates it and names
the bad field in its ``ConfigError``; everything else (nodes, ports, paths) is derived from
it by ``ledgerlake.network.layout``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from ledgerlake.errors import ConfigError

CONSENSUS_DEFAULT_ORDERERS = {"raft": 3, "bft": 4}
MAX_NODES_PER_KIND = 10
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,30}$")
_CHANNEL = re.compile(r"^[a-z][a-z0-9.-]{0,248}$")
_CC_NAME = re.compile(r"^[A-Za-z0-9]+([A-Za-z0-9_-]*[A-Za-z0-9])?$")
_DURATION = re.compile(r"^\d+(ms|s)$")
_NODE = re.compile(r"^[a-z][a-z0-9.]{0,60}$")
_NETNS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


@dataclass(frozen=True)
class OrgSpec:
    """A peer organisation: its name (``Org1``) and how many peers it runs."""

    name: str
    peers: int = 1

    @property
    def msp_id(self) -> str:
        return f"{self.name}MSP"

    @property
    def domain(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class HostSpec:
    """Where one node lives when not on loopback: the IPv4 address it listens on and is
    reached at, and the network namespace it runs in ("" for this machine's own). The
    namespace (and a route to the address) must exist before the node starts; the network
    only runs the node inside it (``ip netns exec``)."""

    node: str
    address: str
    netns: str = ""


@dataclass(frozen=True)
class NetworkSpec:
    """The whole topology. Field names are the keys accepted in a spec file."""

    channel: str = "ledgerlake"
    consensus: str = "raft"
    orderers: int = 0  # 0 means the consensus default: 3 for raft, 4 for bft
    orgs: tuple[OrgSpec, ...] = (OrgSpec("Org1"), OrgSpec("Org2"))
    base_port: int = 7000
    batch_timeout: str = "250ms"
    max_message_count: int = 100
    chaincode: str = "ledgerlake"
    endorsement_policy: str = ""  # "" means every organisation must endorse
    selftest: bool = False  # serve the chaincode's self-test functions (tests only)
    hosts: tuple[HostSpec, ...] = ()  # nodes not on 127.0.0.1 (by default none)

    # -- derived ---------------------------------------------------------------------------
    @property
    def orderer_count(self) -> int:
        return self.orderers or CONSENSUS_DEFAULT_ORDERERS[self.consensus]

    @property
    def policy(self) -> str:
        """The chaincode endorsement policy, by default AND over every org's peers."""
        if self.endorsement_policy:
            return self.endorsement_policy
        return "AND(" + ",".join(f"'{o.msp_id}.peer'" for o in self.orgs) + ")"

    def host_of(self, node: str) -> HostSpec | None:
        """The address (and namespace) ``hosts`` gives node ``node``, if any."""
        return next((h for h in self.hosts if h.node == node), None)

    def to_mapping(self) -> dict[str, Any]:
        data = asdict(self)
        data["orgs"] = [asdict(o) for o in self.orgs]
        del data["hosts"]
        if self.hosts:  # an all-loopback spec maps (and is saved) as before hosts existed
            data["hosts"] = {h.node: ({"address": h.address, "netns": h.netns} if h.netns
                                      else h.address) for h in self.hosts}
        return data

    def with_overrides(self, **changes: Any) -> "NetworkSpec":
        data = self.to_mapping()
        data.update({k: v for k, v in changes.items() if v is not None})
        return NetworkSpec.from_mapping(data)

    # -- parsing ---------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path) -> "NetworkSpec":
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read spec file {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"spec file {path} is not valid YAML: {exc}") from None
        if not isinstance(data, Mapping):
            raise ConfigError(f"spec file {path} must hold a mapping of fields")
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "NetworkSpec":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"spec field '{unknown[0]}' is unknown; known fields: {', '.join(sorted(known))}"
            )
        kwargs: dict[str, Any] = {}
        if "channel" in data:
            kwargs["channel"] = _match(data["channel"], _CHANNEL, "channel",
                                       "lower-case letters, digits, '.' or '-'")
        if "consensus" in data:
            value = data["consensus"]
            if value not in CONSENSUS_DEFAULT_ORDERERS:
                raise ConfigError(f"spec field 'consensus' must be 'raft' or 'bft', not {value!r}")
            kwargs["consensus"] = value
        if "orderers" in data:
            kwargs["orderers"] = _int(data["orderers"], "orderers", 0, MAX_NODES_PER_KIND)
        if "orgs" in data:
            kwargs["orgs"] = _orgs(data["orgs"])
        if "base_port" in data:
            kwargs["base_port"] = _int(data["base_port"], "base_port", 1024, 65535 - 400)
        if "batch_timeout" in data:
            kwargs["batch_timeout"] = _match(str(data["batch_timeout"]), _DURATION,
                                             "batch_timeout", "a duration like 250ms or 2s")
        if "max_message_count" in data:
            kwargs["max_message_count"] = _int(data["max_message_count"], "max_message_count",
                                               1, 10000)
        if "chaincode" in data:
            kwargs["chaincode"] = _match(data["chaincode"], _CC_NAME, "chaincode",
                                         "letters, digits, '_' or '-'")
        if "endorsement_policy" in data:
            value = data["endorsement_policy"] or ""
            if not isinstance(value, str) or (value and not re.match(r"^(AND|OR|OutOf)\(", value)):
                raise ConfigError(
                    "spec field 'endorsement_policy' must be a Fabric signature policy such "
                    "as \"AND('Org1MSP.peer','Org2MSP.peer')\""
                )
            kwargs["endorsement_policy"] = value
        if "selftest" in data:
            if not isinstance(data["selftest"], bool):
                raise ConfigError("spec field 'selftest' must be true or false")
            kwargs["selftest"] = data["selftest"]
        if "hosts" in data:
            kwargs["hosts"] = _hosts(data["hosts"])
        spec = cls(**kwargs)
        if spec.consensus == "raft" and spec.orderer_count not in (1, 3, 5, 7, 9):
            raise ConfigError("spec field 'orderers' must be odd (1, 3, 5, …) for raft")
        if spec.consensus == "bft" and spec.orderer_count < 4:
            raise ConfigError("spec field 'orderers' must be at least 4 for bft")
        return spec


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"spec field '{name}' must be an integer from {low} to {high}, "
                          f"not {value!r}")
    return value


def _match(value: Any, pattern: re.Pattern, name: str, rule: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ConfigError(f"spec field '{name}' must be {rule}, not {value!r}")
    return value


def _orgs(value: Any) -> tuple[OrgSpec, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError("spec field 'orgs' must be a non-empty list of organisations")
    if len(value) > MAX_NODES_PER_KIND - 1:
        raise ConfigError(f"spec field 'orgs' may list at most {MAX_NODES_PER_KIND - 1} "
                          "organisations")
    orgs = []
    for i, item in enumerate(value):
        where = f"orgs[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, Mapping):
            raise ConfigError(f"spec field '{where}' must be a name or a mapping with 'name'")
        unknown = sorted(set(item) - {"name", "peers"})
        if unknown:
            raise ConfigError(f"spec field '{where}.{unknown[0]}' is unknown; known: name, peers")
        name = _match(item.get("name"), _NAME, f"{where}.name",
                      "a name of letters and digits starting with a letter")
        if name.lower() == "orderer":
            raise ConfigError(f"spec field '{where}.name' may not be 'Orderer' (reserved)")
        peers = _int(item.get("peers", 1), f"{where}.peers", 1, MAX_NODES_PER_KIND)
        orgs.append(OrgSpec(name, peers))
    names = [o.name.lower() for o in orgs]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise ConfigError(f"spec field 'orgs' names organisation '{dup}' twice")
    if sum(o.peers for o in orgs) > MAX_NODES_PER_KIND:
        raise ConfigError(f"spec field 'orgs' asks for more than {MAX_NODES_PER_KIND} peers")
    return tuple(orgs)


def _hosts(value: Any) -> tuple[HostSpec, ...]:
    """``{node: address}`` or ``{node: {address: …, netns: …}}``: IPv4 addresses; a node
    in a namespace cannot be on loopback (nothing outside it would reach the namespace's
    own 127.0.0.1), and one address cannot be in two places."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise ConfigError("spec field 'hosts' must map node names to an address or to "
                          "{address: …, netns: …}")
    hosts = []
    for node, item in value.items():
        where = f"hosts.{node}"
        _match(node, _NODE, "hosts", "a mapping keyed by node names such as orderer1 or "
               "peer0.org1")
        if isinstance(item, str):
            item = {"address": item}
        if not isinstance(item, Mapping):
            raise ConfigError(f"spec field '{where}' must be an address or a mapping with "
                              "'address' (and 'netns')")
        unknown = sorted(set(item) - {"address", "netns"})
        if unknown:
            raise ConfigError(f"spec field '{where}.{unknown[0]}' is unknown; known: "
                              "address, netns")
        try:
            address = ipaddress.IPv4Address(item.get("address"))
        except (ValueError, TypeError):
            raise ConfigError(f"spec field '{where}.address' must be an IPv4 address such as "
                              f"10.213.0.11, not {item.get('address')!r}") from None
        if address.is_unspecified or address.is_multicast:
            raise ConfigError(f"spec field '{where}.address' must be one host's address, "
                              f"not {address}")
        netns = item.get("netns") or ""
        if netns:
            _match(netns, _NETNS, f"{where}.netns",
                   "a network namespace name (letters, digits, '_', '.' or '-')")
            if address.is_loopback:
                raise ConfigError(f"spec field '{where}.address' must not be a loopback "
                                  f"address for a node in network namespace {netns!r}")
        hosts.append(HostSpec(node, str(address), netns))
    where_is: dict[str, HostSpec] = {}
    for h in hosts:  # nodes may share an address (their ports differ), not across namespaces
        other = where_is.setdefault(h.address, h)
        if other.netns != h.netns:
            raise ConfigError(f"spec field 'hosts' puts address {h.address} in two places: "
                              f"{other.node} ({other.netns or 'this machine'}) and {h.node} "
                              f"({h.netns or 'this machine'})")
    return tuple(sorted(hosts, key=lambda h: h.node))
