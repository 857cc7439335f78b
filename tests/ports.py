"""Port blocks of the integration tests.

Each test network gets its own block (21000, 23000, …). ``LEDGERLAKE_TEST_PORT_SHIFT`` moves
every block by the same amount, so two checkouts can run their suites side by side."""

from __future__ import annotations

import os


def base_port(block: int) -> int:
    """The base port of test block ``block`` (e.g. 21000), shifted for this checkout."""
    return block + int(os.environ.get("LEDGERLAKE_TEST_PORT_SHIFT", "0"))
