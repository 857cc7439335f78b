from ledgerlake.errors import ConfigError
from ledgerlake.network.layout import Layout
from ledgerlake.network.spec import NetworkSpec

import pytest


def test_ports_derive_from_the_base_port(tmp_path):
    layout = Layout(NetworkSpec(base_port=9000), tmp_path)
    assert layout.node("ca.orderer").ports == {"api": 9000, "ops": 9001}
    assert layout.node("ca.org2").ports == {"api": 9020, "ops": 9021}
    assert layout.node("orderer3").ports == {"grpc": 9120, "admin": 9121, "ops": 9122}
    assert layout.node("peer0.org2").ports == {"grpc": 9210, "chaincode": 9211, "ops": 9212}
    assert layout.node("chaincode.org1").ports == {"grpc": 9300}


def test_every_port_is_unique_in_a_large_topology(tmp_path):
    spec = NetworkSpec.from_mapping({"consensus": "bft", "orderers": 7, "orgs": [
        {"name": "A", "peers": 3}, {"name": "B", "peers": 3}, {"name": "C", "peers": 4}]})
    layout = Layout(spec, tmp_path)
    ports = [p for n in layout.nodes for p in n.ports.values()]
    assert len(ports) == len(set(ports))
    assert [n.name for n in layout.peers_of(spec.orgs[2])] == [
        "peer0.c", "peer1.c", "peer2.c", "peer3.c"]


def test_start_order_is_cas_orderers_peers_chaincode(tmp_path):
    kinds = [n.kind for n in Layout(NetworkSpec(), tmp_path).nodes]
    assert kinds == ["ca"] * 3 + ["orderer"] * 3 + ["peer"] * 2 + ["chaincode"] * 2


def test_unknown_node_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="peer0.org1"):
        Layout(NetworkSpec(), tmp_path).node("peer9.org1")


def test_org_lookup_accepts_name_or_msp_id(tmp_path):
    layout = Layout(NetworkSpec(), tmp_path)
    assert layout.org("org2").name == layout.org("Org2MSP").name == "Org2"
