"""A real Fabric network of native processes: CAs, Raft/SmartBFT orderers, peers, chaincode.

Writes and reads go through Fabric's own ``peer chaincode invoke``/``query`` (a client no one
here wrote), so these tests check the network, not ledgerlake's client.
"""

from __future__ import annotations

import socket
import uuid

import pytest
from cryptography import x509

from ledgerlake.client import Identity
from ledgerlake.client.ca import certificate_attributes
from ledgerlake.errors import NetworkError, NodeFailedError, PortInUseError
from ledgerlake.network import LocalNetwork, NetworkSpec
from ports import base_port

pytestmark = pytest.mark.integration


def test_every_node_is_healthy_and_peers_agree_on_height(raft_network):
    rows = raft_network.status()
    assert len(rows) == 3 + 3 + 2 + 2
    assert all(r.pid and r.healthy for r in rows), [(r.name, r.healthy) for r in rows]
    heights = {r.name: r.height for r in rows if r.kind == "peer"}
    assert len(set(heights.values())) == 1 and list(heights.values())[0] >= 4


def test_write_with_peer_cli_and_read_back(raft_network):
    key, value = f"k-{uuid.uuid4().hex[:8]}", "a value with spaces & ünïcode"
    before = raft_network.height()
    raft_network.invoke("put", key, value)
    assert raft_network.query("get", key) == value
    assert raft_network.query("get", key, org="Org2") == value
    assert raft_network.height() == before + 1


def test_chaincode_error_reaches_the_cli(raft_network):
    with pytest.raises(NetworkError, match="no record under key 'never-written'"):
        raft_network.query("get", "never-written")


def test_up_on_a_running_network_changes_nothing(raft_network):
    pids = {n.name: raft_network.pid(n) for n in raft_network.layout.nodes}
    assert raft_network.up() is False
    assert {n.name: raft_network.pid(n) for n in raft_network.layout.nodes} == pids


def test_users_carry_their_role_in_the_certificate(raft_network):
    for org in ("Org1", "Org2"):
        for role in ("admin", "producer", "analyst", "auditor"):
            folder = raft_network.layout.wallet_dir(raft_network.layout.org(org), role)
            assert certificate_attributes(Identity.from_wallet(folder).credentials)[
                "ledgerlake.role"] == role
            assert (folder / "id.json").stat().st_mode & 0o777 == 0o600


def test_registered_identity_can_transact(raft_network):
    name = f"analyst-{uuid.uuid4().hex[:6]}"
    folder = raft_network.register_identity(name, "Org2", "analyst")
    cert = x509.load_pem_x509_certificate(Identity.from_wallet(folder).credentials)
    assert cert.subject.rfc4514_string().startswith(f"CN={name}")
    assert certificate_attributes(Identity.from_wallet(folder).credentials)[
        "ledgerlake.role"] == "analyst"
    raft_network.invoke("put", name, "by a new identity", org="Org2", user=name)
    assert raft_network.query("get", name, org="Org2", user=name) == "by a new identity"


def test_deploy_is_idempotent_and_a_change_commits_the_next_sequence(raft_network):
    first = raft_network.deploy()
    assert first["changed"] is False
    upgraded = raft_network.deploy(source_digest="0" * 64)
    assert upgraded["changed"] is True and upgraded["sequence"] == first["sequence"] + 1
    raft_network.invoke("put", "after-upgrade", "yes")
    assert raft_network.query("get", "after-upgrade") == "yes"
    restored = raft_network.deploy()
    assert restored["sequence"] == first["sequence"] + 2


def test_down_and_up_keep_the_ledger(raft_network):
    raft_network.invoke("put", "survives", "restart")
    height = raft_network.height()
    assert len(raft_network.down()) == 10
    assert raft_network.running() == []
    assert raft_network.up() is True
    assert raft_network.height() == height
    assert raft_network.query("get", "survives") == "restart"


def test_a_taken_port_is_named_with_its_owner(tmp_path):
    spec = NetworkSpec(base_port=base_port(23000))
    taken = spec.base_port + 110  # orderer2's gRPC port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", taken))
        sock.listen()
        net = LocalNetwork(tmp_path / "state", spec=spec)
        with pytest.raises(PortInUseError, match=rf"port {taken} needed by orderer2 is taken by pid"):
            net.up()
    assert net.running() == []


def test_a_node_dying_during_up_stops_the_others_and_shows_its_log(tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGERLAKE_FABRIC_LOGGING", "not a logging spec:::")
    net = LocalNetwork(tmp_path / "state", spec=NetworkSpec(base_port=base_port(24000)))
    with pytest.raises(NodeFailedError) as err:
        net.up()
    assert err.value.node == "ca.orderer"  # the first node started; every Fabric node panics
    assert "invalid logging specification" in err.value.log_tail
    assert net.running() == []
    assert not net.bootstrapped


def test_bft_network_orders_transactions(tmp_path):
    net = LocalNetwork(tmp_path / "state", spec=NetworkSpec(consensus="bft", selftest=True,
                                                            base_port=base_port(25000)))
    try:
        net.up()
        assert len(net.layout.orderers) == 4
        net.invoke("put", "bft", "four orderers")
        assert net.query("get", "bft", org="Org2") == "four orderers"
    finally:
        net.down()  # logs stay in tmp_path for a failed run
    net.down(purge=True)
    assert not (tmp_path / "state").exists()


def test_chaincode_servers_require_a_client_certificate(raft_network):
    import grpc
    from fabric_protos.peer import chaincode_shim_pb2 as shim
    from fabric_protos.peer import chaincode_shim_pb2_grpc as shim_grpc

    layout = raft_network.layout
    org = layout.org("Org1")
    server = layout.chaincode_server_of(org)
    creds = grpc.ssl_channel_credentials(layout.ca_cert(org).read_bytes())
    with grpc.secure_channel(server.address, creds) as channel:
        stream = shim_grpc.ChaincodeStub(channel).Connect(iter([shim.ChaincodeMessage()]),
                                                          timeout=5)
        with pytest.raises(grpc.RpcError) as err:
            next(stream)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
