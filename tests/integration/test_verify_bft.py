"""``ledgerlake verify chain`` on a real SmartBFT network (4 orderers): each block carries a
quorum of consenter signatures named by consenter id, and one signature changed in a peer's
block file is named. The network lives for this module only; the changed peer is left so."""

from __future__ import annotations

import json

import pytest

from ledgerlake.cli import main
from ledgerlake.client import connect, encryption, from_state_dir, load_wallet
from ledgerlake.client.api import LedgerlakeContract
from ledgerlake.client.qscc import block_by_number, chain_info
from ledgerlake.network import LocalNetwork, NetworkSpec, process
from ports import base_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    network = LocalNetwork(tmp_path_factory.mktemp("verify-bft") / "state",
                           spec=NetworkSpec(consensus="bft", base_port=base_port(25700)))
    try:
        network.up()
        for org in ("Org1", "Org2"):  # two transactions: blocks signed after the deployment
            identity, signer = load_wallet(network.layout.wallet_dir(network.layout.org(org),
                                                                     "admin"))
            with from_state_dir(network.state_dir, org).dial() as channel:
                LedgerlakeContract(connect(identity, signer, channel).get_network("ledgerlake")
                                   .get_contract("ledgerlake")).register_org_key(
                    encryption.public_pem(encryption.new_org_key()))
        yield network
    finally:
        network.down()


def _cli(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_bft_block_carries_a_quorum_of_consenter_signatures(net, capsys):
    code, out, err = _cli(capsys, "verify", "chain", "--state-dir", str(net.state_dir),
                          "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["consensus"] == "BFT" and doc["first"] == 0 and doc["last"] >= 5
    assert doc["rule"] == "a quorum of 3 of 4 SmartBFT consenters"
    signed = doc["signatures"]
    assert set(signed) <= {f"orderer{i} (OrdererMSP, 127.0.0.1:{net.spec.base_port + 90 + 10 * i})"
                           for i in range(1, 5)}
    assert sum(signed.values()) >= 3 * (doc["blocks"] - 1)


def test_a_changed_consenter_signature_in_a_block_file_is_named(net, capsys):
    identity, signer = load_wallet(net.layout.wallet_dir(net.layout.org("Org2"), "auditor"))
    with from_state_dir(net.state_dir, "Org2").dial() as channel:
        network = connect(identity, signer, channel).get_network("ledgerlake")
        tip = chain_info(network).height - 1
        block = block_by_number(network, tip)
    signature = block.signatures[1].signature
    peer = net.layout.node("peer0.org2")
    files = sorted(net.layout.node_dir(peer).rglob(f"chains/chains/{net.spec.channel}/blockfile_*"))
    process.stop(net.layout.pid_file(peer))
    changed = signature[:-1] + bytes([signature[-1] ^ 1])  # still DER: the value of s changes
    for path in files:
        data = path.read_bytes()
        if data.count(signature) == 1:
            path.write_bytes(data.replace(signature, changed))
            break
    else:
        raise AssertionError("the signature is not in peer0.org2's block files exactly once")
    net.up()
    code, out, err = _cli(capsys, "verify", "chain", "--state-dir", str(net.state_dir),
                          "--peer", "peer0.org2")
    assert code == 1 and out == ""
    assert err.startswith(f"IntegrityError: block {tip}: orderer signatures: signature 1 by "
                          f"orderer") and err.strip().endswith("does not verify"), err
    assert _cli(capsys, "verify", "chain", "--state-dir", str(net.state_dir))[0] == 0
