"""How each kind of node is launched: its command line and environment.

Everything a node needs is passed as environment variables over Fabric's sample
``core.yaml``/``orderer.yaml`` (kept unchanged in the toolchain folder), so the state
directory holds data, keys and logs but no copied config to drift.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from ledgerlake.errors import ConfigError
from ledgerlake.network import pki
from ledgerlake.network.layout import ORDERER_ORG, Layout, Node
from ledgerlake.network.toolchain import Toolchain

CCAAS_CONFIG_ENV = "LEDGERLAKE_CCAAS_CONFIG"
BUILDER_NAME = "ledgerlake-ccaas"
#: how long a peer's block stream from an orderer may be silent before the peer pings it
#: (gRPC raises anything below 10 s to 10 s), and how long it then waits for the answer
#: before it gives that orderer up and pulls from another; and how long its dial to that
#: other orderer may take
DELIVER_KEEPALIVE_INTERVAL = "10s"
DELIVER_KEEPALIVE_TIMEOUT = "3s"
DELIVER_DIAL_TIMEOUT = "1s"
ORDERER_MIN_PING_INTERVAL = "5s"


def _base_env(chain: Toolchain) -> dict[str, str]:
    # GOGC / GOMAXPROCS: Go runtime tuning of the Fabric nodes, when the caller sets it
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "LD_LIBRARY_PATH", "GOGC", "GOMAXPROCS")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["FABRIC_CFG_PATH"] = str(chain.config_dir)
    env["FABRIC_LOGGING_SPEC"] = os.environ.get("LEDGERLAKE_FABRIC_LOGGING", "INFO")
    return env


def _write_if_changed(path: Path, text: str) -> None:
    """Atomically replace ``path`` (nodes already running may be reading it)."""
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_tls_roots(layout: Layout) -> Path:
    """One PEM file with the TLS root of every organisation of the network."""
    path = layout.state_dir / "orgs" / "tls-roots.pem"
    _write_if_changed(path, "".join(layout.ca_cert(o).read_text()
                                    for o in (ORDERER_ORG, *layout.orgs)))
    return path


def write_peer_config(layout: Layout, chain: Toolchain) -> Path:
    """Fabric's sample core.yaml with the Docker endpoint removed (a Docker-free peer).

    Fabric reads ``vm.endpoint`` from core.yaml, and this Fabric does not let an empty
    ``CORE_VM_ENDPOINT`` override it; with no endpoint the peer has no Docker health check
    and builds chaincode only through the external builder.
    """
    import yaml

    core = yaml.safe_load((chain.config_dir / "core.yaml").read_text())
    core["vm"]["endpoint"] = ""
    target = layout.config_dir / "peer"
    target.mkdir(parents=True, exist_ok=True)
    _write_if_changed(target / "core.yaml", yaml.safe_dump(core, sort_keys=False))
    return target


def write_orderer_config(layout: Layout, chain: Toolchain) -> Path:
    """Fabric's sample orderer.yaml, with ``Consensus.Type: BFT`` for a SmartBFT network.

    This Fabric picks an orderer's consenter from its local config rather than from the
    channel, and only keys present in orderer.yaml can be overridden from the environment.
    """
    import yaml

    conf = yaml.safe_load((chain.config_dir / "orderer.yaml").read_text())
    if layout.spec.consensus == "bft":
        conf.setdefault("Consensus", {})["Type"] = "BFT"
    target = layout.config_dir / "orderer"
    target.mkdir(parents=True, exist_ok=True)
    _write_if_changed(target / "orderer.yaml", yaml.safe_dump(conf, sort_keys=False))
    return target


def ccaas_config(layout: Layout, node: Node) -> dict:
    """What the external builder writes into a peer's ``connection.json``."""
    server = layout.chaincode_server_of(node.org)
    tls = layout.node_dir(node) / "tls"
    return {"address": server.address, "dial_timeout": "10s", "tls_required": True,
            "root_cert": layout.ca_cert(node.org).read_text(),
            # mutual TLS: the peer shows its own TLS certificate to its org's chaincode server
            "client_auth_required": True,
            "client_cert": (tls / "server.crt").read_text(),
            "client_key": (tls / "server.key").read_text()}


def in_netns(node: Node, argv: list[str]) -> list[str]:
    """``argv`` run inside the node's network namespace, if it has one. ``ip netns exec``
    enters the namespace and then execs ``argv`` in the same process, so the pid recorded
    is the node's own."""
    if not node.netns:
        return argv
    ip = shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin")
    if not ip:
        raise ConfigError(f"{node.name} runs in network namespace {node.netns!r}, but 'ip' "
                          f"(iproute2) is not installed; install it or drop its netns")
    return [ip, "netns", "exec", node.netns, *argv]


def launch(layout: Layout, chain: Toolchain, node: Node, package_id: str = "") -> tuple[list[str], dict]:
    """The argv and environment that run ``node``."""
    d = layout.node_dir(node)
    env = _base_env(chain)
    if node.kind == "ca":
        home = pki.ca_home(layout, node.org)
        env.update({
            "FABRIC_CA_SERVER_OPERATIONS_LISTENADDRESS": node.at("ops"),
            "FABRIC_CA_SERVER_OPERATIONS_TLS_ENABLED": "true",
            "FABRIC_CA_SERVER_OPERATIONS_TLS_CERTFILE": str(home / "tls-cert.pem"),
            "FABRIC_CA_SERVER_OPERATIONS_TLS_KEYFILE": str(home / "tls-key.pem"),
            "FABRIC_CA_SERVER_METRICS_PROVIDER": "disabled",
        })
        argv = [chain.bin("fabric-ca-server"), "start", "--home", str(home),
                "--address", node.host, "--port", str(node.ports["api"]),
                "-b", f"registrar:{pki.registrar_secret(layout, node.org)}",
                "--ca.certfile", str(home / "ca-cert.pem"),
                "--ca.keyfile", str(home / "ca-key.pem"),
                "--tls.enabled", "--tls.certfile", str(home / "tls-cert.pem"),
                "--tls.keyfile", str(home / "tls-key.pem"),
                "--csr.hosts", ",".join(pki.tls_hosts(node.host))]
        return in_netns(node, argv), env
    tls = d / "tls"
    if node.kind == "orderer":
        env.update({
            "ORDERER_GENERAL_LISTENADDRESS": node.host,
            "ORDERER_GENERAL_LISTENPORT": str(node.ports["grpc"]),
            "ORDERER_GENERAL_LOCALMSPID": ORDERER_ORG.msp_id,
            "ORDERER_GENERAL_LOCALMSPDIR": str(d / "msp"),
            "ORDERER_GENERAL_BCCSP_SW_FILEKEYSTORE_KEYSTORE": str(d / "msp" / "keystore"),
            "ORDERER_GENERAL_TLS_ENABLED": "true",
            "ORDERER_GENERAL_TLS_PRIVATEKEY": str(tls / "server.key"),
            "ORDERER_GENERAL_TLS_CERTIFICATE": str(tls / "server.crt"),
            "ORDERER_GENERAL_TLS_ROOTCAS": f"[{tls / 'ca.crt'}]",
            "ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE": str(tls / "server.crt"),
            "ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY": str(tls / "server.key"),
            "ORDERER_GENERAL_CLUSTER_ROOTCAS": f"[{tls / 'ca.crt'}]",
            "ORDERER_GENERAL_BOOTSTRAPMETHOD": "none",
            # peers ping their deliver stream every DELIVER_KEEPALIVE_INTERVAL; Fabric's default
            # 60 s minimum would answer such pings by closing the connection
            "ORDERER_GENERAL_KEEPALIVE_SERVERMININTERVAL": ORDERER_MIN_PING_INTERVAL,
            "ORDERER_CHANNELPARTICIPATION_ENABLED": "true",
            "ORDERER_FILELEDGER_LOCATION": str(d / "data" / "ledger"),
            "ORDERER_CONSENSUS_WALDIR": str(d / "data" / "etcdraft" / "wal"),
            "ORDERER_CONSENSUS_SNAPDIR": str(d / "data" / "etcdraft" / "snap"),
            "ORDERER_OPERATIONS_LISTENADDRESS": node.at("ops"),
            "ORDERER_OPERATIONS_TLS_ENABLED": "true",
            "ORDERER_OPERATIONS_TLS_CERTIFICATE": str(tls / "server.crt"),
            "ORDERER_OPERATIONS_TLS_PRIVATEKEY": str(tls / "server.key"),
            "ORDERER_OPERATIONS_TLS_CLIENTROOTCAS": f"[{tls / 'ca.crt'}]",
            "ORDERER_METRICS_PROVIDER": "prometheus",
            "ORDERER_ADMIN_LISTENADDRESS": node.at("admin"),
            "ORDERER_ADMIN_TLS_ENABLED": "true",
            "ORDERER_ADMIN_TLS_CERTIFICATE": str(tls / "server.crt"),
            "ORDERER_ADMIN_TLS_PRIVATEKEY": str(tls / "server.key"),
            "ORDERER_ADMIN_TLS_ROOTCAS": f"[{tls / 'ca.crt'}]",
            "ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED": "true",
            "ORDERER_ADMIN_TLS_CLIENTROOTCAS": f"[{tls / 'ca.crt'}]",
        })
        env["FABRIC_CFG_PATH"] = str(write_orderer_config(layout, chain))
        return in_netns(node, [chain.bin("orderer")]), env
    if node.kind == "peer":
        same_org = layout.peers_of(node.org)
        bootstrap = next((p for p in same_org if p.name != node.name), node)
        env.update({
            "CORE_PEER_ID": node.name,
            "CORE_PEER_ADDRESS": node.address,
            "CORE_PEER_LISTENADDRESS": node.address,
            "CORE_PEER_CHAINCODEADDRESS": node.at("chaincode"),
            "CORE_PEER_CHAINCODELISTENADDRESS": node.at("chaincode"),
            "CORE_PEER_GOSSIP_BOOTSTRAP": bootstrap.address,
            "CORE_PEER_GOSSIP_EXTERNALENDPOINT": node.address,
            # Every peer is on this machine: learn the other organisations' peers on the
            # channel in about a second (and report it in the membership metric `up` waits
            # on), and retry a failed connection after 2 s rather than Fabric's WAN defaults
            # (4 s state info, 5 s membership tracking, 25 s reconnect).
            "CORE_PEER_GOSSIP_PUBLISHSTATEINFOINTERVAL": "1s",
            "CORE_PEER_GOSSIP_REQUESTSTATEINFOINTERVAL": "1s",
            "CORE_PEER_GOSSIP_MEMBERSHIPTRACKERINTERVAL": "1s",
            "CORE_PEER_GOSSIP_RECONNECTINTERVAL": "2s",
            # A peer pulls blocks from one orderer at a time; if that orderer stops
            # answering without closing the connection (cut off, hung), only a keepalive
            # ping notices. With Fabric's 60 s interval + 20 s timeout a peer got no block
            # for as long as its orderer was cut off while the other two kept ordering
            # (test_partition); with 10 s (gRPC's floor) + 3 s it moves to another orderer
            # after about 13 s. The orderers accept pings that often
            # (ORDERER_GENERAL_KEEPALIVE_SERVERMININTERVAL).
            "CORE_PEER_KEEPALIVE_DELIVERYCLIENT_INTERVAL": DELIVER_KEEPALIVE_INTERVAL,
            "CORE_PEER_KEEPALIVE_DELIVERYCLIENT_TIMEOUT": DELIVER_KEEPALIVE_TIMEOUT,
            # It then dials an orderer picked at random from all of them, the cut one
            # included, and a dial blocks for up to this long: with Fabric's 3 s, three
            # unlucky picks left a peer without blocks for 22 s of a 25 s cut (CI). Every
            # orderer is on this machine, where a dial with its TLS handshake takes
            # milliseconds.
            "CORE_PEER_DELIVERYCLIENT_CONNTIMEOUT": DELIVER_DIAL_TIMEOUT,
            "CORE_PEER_LOCALMSPID": node.org.msp_id,
            "CORE_PEER_MSPCONFIGPATH": str(d / "msp"),
            "CORE_PEER_BCCSP_SW_FILEKEYSTORE_KEYSTORE": str(d / "msp" / "keystore"),
            "CORE_PEER_TLS_ENABLED": "true",
            "CORE_PEER_TLS_CERT_FILE": str(tls / "server.crt"),
            "CORE_PEER_TLS_KEY_FILE": str(tls / "server.key"),
            # every organisation's TLS root, so gossip between organisations trusts the
            # other side from the first handshake, not only once the channel config is read
            "CORE_PEER_TLS_ROOTCERT_FILE": str(write_tls_roots(layout)),
            "CORE_PEER_FILESYSTEMPATH": str(d / "data"),
            "CORE_LEDGER_SNAPSHOTS_ROOTDIR": str(d / "data" / "snapshots"),
            "CORE_LEDGER_STATE_STATEDATABASE": "goleveldb",
            "CORE_OPERATIONS_LISTENADDRESS": node.at("ops"),
            "CORE_OPERATIONS_TLS_ENABLED": "true",
            "CORE_OPERATIONS_TLS_CERT_FILE": str(tls / "server.crt"),
            "CORE_OPERATIONS_TLS_KEY_FILE": str(tls / "server.key"),
            "CORE_OPERATIONS_TLS_CLIENTROOTCAS_FILES": str(tls / "ca.crt"),
            "CORE_METRICS_PROVIDER": "prometheus",
            "CORE_CHAINCODE_EXTERNALBUILDERS": (
                f"[{{name: {BUILDER_NAME}, path: {layout.builder_dir}, "
                f"propagateEnvironment: [{CCAAS_CONFIG_ENV}]}}]"),
            "CORE_CHAINCODE_STARTUPTIMEOUT": "30s",
            "CORE_CHAINCODE_EXECUTETIMEOUT": "30s",
            CCAAS_CONFIG_ENV: json.dumps(ccaas_config(layout, node)),
        })
        if os.environ.get("LEDGERLAKE_PEER_PROFILE"):  # Go pprof for performance work
            env["CORE_PEER_PROFILE_ENABLED"] = "true"
            env["CORE_PEER_PROFILE_LISTENADDRESS"] = f"{node.host}:{node.ports['grpc'] + 5}"
        env["FABRIC_CFG_PATH"] = str(write_peer_config(layout, chain))
        return in_netns(node, [chain.bin("peer"), "node", "start"]), env
    if node.kind == "chaincode":
        env.update({
            "CHAINCODE_ID": package_id,
            "CHAINCODE_SERVER_ADDRESS": node.address,
            "LEDGERLAKE_CHAINCODE_MSPID": node.org.msp_id,
            "LEDGERLAKE_CHAINCODE_TLS_CERT": str(tls / "server.crt"),
            "LEDGERLAKE_CHAINCODE_TLS_KEY": str(tls / "server.key"),
            "LEDGERLAKE_CHAINCODE_TLS_CLIENT_ROOT": str(layout.ca_cert(node.org)),
            "PYTHONUNBUFFERED": "1",
        })
        if layout.spec.selftest:  # self-test functions write unaudited state: tests only
            env["LEDGERLAKE_CHAINCODE_SELFTEST"] = "1"
        if "PYTHONPATH" in os.environ:
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        return in_netns(node, [sys.executable, "-m", "ledgerlake.chaincode"]), env
    raise ValueError(f"unknown node kind {node.kind}")


def health_url(node: Node) -> str | None:
    """The operations /healthz URL (HTTPS), or None for nodes checked by their port."""
    if "ops" in node.ports:
        return f"https://{node.at('ops')}/healthz"
    return None


def tls_root(layout: Layout, node: Node) -> Path:
    return layout.ca_cert(node.org)
