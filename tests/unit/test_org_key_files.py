"""Where a local network keeps its organisations' encryption keys, and how a state directory
from before 'network up' made them adopts the keys the old demo published."""

from __future__ import annotations

import os
import stat

from ledgerlake.client import encryption
from ledgerlake.network import LocalNetwork


def test_org_keys_live_in_each_orgs_own_folder(tmp_path):
    net = LocalNetwork(tmp_path / "state")
    assert net.org_key_path("Org2") == net.state_dir / "keys" / "Org2" / "x25519.pem"
    assert net.org_key_path("Org1MSP") == net.state_dir / "keys" / "Org1" / "x25519.pem"


def test_the_old_demos_keys_become_the_orgs_keys(tmp_path):
    net = LocalNetwork(tmp_path / "state")
    legacy = net.state_dir / "demo"
    keys = {}
    for org in net.layout.orgs:
        keys[org.name] = encryption.new_org_key()
        encryption.save_org_key(legacy / f"{org.msp_id}.x25519.pem", keys[org.name])
    org1, org2 = net.layout.orgs
    assert net._adopt_demo_key(org1) is True
    assert legacy.is_dir()  # Org2's key is still there
    assert net._adopt_demo_key(org2) is True and not legacy.exists()
    for org in net.layout.orgs:
        path = net.org_key_path(org.name)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert encryption.public_pem(encryption.load_org_key(path)) == \
            encryption.public_pem(keys[org.name])
    assert net._adopt_demo_key(org1) is False  # an org key already there is kept


def test_no_legacy_key_adopts_nothing(tmp_path):
    net = LocalNetwork(tmp_path / "state")
    assert net._adopt_demo_key(net.layout.orgs[0]) is False
    assert not net.org_key_path("Org1").exists()
