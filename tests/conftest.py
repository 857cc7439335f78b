"""Shared fixtures. Integration tests bring up real Fabric networks in temporary state
directories on their own port blocks, so they never touch a developer's ``.ledgerlake``."""

from __future__ import annotations

import pytest

from ledgerlake.network import LocalNetwork, NetworkSpec
from ports import base_port


@pytest.fixture(scope="session")
def raft_network(tmp_path_factory):
    """A default network (3 Raft orderers, Org1 + Org2), up for the whole session; it
    also serves the chaincode's self-test functions (put/get) the network tests use."""
    net = LocalNetwork(tmp_path_factory.mktemp("raft") / "state",
                       spec=NetworkSpec(base_port=base_port(21000),
                                        selftest=True))
    try:
        net.up()
        yield net
    finally:
        net.down()
