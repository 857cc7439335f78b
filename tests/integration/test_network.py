"""A real Fabric network of native processes: CAs, Raft/SmartBFT orderers, peers, chaincode.

Writes and reads go through Fabric's own ``peer chaincode invoke``/``query`` (a client no one
here wrote), so these tests check the network, not ledgerlake's client.
"""

from __future__ import annotations

import socket
import ssl
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


def _bft_blocks_agree_with_configtxlator(net):
    """Every block after the genesis one, decoded by ledgerlake and by configtxlator, with
    the consenters' signatures (this snapshot's configtxlator cannot decode a BFT genesis
    block's ConsensusType)."""
    from blockcheck import from_configtxlator, normalize
    from ledgerlake.client import Identity, connect, from_state_dir, signer_from_wallet, \
        verify_chain

    wallet = net.layout.wallet_dir(net.layout.org("Org1"), "producer")
    height, blocks = net.height(), []
    with from_state_dir(net.state_dir, "Org1").dial() as channel:
        network = connect(Identity.from_wallet(wallet), signer_from_wallet(wallet),
                          channel).get_network(net.layout.spec.channel)
        with network.block_events(start_block=0, timeout=60) as stream:
            for block in stream:
                blocks.append(block)
                if block.number == height - 1:
                    break
    verify_chain(blocks)
    configtxlator = net.chain.bin("configtxlator")
    for block in blocks[1:]:
        assert len({s.consenter_id for s in block.signatures}) >= 3  # a BFT quorum of 4
        assert normalize(block) == from_configtxlator(block.raw.SerializeToString(),
                                                      configtxlator)


@pytest.mark.timeout(600)
def test_bft_network_orders_transactions(tmp_path):
    net = LocalNetwork(tmp_path / "state", spec=NetworkSpec(consensus="bft", selftest=True,
                                                            base_port=base_port(25000)))
    try:
        net.up()
        assert len(net.layout.orderers) == 4
        net.invoke("put", "bft", "four orderers")
        assert net.query("get", "bft", org="Org2") == "four orderers"
        _bft_blocks_agree_with_configtxlator(net)
    finally:
        net.down()  # logs stay in tmp_path for a failed run
    net.down(purge=True)
    assert not (tmp_path / "state").exists()


def _tls_to_chaincode_server(layout, org, with_client_certificate: bool) -> bytes:
    """Open TLS 1.2 to the org's chaincode server, then speak HTTP/2's opening (client
    preface + SETTINGS) and return the server's first 9 bytes (its SETTINGS frame header).

    TLS 1.2 because there the server checks the client certificate inside the handshake
    (TLS 1.3 finishes the client's side first and drops the connection afterwards), so a
    refusal surfaces as ssl.SSLError from ``do_handshake`` itself, after the TCP connection
    was accepted: a stopped server fails earlier, with ConnectionRefusedError."""
    server = layout.chaincode_server_of(org)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(str(layout.ca_cert(org)))
    context.check_hostname = False  # the certificate is checked against the org's CA
    context.set_alpn_protocols(["h2"])
    if with_client_certificate:  # what the org's peer presents: its TLS pair from the org CA
        tls = layout.node_dir(layout.peers_of(org)[0]) / "tls"
        context.load_cert_chain(str(tls / "server.crt"), str(tls / "server.key"))
    host, port = server.address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with context.wrap_socket(raw, do_handshake_on_connect=False) as conn:
            conn.do_handshake()
            conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
            return conn.recv(9)


@pytest.mark.timeout(120)
def test_chaincode_servers_require_a_client_certificate(raft_network):
    """The server is up and serves a client with a certificate from the org's CA, and it
    refuses one without a certificate in the TLS handshake itself (not by being down)."""
    import grpc
    from fabric_protos.peer import chaincode_shim_pb2 as shim
    from fabric_protos.peer import chaincode_shim_pb2_grpc as shim_grpc

    layout = raft_network.layout
    org = layout.org("Org1")
    server = layout.chaincode_server_of(org)
    frame = _tls_to_chaincode_server(layout, org, with_client_certificate=True)
    assert len(frame) == 9 and frame[3] == 0x04  # the server's HTTP/2 SETTINGS frame
    with pytest.raises(ssl.SSLError):  # raised by do_handshake, the TCP connect succeeded
        _tls_to_chaincode_server(layout, org, with_client_certificate=False)

    # the same through gRPC: with the peer's certificate the chaincode answers as it
    # answers a peer (REGISTER with its package id); without one the connection is
    # accepted and then closed in the handshake (a stopped server: "Connection refused")
    tls = layout.node_dir(layout.peers_of(org)[0]) / "tls"
    root = layout.ca_cert(org).read_bytes()
    with_cert = grpc.ssl_channel_credentials(root, (tls / "server.key").read_bytes(),
                                             (tls / "server.crt").read_bytes())
    with grpc.secure_channel(server.address, with_cert) as channel:
        stream = shim_grpc.ChaincodeStub(channel).Connect(iter([]), timeout=10)
        first = next(stream)
        stream.cancel()
    assert first.type == shim.ChaincodeMessage.REGISTER
    assert raft_network.deployed["package_id"].encode() in first.payload
    with grpc.secure_channel(server.address, grpc.ssl_channel_credentials(root)) as channel:
        stream = shim_grpc.ChaincodeStub(channel).Connect(iter([]), timeout=10)
        with pytest.raises(grpc.RpcError) as err:
            next(stream)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "refused" not in err.value.details().lower(), err.value.details()
