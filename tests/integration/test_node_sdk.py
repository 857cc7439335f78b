"""Fabric's official Node Gateway SDK (@hyperledger/fabric-gateway) on a ledgerlake network,
configured from nothing but what `network up` writes for clients: a connection profile and
a wallet entry. It writes a stream the Python client reads back, reads nanosecond times
exactly (the integer rule), re-canonicalises an answer byte for byte (RFC 8785), and sees
the contract's error codes. scripts/install puts the SDK in .node/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from ledgerlake.client import LedgerlakeContract, connect, load_local_profile, load_wallet
from ledgerlake.client.encryption import new_data_key, new_org_key, public_pem, wrap_key
from ledgerlake.protocol import ErrorCode, error_code

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("node") is None,
                                 reason="node is not installed: the Node SDK cannot run")]

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "tests" / "node" / "gateway_interop.cjs"


def node_sdk(net, org: str, user: str, step: str, *args: str) -> dict:
    layout = net.layout
    profile = layout.profile_file(layout.org(org))
    wallet = layout.wallet_dir(layout.org(org), user)
    done = subprocess.run(
        ["node", str(SCRIPT), str(profile), str(wallet), net.spec.channel, net.spec.chaincode,
         step, *args],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "NODE_PATH": str(ROOT / ".node" / "node_modules")})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def typed(net, org: str, user: str):
    identity, signer = load_wallet(net.layout.wallet_dir(net.layout.org(org), user))
    channel = load_local_profile(net.state_dir, org).endpoint().dial()
    gateway = connect(identity, signer, channel)
    return channel, LedgerlakeContract(gateway.get_network(net.spec.channel)
                                       .get_contract(net.spec.chaincode))


def test_the_node_sdk_works_from_our_profile_and_wallet_and_agrees_with_python(raft_network):
    stream_id = f"node-{uuid.uuid4().hex[:8]}"
    wrapped = wrap_key(new_data_key(), public_pem(new_org_key()), stream=stream_id, epoch=1,
                       msp_id="Org1MSP")
    made = node_sdk(raft_network, "Org1", "admin", "create-stream", stream_id, wrapped)
    assert made["id"] == stream_id
    assert made["createdType"] == "string"  # a nanosecond time: beyond 2^53, so a string

    channel, api = typed(raft_network, "Org1", "analyst")
    with channel:
        stream = api.get_stream(stream_id)
    assert stream.description == "created by the Node SDK"
    assert stream.created == int(made["created"]) > 2**53

    read = node_sdk(raft_network, "Org2", "auditor", "get-stream", stream_id)
    assert read["exact"] == made["created"] == str(stream.created)
    assert read["canonicalAgain"] is True  # JavaScript's JCS gives the answer's very bytes

    missing = node_sdk(raft_network, "Org2", "analyst", "missing-stream", f"no-{stream_id}")
    assert missing["error"] == "GatewayError" and missing["details"]
    assert error_code(missing["details"][0]) is ErrorCode.NOT_FOUND
