"""The application channel: genesis block, orderer joins (channel participation API over
mutual TLS), peer joins, and the heights and leader the nodes report."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from ledgerlake.errors import NetworkError
from ledgerlake.network import configtx
from ledgerlake.network.layout import ORDERER_ORG, Layout, Node
from ledgerlake.network.peercli import peer_env, run_peer
from ledgerlake.network.spec import OrgSpec
from ledgerlake.network.toolchain import Toolchain


def create_genesis_block(layout: Layout, chain: Toolchain) -> Path:
    """configtxgen the channel's genesis block (once; kept in the state directory)."""
    block = layout.channel_block
    if block.exists():
        return block
    block.parent.mkdir(parents=True, exist_ok=True)
    config_path = configtx.write(layout)
    proc = subprocess.run(
        [chain.bin("configtxgen"), "-profile", configtx.PROFILE, "-channelID",
         layout.spec.channel, "-outputBlock", str(block), "-configPath", str(config_path)],
        capture_output=True, text=True)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        raise NetworkError(f"configtxgen failed: {lines[-1] if lines else proc.returncode}")
    return block


# -- HTTPS to the nodes' admin and operations endpoints ------------------------------------
def tls_context(root: Path, client: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(root))
    if client:
        ctx.load_cert_chain(str(client[0]), str(client[1]))
    return ctx


def https(url: str, ctx: ssl.SSLContext, *, data: bytes | None = None,
          headers: dict | None = None, method: str | None = None,
          timeout: float = 5.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def admin_tls_context(layout: Layout, org: OrgSpec) -> ssl.SSLContext:
    """TLS as the organisation's admin: needed by the orderer admin API and /metrics."""
    tls = layout.user_dir(org, "admin") / "tls"
    return tls_context(layout.ca_cert(org), (tls / "client.crt", tls / "client.key"))


def _orderer_admin_ctx(layout: Layout) -> ssl.SSLContext:
    return admin_tls_context(layout, ORDERER_ORG)


def orderer_channel_info(layout: Layout, orderer: Node) -> dict | None:
    """The orderer's view of the channel (status, consensus relation, height) or None."""
    url = f"https://{orderer.at('admin')}/participation/v1/channels/{layout.spec.channel}"
    status, body = https(url, _orderer_admin_ctx(layout))
    if status == 404:
        return None
    if status != 200:
        raise NetworkError(f"{orderer.name} admin API answered {status}: {body[:200]!r}")
    return json.loads(body)


def join_orderer(layout: Layout, orderer: Node, timeout: float = 15.0) -> None:
    """POST the genesis block to the orderer's channel participation API (idempotent).

    The admin listener may open a moment after the operations endpoint reports healthy,
    so a refused connection is retried for ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            joined = orderer_channel_info(layout, orderer) is not None
            break
        except OSError as exc:
            if time.monotonic() > deadline:
                raise NetworkError(f"{orderer.name}'s admin API at port "
                                   f"{orderer.ports['admin']} is unreachable: {exc}") from None
            time.sleep(0.1)
    if joined:
        return
    boundary = uuid.uuid4().hex
    block = layout.channel_block.read_bytes()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"config-block\"; "
            f"filename=\"{layout.spec.channel}.block\"\r\nContent-Type: "
            f"application/octet-stream\r\n\r\n").encode() + block + f"\r\n--{boundary}--\r\n".encode()
    url = f"https://{orderer.at('admin')}/participation/v1/channels"
    status, reply = https(url, _orderer_admin_ctx(layout), data=body, method="POST",
                          headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    if status != 201:
        raise NetworkError(f"{orderer.name} refused to join channel {layout.spec.channel}: "
                           f"HTTP {status} {reply[:300].decode(errors='replace')}")


def join_peer(layout: Layout, chain: Toolchain, peer: Node) -> None:
    """``peer channel join`` as the organisation's admin, unless already joined."""
    env = peer_env(layout, chain, peer)
    listed = run_peer(chain, ["channel", "list"], env, what=f"listing {peer.name}'s channels")
    if re.search(rf"^{re.escape(layout.spec.channel)}$", listed, re.M):
        return
    run_peer(chain, ["channel", "join", "-b", str(layout.channel_block)], env,
             what=f"joining {peer.name} to {layout.spec.channel}")


# -- metrics ------------------------------------------------------------------------------
def metrics(layout: Layout, node: Node) -> dict[str, float]:
    """The node's Prometheus metrics as ``{"name{labels}": value}`` ({} if unreachable)."""
    url = f"https://{node.at('ops')}/metrics"
    try:
        status, body = https(url, admin_tls_context(layout, node.org), timeout=2.0)
    except (OSError, ssl.SSLError):
        return {}
    if status != 200:
        return {}
    found = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                found[name] = float(value)
            except ValueError:
                pass
    return found


def peer_height(layout: Layout, node: Node) -> int | None:
    value = metrics(layout, node).get(f'ledger_blockchain_height{{channel="{layout.spec.channel}"}}')
    return int(value) if value is not None else None


def _leads(layout: Layout, found: dict[str, float]) -> bool:
    ch = layout.spec.channel
    names = (f'consensus_etcdraft_is_leader{{channel="{ch}"}}',
             f'consensus_BFT_is_leader{{channel="{ch}"}}')
    return any(found.get(n) == 1 for n in names)


def node_view(layout: Layout, node: Node) -> tuple[int | None, bool | None]:
    """A peer's or orderer's channel height and, for an orderer, whether it says it leads
    the channel ((None, None) when its metrics do not answer)."""
    found = metrics(layout, node)
    if not found:
        return None, None
    value = found.get(f'ledger_blockchain_height{{channel="{layout.spec.channel}"}}')
    height = int(value) if value is not None else None
    return height, (_leads(layout, found) if node.kind == "orderer" else None)


def has_leader(layout: Layout) -> bool:
    """True when some orderer reports itself leader of the channel."""
    ch = layout.spec.channel
    for orderer in layout.orderers:
        m = metrics(layout, orderer)
        if _leads(layout, m):
            return True
        if m.get(f'consensus_BFT_leader_id{{channel="{ch}"}}', 0) > 0:
            return True
    return False
