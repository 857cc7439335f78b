"""Running Fabric's own ``peer`` CLI as an organisation's admin against one peer."""

from __future__ import annotations

import os
import subprocess

from ledgerlake.errors import NetworkError
from ledgerlake.network.layout import Layout, Node
from ledgerlake.network.toolchain import Toolchain


def peer_env(layout: Layout, chain: Toolchain, peer: Node, user: str = "admin") -> dict[str, str]:
    """Environment for ``peer`` commands signed by ``user`` of the peer's organisation."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update({
        "FABRIC_CFG_PATH": str(chain.config_dir),
        "FABRIC_LOGGING_SPEC": "WARNING",
        "CORE_PEER_TLS_ENABLED": "true",
        "CORE_PEER_TLS_ROOTCERT_FILE": str(layout.ca_cert(peer.org)),
        "CORE_PEER_ADDRESS": peer.address,
        "CORE_PEER_LOCALMSPID": peer.org.msp_id,
        "CORE_PEER_MSPCONFIGPATH": str(layout.user_dir(peer.org, user) / "msp"),
    })
    return env


def run_peer(chain: Toolchain, args: list[str], env: dict[str, str], *, what: str,
             timeout: float = 120) -> str:
    """Run ``peer ARGS``; return stdout, or raise NetworkError with the CLI's own message."""
    try:
        proc = subprocess.run([chain.bin("peer"), *args], env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise NetworkError(f"{what}: 'peer {args[0]} {args[1]}' timed out after {timeout:.0f} s")
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).strip().splitlines() if ln.strip()]
        raise NetworkError(f"{what} failed: {lines[-1] if lines else 'no output'}")
    return proc.stdout
