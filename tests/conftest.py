"""Shared fixtures. Integration tests bring up real Fabric networks in temporary state
directories on their own port blocks, so they never touch a developer's ``.ledgerlake``."""

from __future__ import annotations

import pytest

from networks import network_up


@pytest.fixture(scope="session")
def raft_network(tmp_path_factory):
    """A default network (3 Raft orderers, Org1 + Org2), up for the whole session; it
    also serves the chaincode's self-test functions (put/get) the network tests use."""
    yield from network_up(tmp_path_factory, "raft", 21000, selftest=True)
