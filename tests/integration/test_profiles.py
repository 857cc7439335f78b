"""What ``network up`` hands to clients, a connection profile per organisation and a wallet,
is enough to reach and use the network: every URL in a profile answers over TLS verified
with the profile's own root, and a client built from a copied profile and wallet entry
alone submits and evaluates."""

from __future__ import annotations

import json
import shutil
import uuid

import grpc
import pytest

from ledgerlake.client import (
    Endpoint,
    connect,
    load_local_profile,
    load_profile,
    load_wallet,
    wallet_entries,
)
from ledgerlake.protocol import ROLES

pytestmark = pytest.mark.integration
ORGS = ("Org1", "Org2")


def _contract(endpoint: Endpoint, wallet, channel):
    identity, signer = load_wallet(wallet)
    return connect(identity, signer, channel).get_network("ledgerlake").get_contract("ledgerlake")


def test_up_writes_a_profile_per_org_listing_every_peer_and_ca(raft_network):
    layout = raft_network.layout
    for org in ORGS:
        document = json.loads(layout.profile_file(layout.org(org)).read_text())
        # the fields Fabric's SDKs read from a common connection profile
        assert {"name", "version", "client", "organizations", "peers",
                "certificateAuthorities"} <= set(document)
        assert document["client"]["organization"] == org
        assert set(document["organizations"]) == set(ORGS)
        assert set(document["peers"]) == {p.name for p in layout.peers}
        for entry in document["organizations"].values():
            assert entry["mspid"] and entry["peers"] and entry["certificateAuthorities"]
        for peer in document["peers"].values():
            assert peer["url"].startswith("grpcs://")
        profile = load_profile(layout.profile_file(layout.org(org)))
        assert profile.organization().msp_id == f"{org}MSP"
        assert [e.address for e in profile.all_peers] == [p.address for p in layout.peers]


def test_up_writes_a_wallet_entry_per_user_readable_only_by_its_owner(raft_network):
    root = raft_network.state_dir / "wallet"
    entries = wallet_entries(root)
    names = {(e.parent.name, e.name) for e in entries}
    assert {(org, role) for org in ORGS for role in ROLES} <= names
    for entry in entries:
        assert sorted(p.name for p in entry.iterdir()) == ["id.json"]
        assert (entry / "id.json").stat().st_mode & 0o777 == 0o600
        identity, _ = load_wallet(entry)
        assert identity.msp_id == f"{entry.parent.name}MSP"


def test_every_peer_url_answers_over_tls_verified_by_the_profiles_root(raft_network):
    key = f"p-{uuid.uuid4().hex[:8]}"
    raft_network.invoke("put", key, "seen by every peer")
    profile = load_local_profile(raft_network.state_dir, "Org1")
    for org in ORGS:
        wallet = raft_network.layout.wallet_dir(raft_network.layout.org(org), "analyst")
        for endpoint in profile.peers(org):
            with endpoint.dial() as channel:  # the Gateway of this very peer evaluates
                assert _contract(endpoint, wallet, channel).evaluate("get", [key]) == \
                    b"seen by every peer"


def test_a_wrong_tls_root_is_refused(raft_network):
    """The check above can fail: another organisation's root does not verify a peer."""
    profile = load_local_profile(raft_network.state_dir, "Org1")
    org1_peer, org2_peer = profile.endpoint(org="Org1"), profile.endpoint(org="Org2")
    wrong = Endpoint(org1_peer.address, org2_peer.tls_root)
    with wrong.dial() as channel, pytest.raises(grpc.FutureTimeoutError):
        grpc.channel_ready_future(channel).result(timeout=5)


def test_every_ca_url_answers_with_the_profiles_ca_name_and_root(raft_network):
    profile = load_local_profile(raft_network.state_dir, "Org2")
    for org in ORGS:
        ca = profile.ca(org)
        info = ca.client().cainfo()
        assert info["CAName"] == ca.ca_name
        assert raft_network.layout.ca_cert(raft_network.layout.org(org)).read_bytes().strip() \
            in ca.tls_root


def test_a_client_built_from_a_copied_profile_and_wallet_submits_and_evaluates(
        raft_network, tmp_path):
    """Nothing of the state directory but the two files the client reads."""
    layout = raft_network.layout
    org2 = layout.org("Org2")
    shutil.copy(layout.profile_file(org2), tmp_path / "connection-org2.json")
    shutil.copytree(layout.wallet_dir(org2, "producer"), tmp_path / "wallet" / "producer")
    profile = load_profile(tmp_path / "connection-org2.json")
    endpoint = profile.endpoint()
    assert endpoint.msp_id == "Org2MSP"
    key = f"p-{uuid.uuid4().hex[:8]}"
    with endpoint.dial() as channel:
        contract = _contract(endpoint, tmp_path / "wallet" / "producer", channel)
        contract.submit("put", [key, "via profile and wallet"])
        assert contract.evaluate("get", [key]) == b"via profile and wallet"
    assert raft_network.query("get", key, org="Org1") == "via profile and wallet"


def test_up_rewrites_missing_profiles_and_wallet_entries(raft_network):
    layout = raft_network.layout
    org1 = layout.org("Org1")
    before = layout.profile_file(org1).read_text()
    entry = layout.wallet_dir(org1, "auditor") / "id.json"
    identity_before = entry.read_text()
    layout.profile_file(org1).unlink()
    shutil.rmtree(entry.parent)
    assert raft_network.up() is False  # already running: only the client files are written
    assert layout.profile_file(org1).read_text() == before
    assert entry.read_text() == identity_before
    assert entry.stat().st_mode & 0o777 == 0o600


def test_a_restart_writes_them_again_and_they_still_serve(raft_network):
    layout = raft_network.layout
    org1 = layout.org("Org1")
    profile_before = layout.profile_file(org1).read_text()
    raft_network.down()
    shutil.rmtree(layout.profiles_dir)
    shutil.rmtree(layout.wallet_dir(org1, "producer"))
    assert raft_network.up() is True
    assert layout.profile_file(org1).read_text() == profile_before
    wallet = layout.wallet_dir(org1, "producer")
    endpoint = load_local_profile(raft_network.state_dir, "Org1").endpoint()
    key = f"p-{uuid.uuid4().hex[:8]}"
    with endpoint.dial() as channel:
        contract = _contract(endpoint, wallet, channel)
        contract.submit("put", [key, "after a restart"])
        assert contract.evaluate("get", [key]) == b"after a restart"
