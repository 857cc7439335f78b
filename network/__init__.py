"""A real Fabric network of native processes on one machine (no Docker).

``LocalNetwork`` is the entry point; ``NetworkSpec`` describes the topology; the pinned
toolchain lives in ``versions`` and is built by ``toolchain.install``.
"""

from ledgerlake.network.local import LocalNetwork, NodeStatus
from ledgerlake.network.spec import NetworkSpec, OrgSpec

__all__ = ["LocalNetwork", "NetworkSpec", "NodeStatus", "OrgSpec"]
