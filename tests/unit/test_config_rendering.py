"""configtx.yaml, node environments and the peer/orderer config overlays."""

import json

import yaml

from ledgerlake.network import configtx, nodes
from ledgerlake.network.layout import ORDERER_ORG, Layout
from ledgerlake.network.spec import NetworkSpec
from ledgerlake.network.toolchain import Toolchain


def _layout(tmp_path, **spec):
    layout = Layout(NetworkSpec.from_mapping(spec), tmp_path / "state")
    for org in (ORDERER_ORG, *layout.orgs):
        cert = layout.ca_cert(org)
        cert.parent.mkdir(parents=True, exist_ok=True)
        cert.write_text(f"ROOT OF {org.name}\n")
    for peer in layout.peers:
        tls = layout.node_dir(peer) / "tls"
        tls.mkdir(parents=True)
        (tls / "server.crt").write_text(f"TLS CERT OF {peer.name}\n")
        (tls / "server.key").write_text(f"TLS KEY OF {peer.name}\n")
    return layout


def _toolchain(tmp_path):
    chain = Toolchain(tmp_path / "tools")
    chain.config_dir.mkdir(parents=True)
    (chain.config_dir / "core.yaml").write_text(
        yaml.safe_dump({"peer": {"id": "x"}, "vm": {"endpoint": "unix:///var/run/docker.sock"}}))
    (chain.config_dir / "orderer.yaml").write_text(
        yaml.safe_dump({"General": {}, "Consensus": {"WALDir": "/var/wal"}}))
    return chain


def test_raft_configtx_lists_every_orderer_as_consenter_and_anchor_peers(tmp_path):
    layout = _layout(tmp_path, batch_timeout="2s", max_message_count=7)
    profile = configtx.render(layout)["Profiles"][configtx.PROFILE]
    orderer = profile["Orderer"]
    assert orderer["OrdererType"] == "etcdraft"
    assert orderer["BatchTimeout"] == "2s" and orderer["BatchSize"]["MaxMessageCount"] == 7
    assert [c["Port"] for c in orderer["EtcdRaft"]["Consenters"]] == [7100, 7110, 7120]
    assert orderer["Organizations"][0]["OrdererEndpoints"] == [
        "127.0.0.1:7100", "127.0.0.1:7110", "127.0.0.1:7120"]
    apps = profile["Application"]["Organizations"]
    assert [o["AnchorPeers"] for o in apps] == [[{"Host": "127.0.0.1", "Port": 7200}],
                                                [{"Host": "127.0.0.1", "Port": 7210}]]
    assert apps[0]["Policies"]["Endorsement"]["Rule"] == "OR('Org1MSP.peer')"
    assert "ConsenterMapping" not in orderer


def test_bft_configtx_maps_four_consenters_with_identities(tmp_path):
    layout = _layout(tmp_path, consensus="bft")
    orderer = configtx.render(layout)["Profiles"][configtx.PROFILE]["Orderer"]
    assert orderer["OrdererType"] == "BFT"
    mapping = orderer["ConsenterMapping"]
    assert [m["ID"] for m in mapping] == [1, 2, 3, 4]
    assert mapping[3]["Identity"].endswith("nodes/orderer4/msp/signcerts/cert.pem")
    assert orderer["SmartBFT"]["RequestBatchMaxBytes"] > 0
    assert "EtcdRaft" not in orderer


def test_configtx_file_is_valid_yaml(tmp_path):
    layout = _layout(tmp_path)
    folder = configtx.write(layout)
    assert yaml.safe_load((folder / "configtx.yaml").read_text()) == configtx.render(layout)


def test_peer_is_docker_free_and_points_its_builder_at_its_org_chaincode_server(tmp_path):
    layout = _layout(tmp_path)
    chain = _toolchain(tmp_path)
    argv, env = nodes.launch(layout, chain, layout.node("peer0.org2"))
    assert argv[-2:] == ["node", "start"]
    core = yaml.safe_load((tmp_path / "state/config/peer/core.yaml").read_text())
    assert core["vm"]["endpoint"] == "" and core["peer"]["id"] == "x"
    assert env["FABRIC_CFG_PATH"].endswith("config/peer")
    assert env["CORE_PEER_ADDRESS"] == "127.0.0.1:7210"
    assert env["CORE_PEER_LOCALMSPID"] == "Org2MSP"
    assert "ledgerlake-ccaas" in env["CORE_CHAINCODE_EXTERNALBUILDERS"]
    ccaas = json.loads(env[nodes.CCAAS_CONFIG_ENV])
    assert ccaas["address"] == "127.0.0.1:7310" and ccaas["tls_required"] is True
    assert ccaas["root_cert"] == "ROOT OF Org2\n"
    assert ccaas["client_auth_required"] is True
    roots = open(env["CORE_PEER_TLS_ROOTCERT_FILE"]).read()
    assert roots == "ROOT OF Orderer\nROOT OF Org1\nROOT OF Org2\n"
    assert ccaas["client_cert"] == "TLS CERT OF peer0.org2\n"
    assert all(v.startswith("127.0.0.1:") for k, v in env.items()
               if k.endswith("ADDRESS") and "CHAINCODE" not in k.split("_")[0])


def test_orderer_admin_api_requires_client_certificates(tmp_path):
    layout = _layout(tmp_path)
    argv, env = nodes.launch(layout, _toolchain(tmp_path), layout.node("orderer2"))
    assert env["ORDERER_GENERAL_LISTENPORT"] == "7110"
    assert env["ORDERER_ADMIN_LISTENADDRESS"] == "127.0.0.1:7111"
    assert env["ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED"] == "true"
    assert env["ORDERER_CHANNELPARTICIPATION_ENABLED"] == "true"
    conf = yaml.safe_load((tmp_path / "state/config/orderer/orderer.yaml").read_text())
    assert "Type" not in conf["Consensus"]


def test_bft_orderer_local_config_names_the_bft_consenter(tmp_path):
    layout = _layout(tmp_path, consensus="bft")
    nodes.launch(layout, _toolchain(tmp_path), layout.node("orderer4"))
    conf = yaml.safe_load((tmp_path / "state/config/orderer/orderer.yaml").read_text())
    assert conf["Consensus"]["Type"] == "BFT" and conf["Consensus"]["WALDir"] == "/var/wal"


def test_chaincode_server_gets_its_package_id_and_address(tmp_path):
    layout = _layout(tmp_path)
    argv, env = nodes.launch(layout, _toolchain(tmp_path), layout.node("chaincode.org1"),
                             package_id="ledgerlake_x:abc")
    assert argv[1:] == ["-m", "ledgerlake.chaincode"]
    assert env["CHAINCODE_ID"] == "ledgerlake_x:abc"
    assert env["CHAINCODE_SERVER_ADDRESS"] == "127.0.0.1:7300"


def test_raft_channels_avoid_the_gateways_bft_path_and_bft_channels_keep_it(tmp_path):
    raft = configtx.render(_layout(tmp_path / "r"))["Profiles"][configtx.PROFILE]
    bft = configtx.render(_layout(tmp_path / "b", consensus="bft"))["Profiles"][configtx.PROFILE]
    assert raft["Capabilities"] == {"V2_0": True}  # V3_0 would send each tx to every orderer
    assert bft["Capabilities"] == {"V3_0": True}
    assert raft["Orderer"]["Capabilities"] == bft["Orderer"]["Capabilities"] == {"V2_0": True}


def test_raft_snapshots_early_so_no_restart_replays_a_conf_change(tmp_path):
    """The channel's first blocks (lifecycle, org keys: a few KB each) must already make
    every orderer snapshot, and the replay before it must fit one Raft message."""
    orderer = configtx.render(_layout(tmp_path))["Profiles"][configtx.PROFILE]["Orderer"]

    def size(text: str) -> int:
        number, unit = text.split()
        return int(number) * {"KB": 2**10, "MB": 2**20}[unit]

    snapshot = size(orderer["EtcdRaft"]["Options"]["SnapshotIntervalSize"])
    assert snapshot <= 16 * 2**10
    assert snapshot < size(orderer["BatchSize"]["PreferredMaxBytes"])  # Raft's MaxSizePerMsg
