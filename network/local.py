"""A whole Fabric network of native processes on this machine: ``LocalNetwork``.

``up`` is idempotent: the first call bootstraps (CAs, identities, genesis block, joins,
chaincode); later calls start whatever is not running from the same state directory, and
a call on a running network changes nothing. ``down`` stops processes and keeps ledgers.
A first ``up`` that fails leaves no ``network.json``; the next ``up`` starts afresh.

Every ``up`` (re)writes what clients read, and only that: a Fabric connection profile per
organisation (``profiles/<Org>.json``) and the wallet (``wallet/<Org>/<user>/``, in the
client's format). It also gives each peer organisation an encryption key pair once: the
X25519 private key in ``keys/<Org>/x25519.pem`` (0600) and its public key published on the
channel by the organisation's admin (``RegisterOrgKey``); a later ``up`` only checks it.
"""

from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ledgerlake.errors import ConfigError, NetworkError, NodeFailedError, NotRunningError
from ledgerlake.network import (
    channel,
    lifecycle,
    nodes,
    pki,
    process,
    profiles,
    toolchain,
    versions,
)
from ledgerlake.network.layout import ORDERER_ORG, Layout, Node, default_state_dir
from ledgerlake.network.peercli import peer_env, run_peer
from ledgerlake.network.spec import NetworkSpec
from ledgerlake.protocol import ROLES

Progress = Callable[[str], None]
STATE_MARKERS = ("ca", "nodes", "orgs", "wallet", "profiles", "logs", "run", "channel",
                 "config", "builders", "chaincode", "keys", "demo")


@dataclass
class NodeStatus:
    """One node as ``status`` sees it. ``height`` is the channel height a peer or orderer
    reports; ``leader`` whether an orderer says it leads the channel (None: not an orderer
    or not answering); a node that is not running has ``down`` = why (how it ended, when
    known) and ``log_tail`` = the last lines of its log."""

    name: str
    kind: str
    org: str
    pid: int | None
    ports: dict
    healthy: bool
    height: int | None = None
    rss: int = 0
    leader: bool | None = None
    down: str = ""
    log_tail: str = ""


def _check_ports_free(node: Node) -> None:
    """Raise PortInUseError if one of the node's ports is taken on its address. A node in a
    network namespace of its own is checked there by the node itself (its address is not
    on this side)."""
    if node.netns:
        return
    for port in node.ports.values():
        process.check_port_free(port, node.name, node.host)


class LocalNetwork:
    """A local network in one state directory.

    Parameters
    ----------
    state_dir:
        Where keys, ledgers, logs and pid files live (default: ``$LEDGERLAKE_STATE_DIR``
        or ``./.ledgerlake``).
    spec:
        The topology for a new network. An existing state directory keeps the spec it was
        created with; passing a different one raises ConfigError.
    """

    def __init__(self, state_dir: str | Path | None = None, spec: NetworkSpec | None = None,
                 tools_dir: Path | None = None, progress: Progress | None = None):
        self.state_dir = Path(state_dir).resolve() if state_dir else default_state_dir()
        self._tools_dir = tools_dir
        self.progress: Progress = progress or (lambda msg: None)
        saved = self._saved_spec()
        if saved and spec and saved != spec:
            raise ConfigError(
                f"{self.state_dir} holds a network with another spec; use that spec, or "
                f"'ledgerlake network down --purge' first")
        self.spec = saved or spec or NetworkSpec()
        self.layout = Layout(self.spec, self.state_dir)
        self._chain: toolchain.Toolchain | None = None

    # -- state ---------------------------------------------------------------------------
    def _saved_spec(self) -> NetworkSpec | None:
        path = self.state_dir / "network.json"
        if not path.exists():
            return None
        return NetworkSpec.from_mapping(json.loads(path.read_text())["spec"])

    @property
    def bootstrapped(self) -> bool:
        return self.layout.spec_file.exists()

    @property
    def chain(self) -> toolchain.Toolchain:
        if self._chain is None:
            self._chain = toolchain.find(self._tools_dir)
        return self._chain

    @property
    def deployed(self) -> dict | None:
        path = self.layout.chaincode_dir / "deployed.json"
        return json.loads(path.read_text()) if path.exists() else None

    # -- processes -------------------------------------------------------------------------
    def pid(self, node: Node) -> int | None:
        return process.running_pid(self.layout.pid_file(node))

    def is_healthy(self, node: Node) -> bool:
        url = nodes.health_url(node)
        if url is None:
            return process.port_open(node.ports["grpc"], node.host)
        try:
            status, _ = channel.https(url, channel.tls_context(nodes.tls_root(self.layout, node)),
                                      timeout=2.0)
        except OSError:
            return False
        # /healthz answers before a peer's gRPC listener opens: wait for both
        listening = "grpc" not in node.ports or process.port_open(node.ports["grpc"], node.host)
        return status == 200 and listening

    def _start(self, node: Node, package_id: str = "") -> None:
        if self.pid(node):
            return
        _check_ports_free(node)
        argv, env = nodes.launch(self.layout, self.chain, node, package_id)
        process.start(argv, env=env, cwd=self.layout.node_dir(node),
                      log=self.layout.log_file(node), pid_file=self.layout.pid_file(node))

    def _wait_healthy(self, group: list[Node], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(group)
        while waiting:
            for node in list(waiting):
                if not self.pid(node):
                    raise NodeFailedError(node.name, "exited while starting",
                                          process.log_tail(self.layout.log_file(node)))
                if self.is_healthy(node):
                    waiting.remove(node)
            if waiting and time.monotonic() > deadline:
                node = waiting[0]
                raise NodeFailedError(node.name, f"not healthy after {timeout:.0f} s",
                                      process.log_tail(self.layout.log_file(node)))
            if waiting:
                time.sleep(0.1)

    def _start_group(self, group: list[Node], what: str, package_id: str = "") -> list[Node]:
        """Start the nodes of ``group`` that are not running, wait until all are healthy;
        returns the nodes started."""
        down = [n for n in group if not self.pid(n)]
        if down:
            names = what if len(down) == len(group) else ", ".join(n.name for n in down)
            self.progress(f"starting {names} …")
        for node in down:
            self._start(node, package_id)
        self._wait_healthy(group)
        return down

    def _wait_leader(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not channel.has_leader(self.layout):
            for node in self.layout.orderers:
                if not self.pid(node):
                    raise NodeFailedError(node.name, "exited while electing a leader",
                                          process.log_tail(self.layout.log_file(node)))
            if time.monotonic() > deadline:
                raise NetworkError(f"the orderers elected no leader within {timeout:.0f} s; "
                                   f"see 'ledgerlake network logs orderer1'")
            time.sleep(0.2)

    def _wait_caught_up(self, restarted: list[Node], timeout: float = 60.0) -> None:
        """Wait until each restarted orderer has the height the running ones had when it
        came back: a restarted orderer whose consensus is stuck (it answers /healthz but
        never applies another block) is reported rather than left silently behind."""
        others = [n for n in self.layout.orderers if n not in restarted]
        target = max((channel.node_view(self.layout, n)[0] or 0) for n in others)
        deadline = time.monotonic() + timeout
        for node in restarted:
            while (height := channel.node_view(self.layout, node)[0] or 0) < target:
                if not self.pid(node):
                    raise NodeFailedError(node.name, "exited while catching up",
                                          process.log_tail(self.layout.log_file(node)))
                if time.monotonic() > deadline:
                    raise NodeFailedError(
                        node.name, f"did not catch up within {timeout:.0f} s (height "
                        f"{height}, the other orderers had {target})",
                        process.log_tail(self.layout.log_file(node)))
                time.sleep(0.2)

    def _wait_gossip(self, timeout: float = 60.0) -> None:
        """Wait until every peer knows every other peer on the channel (anchor peers found):
        before that, the Gateway cannot find endorsers in the other organisations."""
        want = len(self.layout.peers) - 1
        metric = f'gossip_membership_total_peers_known{{channel="{self.spec.channel}"}}'
        deadline = time.monotonic() + timeout
        for peer in self.layout.peers:
            while channel.metrics(self.layout, peer).get(metric, 0) < want:
                if not self.pid(peer):
                    raise NodeFailedError(peer.name, "exited while joining the channel",
                                          process.log_tail(self.layout.log_file(peer)))
                if time.monotonic() > deadline:
                    raise NetworkError(f"{peer.name} did not discover the other peers within "
                                       f"{timeout:.0f} s; see 'ledgerlake network logs "
                                       f"{peer.name}'")
                time.sleep(0.2)

    def start_node(self, name: str) -> bool:
        """Start one node that is down and wait until it is healthy (``up`` starts every
        node that is down); False if it was already running."""
        node = self.layout.node(name)
        if self.pid(node):
            return False
        package_id = (self.deployed or {}).get("package_id", "") if node.kind == "chaincode" \
            else ""
        self._start(node, package_id)
        self._wait_healthy([node])
        return True

    def running(self) -> list[Node]:
        return [n for n in self.layout.nodes if self.pid(n)]

    # -- up / down ---------------------------------------------------------------------------
    def up(self) -> bool:
        """Bring the network up; return False when it was already fully running.

        Raises NodeFailedError (with the node's log tail) when a node dies, PortInUseError
        when a port is taken, NetworkError for other failures; on failure every node this
        call started is stopped again.
        """
        layout = self.layout
        if self.bootstrapped and len(self.running()) == len(layout.nodes):
            self._write_client_files()
            self.ensure_org_keys()
            return False
        before = {n.name for n in self.running()}
        try:
            if self.bootstrapped:
                self._restart()
            else:
                self._bootstrap()
        except BaseException:
            for node in reversed(layout.nodes):
                if node.name not in before:
                    process.stop(layout.pid_file(node))
            raise
        self.ensure_org_keys()  # the network is up either way: a key problem is reported
        self._check_raft_snapshots()
        return True

    def raft_snapshotted(self, node: Node) -> bool:
        """Whether a Raft orderer has taken a snapshot of the channel (see
        ``configtx.RAFT_SNAPSHOT_INTERVAL``: until it has, a restart replays the channel's
        ConfChanges, which can leave this Fabric's orderer stuck)."""
        snaps = self.layout.node_dir(node) / "data" / "etcdraft" / "snap" / self.spec.channel
        return any(snaps.glob("*.snap"))

    def _check_raft_snapshots(self, timeout: float = 15.0) -> None:
        """Wait (briefly) until every Raft orderer has a snapshot; warn about any without."""
        if self.spec.consensus != "raft":
            return
        deadline = time.monotonic() + timeout
        missing = list(self.layout.orderers)
        while missing and time.monotonic() < deadline:
            missing = [n for n in missing if not self.raft_snapshotted(n)]
            if missing:
                time.sleep(0.2)
        for node in missing:
            self.progress(f"warning: {node.name} has no Raft snapshot yet; until it has one "
                          f"a restart under load can leave it stuck (Fabric #4199)")

    # -- organisation encryption keys --------------------------------------------------------
    @contextmanager
    def contract(self, org: str, user: str = "admin"):
        """The typed contract API as wallet identity ``org``/``user``, through the org's
        first peer (read from the profile and wallet ``up`` wrote, as any client would)."""
        from ledgerlake.client import LedgerlakeContract, connect, load_local_profile, \
            load_wallet

        org_spec = self.layout.org(org)
        identity, signer = load_wallet(self.layout.wallet_dir(org_spec, user))
        with load_local_profile(self.state_dir, org_spec.name).endpoint().dial() as ch:
            yield LedgerlakeContract(connect(identity, signer, ch)
                                     .get_network(self.spec.channel)
                                     .get_contract(self.spec.chaincode))

    def org_key_path(self, org: str) -> Path:
        """Where organisation ``org``'s X25519 private key is kept (0600)."""
        from ledgerlake.client.connection import local_org_key_path
        return local_org_key_path(self.state_dir, self.layout.org(org).name)

    def ensure_org_keys(self) -> list:
        """Give each peer organisation an encryption key pair, published by its admin, once
        (in parallel, one submit per organisation that has none); a key already published
        and matching its file is left alone. Returns ``OrgKeyStatus`` per organisation and
        reports (``progress``) a file that does not match the published key."""
        from ledgerlake.client.streams import ensure_org_key

        if not self.deployed:
            return []
        for org in self.layout.orgs:
            self._adopt_demo_key(org)

        def one(org):
            with self.contract(org.name, "admin") as api:
                return ensure_org_key(api, org.msp_id, self.org_key_path(org.name))

        with ThreadPoolExecutor(max_workers=len(self.layout.orgs)) as pool:
            results = list(pool.map(one, self.layout.orgs))
        for status in results:
            if status.state == "registered":
                self.progress(f"published {status.msp_id}'s encryption key "
                              f"({status.path.relative_to(self.state_dir)})")
            elif status.message:
                self.progress(f"warning: {status.message}")
        if any(s.state == "registered" for s in results):
            self.settle()
        return results

    def _adopt_demo_key(self, org) -> bool:
        """A state directory from before ``up`` made org keys holds the key the old demo
        published in ``demo/<MSP>.x25519.pem``: it becomes the org's key (kept 0600)."""
        from ledgerlake.client.encryption import load_org_key, save_org_key

        legacy = self.state_dir / "demo" / f"{org.msp_id}.x25519.pem"
        path = self.org_key_path(org.name)
        if path.exists() or not legacy.is_file():
            return False
        save_org_key(path, load_org_key(legacy))
        legacy.unlink()
        try:
            legacy.parent.rmdir()
        except OSError:
            pass  # another org's key is still there
        return True

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until every peer has committed what the others have: a Gateway waits for
        its own peer only, and the next step may be endorsed by another org's peer."""
        deadline = time.monotonic() + timeout
        while True:
            heights = [channel.peer_height(self.layout, p) or 0 for p in self.layout.peers]
            if len(set(heights)) == 1:
                return
            if time.monotonic() > deadline:
                raise NetworkError(f"the peers did not reach the same height in "
                                   f"{timeout:.0f} s (heights {heights})")
            time.sleep(0.02)

    def _restart(self) -> None:
        """Start what is not running (a partly running network keeps its running nodes)."""
        layout = self.layout
        pki.migrate_legacy_wallet(layout)
        self._start_group(layout.cas, "certificate authorities")
        orderers = self._start_group(layout.orderers, f"{len(layout.orderers)} orderers")
        self._start_group(layout.peers, f"{len(layout.peers)} peers")
        self.progress("waiting for an orderer leader …")
        self._wait_leader()
        if orderers and len(orderers) < len(layout.orderers):
            self._wait_caught_up(orderers)
        if self.deployed:
            self._start_group(layout.chaincode_servers, "chaincode servers",
                              self.deployed["package_id"])
        self.progress("waiting for the peers to find each other …")
        self._wait_gossip()
        self._write_client_files()

    def _write_client_files(self) -> None:
        """The wallet and the connection profiles: all a client needs, in formats it reads."""
        layout = self.layout
        pki.write_wallets(layout)
        ca_names = {layout.ca_of(org).name: pki.OrgCA(layout, org).client.cainfo().get(
            "CAName", "") for org in layout.orgs}
        profiles.write_profiles(layout, ca_names)

    def _bootstrap(self) -> None:
        layout = self.layout
        self._clear_partial_state()
        for node in layout.nodes:
            _check_ports_free(node)
        self.progress("creating a root CA per organisation …")
        for org in (ORDERER_ORG, *layout.orgs):
            pki.create_root_ca(layout, org)
        self._start_group(layout.cas, "certificate authorities")

        self.progress("enrolling nodes and users through the CAs …")
        # one CA per organisation, so the organisations are enrolled side by side
        with ThreadPoolExecutor(max_workers=len(layout.cas)) as pool:
            for done in [pool.submit(self._enroll_org, org) for org in (ORDERER_ORG, *layout.orgs)]:
                done.result()
        self._install_builder()

        self.progress(f"creating channel {layout.spec.channel} ({layout.spec.consensus}) …")
        channel.create_genesis_block(layout, self.chain)
        self._start_group(layout.orderers, f"{len(layout.orderers)} orderers")
        for node in layout.orderers:
            channel.join_orderer(layout, node)
        self._start_group(layout.peers, f"{len(layout.peers)} peers")
        self.progress("waiting for an orderer leader …")
        self._wait_leader()
        # join every peer at once, so no peer looks for the others' anchor peers before
        # they are on the channel (a failed look-up is retried only seconds later)
        with ThreadPoolExecutor(max_workers=len(layout.peers)) as pool:
            for done in [pool.submit(channel.join_peer, layout, self.chain, node)
                         for node in layout.peers]:
                done.result()
        self.deploy()
        self.progress("waiting for the peers to find each other …")
        self._wait_gossip()
        self._write_client_files()
        layout.spec_file.write_text(json.dumps(
            {"spec": self.spec.to_mapping(), "versions": versions.pins(),
             "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2) + "\n")

    def _enroll_org(self, org) -> None:
        """Issue every identity of one organisation through its CA."""
        layout = self.layout
        ca = pki.OrgCA(layout, org)
        if org is ORDERER_ORG:
            for node in layout.orderers:
                ca.issue_node(layout.node_dir(node), node, "orderer")
            signing, tls = ca.issue("admin", "admin")
            pki.store_user(layout, org, "admin", signing, tls, ca.root_pem)
            return
        for node in layout.peers_of(org):
            ca.issue_node(layout.node_dir(node), node, "peer")
        server = layout.chaincode_server_of(org)
        ca.issue_node(layout.node_dir(server), server, "client")
        for role in ROLES:
            ca.issue_user(role, role)

    def _clear_partial_state(self) -> None:
        """Remove what an earlier, failed first ``up`` left (only folders this code makes;
        its logs are kept for the post-mortem)."""
        for name in STATE_MARKERS:
            target = self.state_dir / name
            if name != "logs" and target.exists():
                shutil.rmtree(target)
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def _install_builder(self) -> None:
        source = Path(__file__).with_name("ccaas_builder.py").read_text()
        bin_dir = self.layout.builder_dir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for step in ("detect", "build", "release"):
            path = bin_dir / step
            path.write_text(source)
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    def down(self, purge: bool = False) -> list[str]:
        """Stop every node (SIGTERM, then SIGKILL after 20 s); return the names stopped.

        Ledgers are kept unless ``purge``, which removes the whole state directory.
        """
        stopped = [n.name for n in reversed(self.layout.nodes)
                   if process.stop(self.layout.pid_file(n))]
        if purge:
            self._purge()
        return stopped

    def _purge(self) -> None:
        """Delete what ledgerlake wrote in the state directory, and the directory if that
        leaves it empty; anything else in it (a mistyped --state-dir) is left alone."""
        if not self.state_dir.exists():
            return
        ours = [self.state_dir / n for n in (*STATE_MARKERS, "network.json")]
        if not any(p.exists() for p in ours):
            raise ConfigError(f"{self.state_dir} is not a ledgerlake state directory; "
                              f"nothing was deleted")
        for path in ours:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        try:
            self.state_dir.rmdir()
        except OSError:
            pass  # it holds files ledgerlake did not write

    # -- chaincode ------------------------------------------------------------------------
    def deploy(self, source_digest: str | None = None) -> dict:
        """Install the current chaincode and commit it (next sequence) if it changed.

        ``source_digest`` stands for the chaincode sources' digest (default: computed from
        the installed ``ledgerlake.chaincode``). Returns the deployed definition
        ({package_id, version, sequence, changed}).
        """
        layout = self.layout
        package = lifecycle.build_package(layout, source_digest)
        current = lifecycle.committed(layout, self.chain)
        if current and current.get("version") == package.version and self.deployed:
            self._start_group(layout.chaincode_servers, "chaincode servers", package.package_id)
            return dict(self.deployed, changed=False)
        self.progress(f"deploying chaincode {layout.spec.chaincode} ({package.version}) …")
        for peer in layout.peers:
            lifecycle.install(layout, self.chain, package, peer)
        for server in layout.chaincode_servers:
            process.stop(layout.pid_file(server))
        self._start_group(layout.chaincode_servers, "chaincode servers", package.package_id)
        sequence = (current["sequence"] + 1) if current else 1
        self.progress(f"approving and committing sequence {sequence} …")
        lifecycle.approve_and_commit(layout, self.chain, package, sequence)
        record = {"package_id": package.package_id, "version": package.version,
                  "sequence": sequence}
        (layout.chaincode_dir / "deployed.json").write_text(json.dumps(record, indent=2))
        return dict(record, changed=True)

    # -- Fabric's own client, for checks and the demo ---------------------------------------
    def invoke(self, function: str, *args: str, org: str | None = None,
               user: str = "producer") -> None:
        """``peer chaincode invoke`` endorsed by one peer of every organisation; waits for commit."""
        self._require_running()
        layout = self.layout
        org_spec = layout.org(org) if org else layout.orgs[0]
        targets: list[str] = []
        for o in layout.orgs:
            targets += ["--peerAddresses", layout.peers_of(o)[0].address,
                        "--tlsRootCertFiles", str(layout.ca_cert(o))]
        orderer = layout.orderers[0]
        ctor = json.dumps({"Args": [function, *args]})
        run_peer(self.chain, ["chaincode", "invoke", "-o", orderer.address, "--tls", "--cafile",
                              str(layout.ca_cert(ORDERER_ORG)), "-C", layout.spec.channel,
                              "-n", layout.spec.chaincode, *targets, "-c", ctor,
                              "--waitForEvent"],
                 peer_env(layout, self.chain, layout.peers_of(org_spec)[0], user),
                 what=f"invoking {function}")

    def query(self, function: str, *args: str, org: str | None = None,
              user: str = "analyst") -> str:
        """``peer chaincode query`` on one peer; returns what the chaincode returned."""
        self._require_running()
        layout = self.layout
        org_spec = layout.org(org) if org else layout.orgs[0]
        ctor = json.dumps({"Args": [function, *args]})
        out = run_peer(self.chain, ["chaincode", "query", "-C", layout.spec.channel, "-n",
                                    layout.spec.chaincode, "-c", ctor],
                       peer_env(layout, self.chain, layout.peers_of(org_spec)[0], user),
                       what=f"querying {function}")
        return out.rstrip("\n")

    def _require_running(self) -> None:
        if not self.bootstrapped or not self.running():
            raise NotRunningError(f"no network is running in {self.state_dir}; run "
                                  f"'ledgerlake network up' first")

    # -- identities -----------------------------------------------------------------------
    def register_identity(self, name: str, org: str, role: str) -> Path:
        """Register and enroll a user with ``ledgerlake.role`` = role; returns its wallet folder."""
        self._require_running()
        org_spec = self.layout.org(org)
        if org_spec is ORDERER_ORG:
            raise ConfigError("users belong to a peer organisation, not the orderer org")
        if not self.pid(self.layout.ca_of(org_spec)):
            raise NotRunningError(f"the CA of {org_spec.name} is not running; run "
                                  f"'ledgerlake network up'")
        return pki.OrgCA(self.layout, org_spec).issue_user(name, role)

    # -- inspection -----------------------------------------------------------------------
    def status(self, log_lines: int = 5) -> list[NodeStatus]:
        """Every node: running or why not, health, memory; for peers and orderers the
        channel height, for orderers which one leads (from their operations /metrics)."""
        rows = []
        for node in self.layout.nodes:
            pid = self.pid(node)
            healthy = bool(pid) and self.is_healthy(node)
            row = NodeStatus(node.name, node.kind, node.org.name, pid, node.ports, healthy,
                             rss=process.rss_bytes(pid) if pid else 0)
            if healthy and node.kind in ("peer", "orderer"):
                row.height, row.leader = channel.node_view(self.layout, node)
            if not pid:
                row.down = self.why_down(node)
                row.log_tail = process.log_tail(self.layout.log_file(node), log_lines)
            rows.append(row)
        return rows

    def why_down(self, node: Node) -> str:
        """How a node that is not running ended (``killed by SIGKILL at …``), if recorded."""
        ended = process.exit_status(self.layout.pid_file(node))
        if ended is None:
            return "not running"
        code, when = ended
        return f"{process.describe_exit(code)} at {when}"

    def leader(self) -> str | None:
        """The orderer that reports itself leader of the channel, if one does."""
        for node in self.layout.orderers:
            if self.pid(node) and channel.node_view(self.layout, node)[1]:
                return node.name
        return None

    def height(self) -> int | None:
        """The channel height on the first peer (None if it is not running)."""
        return channel.peer_height(self.layout, self.layout.peers[0])

    def logs(self, node_name: str, lines: int = 50) -> str:
        node = self.layout.node(node_name)
        path = self.layout.log_file(node)
        if not path.exists():
            raise ConfigError(f"{node_name} has no log yet in {self.state_dir}")
        return process.log_tail(path, lines)
