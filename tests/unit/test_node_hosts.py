"""Nodes on addresses of their own (the spec's ``hosts``): parsing, placement, and every
place that addresses a node — endpoints, consenters, anchor peers, profiles, listen
addresses, certificates' names — using the address; the default stays on 127.0.0.1."""

import json

import pytest
import yaml

from ledgerlake.errors import ConfigError
from ledgerlake.network import configtx, nodes, pki, profiles
from ledgerlake.network.layout import ORDERER_ORG, Layout
from ledgerlake.network.spec import HostSpec, NetworkSpec

HOSTS = {"orderer1": {"address": "10.213.7.11", "netns": "ll-orderer1"},
         "peer0.org2": {"address": "10.213.7.15", "netns": "ll-peer0.org2"},
         "chaincode.org2": "10.213.7.1"}


def _layout(tmp_path, hosts=HOSTS):
    layout = Layout(NetworkSpec.from_mapping({"hosts": hosts}), tmp_path / "state")
    for org in (ORDERER_ORG, *layout.orgs):
        cert = layout.ca_cert(org)
        cert.parent.mkdir(parents=True, exist_ok=True)
        cert.write_text(f"ROOT OF {org.name}\n")
    for node in (*layout.peers, *layout.orderers):
        tls = layout.node_dir(node) / "tls"
        tls.mkdir(parents=True)
        (tls / "server.crt").write_text("CERT\n")
        (tls / "server.key").write_text("KEY\n")
    return layout


def _toolchain(tmp_path):
    from ledgerlake.network.toolchain import Toolchain
    chain = Toolchain(tmp_path / "tools")
    chain.config_dir.mkdir(parents=True)
    (chain.config_dir / "core.yaml").write_text(yaml.safe_dump({"vm": {"endpoint": "x"}}))
    (chain.config_dir / "orderer.yaml").write_text(yaml.safe_dump({"General": {}}))
    return chain


def test_the_default_spec_has_no_hosts_and_maps_as_before():
    spec = NetworkSpec()
    assert spec.hosts == () and "hosts" not in spec.to_mapping()
    assert all(n.host == "127.0.0.1" and n.netns == "" for n in Layout(spec, "/x").nodes)


def test_hosts_accept_an_address_or_address_and_namespace_and_round_trip():
    spec = NetworkSpec.from_mapping({"hosts": HOSTS})
    assert spec.host_of("orderer1") == HostSpec("orderer1", "10.213.7.11", "ll-orderer1")
    assert spec.host_of("chaincode.org2") == HostSpec("chaincode.org2", "10.213.7.1")
    assert spec.host_of("peer0.org1") is None
    assert NetworkSpec.from_mapping(spec.to_mapping()) == spec
    assert NetworkSpec.from_mapping(json.loads(json.dumps(spec.to_mapping()))) == spec


@pytest.mark.parametrize("hosts, field", [
    (["orderer1"], "hosts"),
    ({"orderer1": "somewhere"}, "hosts.orderer1.address"),
    ({"orderer1": "::1"}, "hosts.orderer1.address"),
    ({"orderer1": "0.0.0.0"}, "hosts.orderer1.address"),
    ({"orderer1": {"address": "127.0.0.1", "netns": "ns1"}}, "hosts.orderer1.address"),
    ({"orderer1": {"address": "10.0.0.1", "netns": "bad name"}}, "hosts.orderer1.netns"),
    ({"orderer1": {"address": "10.0.0.1", "colour": "red"}}, "hosts.orderer1.colour"),
    ({"orderer1": 7}, "hosts.orderer1"),
    ({"Orderer 1": "10.0.0.1"}, "hosts"),
    ({"orderer1": {"address": "10.0.0.1", "netns": "a"},
      "orderer2": {"address": "10.0.0.1", "netns": "b"}}, "hosts"),
])
def test_bad_hosts_name_the_bad_field(hosts, field):
    with pytest.raises(ConfigError, match=rf"spec field '{__import__('re').escape(field)}'"):
        NetworkSpec.from_mapping({"hosts": hosts})


def test_a_host_for_a_node_the_network_does_not_have_is_refused(tmp_path):
    spec = NetworkSpec.from_mapping({"hosts": {"orderer4": "10.0.0.4"}})
    with pytest.raises(ConfigError, match="names no node of this network: 'orderer4'"):
        Layout(spec, tmp_path)


def test_nodes_take_their_address_and_the_others_stay_on_loopback(tmp_path):
    layout = _layout(tmp_path)
    assert layout.node("orderer1").address == "10.213.7.11:7100"
    assert layout.node("orderer1").netns == "ll-orderer1"
    assert layout.node("peer0.org2").at("ops") == "10.213.7.15:7212"
    assert layout.node("orderer2").address == "127.0.0.1:7110"
    assert layout.ca_of(layout.orgs[1]).host == "127.0.0.1"


def test_endpoints_consenters_and_anchor_peers_use_the_addresses(tmp_path):
    profile = configtx.render(_layout(tmp_path))["Profiles"][configtx.PROFILE]
    orderer = profile["Orderer"]
    assert orderer["Organizations"][0]["OrdererEndpoints"] == [
        "10.213.7.11:7100", "127.0.0.1:7110", "127.0.0.1:7120"]
    assert [(c["Host"], c["Port"]) for c in orderer["EtcdRaft"]["Consenters"]] == [
        ("10.213.7.11", 7100), ("127.0.0.1", 7110), ("127.0.0.1", 7120)]
    assert [o["AnchorPeers"] for o in profile["Application"]["Organizations"]] == [
        [{"Host": "127.0.0.1", "Port": 7200}], [{"Host": "10.213.7.15", "Port": 7210}]]


def test_a_node_in_a_namespace_listens_on_its_address_inside_it(tmp_path):
    layout, chain = _layout(tmp_path), _toolchain(tmp_path)
    argv, env = nodes.launch(layout, chain, layout.node("peer0.org2"))
    assert argv[1:4] == ["netns", "exec", "ll-peer0.org2"] and argv[-2:] == ["node", "start"]
    assert {env[k] for k in ("CORE_PEER_ADDRESS", "CORE_PEER_LISTENADDRESS",
                             "CORE_PEER_GOSSIP_EXTERNALENDPOINT")} == {"10.213.7.15:7210"}
    assert env["CORE_OPERATIONS_LISTENADDRESS"] == "10.213.7.15:7212"
    assert env["CORE_PEER_GOSSIP_BOOTSTRAP"] == "10.213.7.15:7210"  # its org's only peer
    assert json.loads(env[nodes.CCAAS_CONFIG_ENV])["address"] == "10.213.7.1:7310"
    argv, env = nodes.launch(layout, chain, layout.node("orderer1"))
    assert argv[3] == "ll-orderer1"
    assert env["ORDERER_GENERAL_LISTENADDRESS"] == "10.213.7.11"
    assert env["ORDERER_ADMIN_LISTENADDRESS"] == "10.213.7.11:7101"
    argv, env = nodes.launch(layout, chain, layout.node("chaincode.org2"), "id")
    assert "netns" not in argv and env["CHAINCODE_SERVER_ADDRESS"] == "10.213.7.1:7310"
    argv, _ = nodes.launch(layout, chain, layout.node("orderer2"))
    assert "netns" not in argv
    assert nodes.health_url(layout.node("orderer1")) == "https://10.213.7.11:7102/healthz"


def test_peers_notice_a_silent_orderer_and_orderers_accept_their_pings(tmp_path):
    """A peer's block stream from an orderer that stops answering (cut off) must fail
    within seconds, not Fabric's 60 + 20 s (test_partition shows the difference)."""
    layout, chain = _layout(tmp_path), _toolchain(tmp_path)

    def seconds(text):
        return float(text.rstrip("s"))

    _, peer = nodes.launch(layout, chain, layout.node("peer0.org1"))
    _, orderer = nodes.launch(layout, chain, layout.node("orderer2"))
    interval = seconds(peer["CORE_PEER_KEEPALIVE_DELIVERYCLIENT_INTERVAL"])
    timeout = seconds(peer["CORE_PEER_KEEPALIVE_DELIVERYCLIENT_TIMEOUT"])
    assert interval + timeout <= 15
    assert seconds(orderer["ORDERER_GENERAL_KEEPALIVE_SERVERMININTERVAL"]) <= interval


def test_certificates_name_the_address_and_loopback():
    assert pki.tls_hosts() == ("127.0.0.1", "localhost")
    assert pki.tls_hosts("10.213.7.11") == ("10.213.7.11", "127.0.0.1", "localhost")


def test_profiles_reach_peers_at_their_addresses(tmp_path):
    layout = _layout(tmp_path)
    profile = profiles.connection_profile(layout, layout.orgs[0], {})
    assert profile["peers"]["peer0.org2"]["url"] == "grpcs://10.213.7.15:7210"
    assert profile["peers"]["peer0.org1"]["url"] == "grpcs://127.0.0.1:7200"
    assert profile["certificateAuthorities"]["ca.org2"]["url"] == "https://127.0.0.1:7020"


def test_an_address_this_machine_does_not_have_is_a_clear_error():
    from ledgerlake.network import process
    with pytest.raises(ConfigError, match="orderer1 is to listen on 192.0.2.1, which is no "
                                          "address of this machine"):
        process.check_port_free(7100, "orderer1", "192.0.2.1")
