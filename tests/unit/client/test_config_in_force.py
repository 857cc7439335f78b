"""The configuration a block is checked under comes from that block's own last-config index
(in its signed metadata), never from an unsigned neighbour a peer could swap, and must be
the configuration that index names. Real blocks of a Raft network whose block 4 is a
config update (tests/data/blocks/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerlake.client import qscc
from ledgerlake.client.blocks import decode_block
from ledgerlake.client.verify import ChannelConfig, config_in_force_flow, require_last_config
from ledgerlake.errors import IntegrityError

DATA = Path(__file__).parents[2] / "data" / "blocks"


def cfg(n):
    return decode_block((DATA / f"raftcfg-{n}.block").read_bytes())


def run(flow):
    try:
        while True:
            next(flow)
    except StopIteration as done:
        return done.value


def peer(monkeypatch, lie: dict):
    """A peer serving the raftcfg blocks, block n answered as block ``lie[n]`` if given."""
    def block_by_number_flow(network, number):
        return cfg(lie.get(number, number))
        yield  # a flow

    monkeypatch.setattr(qscc, "block_by_number_flow", block_by_number_flow)


def test_block_5_is_checked_under_config_block_4_it_names(monkeypatch):
    peer(monkeypatch, {})
    config, numbers = run(config_in_force_flow(None, 5, cfg(5)))
    assert numbers == (0, 4) and config.block_number == 4
    assert [c.port for c in config.consenters] == [8600, 8620]
    config, numbers = run(config_in_force_flow(None, 3))  # read from the peer
    assert numbers == (0,) and config.block_number == 0


def test_a_peer_hiding_config_block_4_is_named_not_followed(monkeypatch):
    """Asked for block 4 the peer answers block 3 (last-config index 0): read from block 4's
    unsigned index, the genesis configuration (under which orderer1, block 5's signer, also
    signs) looked in force for block 5."""
    peer(monkeypatch, {4: 3})
    with pytest.raises(IntegrityError, match="^asked for block 4, the peer answered block 3$"):
        run(config_in_force_flow(None, 5, cfg(5)))


def test_a_block_checked_under_another_configuration_is_named():
    genesis = ChannelConfig.from_block(cfg(0))
    with pytest.raises(IntegrityError, match="^block 5: its last-config index is 4, not 0$") \
            as raised:
        require_last_config(cfg(5), genesis)
    assert raised.value.check == "last_config" and raised.value.block_number == 5
    require_last_config(cfg(5), ChannelConfig.from_block(cfg(4)))
    require_last_config(cfg(3), genesis)
