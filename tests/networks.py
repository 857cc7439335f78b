"""Test networks: a real network brought up for a test module (or session) and brought
down after it, in a fresh state directory on its own port block."""

from __future__ import annotations

from ledgerlake.network import LocalNetwork, NetworkSpec
from ports import base_port


def network_up(tmp_path_factory, name: str, block: int, **spec):
    """A network of ``NetworkSpec(**spec)`` on port block ``block`` in a fresh state
    directory, brought up, yielded, and brought down after (a module fixture's body:
    ``yield from network_up(tmp_path_factory, "ingest", 22500)``)."""
    net = LocalNetwork(tmp_path_factory.mktemp(name) / "state",
                       spec=NetworkSpec(base_port=base_port(block), **spec))
    try:
        net.up()
        yield net
    finally:
        net.down()
