"""Fixtures of the contract tests."""

from __future__ import annotations

import pytest

from contract_world import World, build_world


@pytest.fixture
def world() -> World:
    """A fresh populated in-memory ledger (see ``contract_world.build_world``)."""
    return build_world()
