"""Hosts of their own for a test network: Linux network namespaces joined by veth pairs to
one bridge, made with Debian's iproute2 (``ip``) and removed again, so a test can cut a
node off the network and heal it.

Each namespace gets one address on a /24 and a veth whose other end is a port of the
bridge; the bridge holds the subnet's first address, so this machine (the test, the CAs,
the chaincode servers) reaches every namespace and every namespace reaches it, with no
forwarding or firewall rules. Cutting a node off sets its end of the veth down inside its
namespace: its packets go nowhere and nothing reaches it (the bridge port loses carrier),
while the process itself keeps running, its connections hanging until they time out.
Needs root (CAP_NET_ADMIN); ``available()`` says why not otherwise.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path


def _ip(*args: str, netns: str = "", check: bool = True) -> subprocess.CompletedProcess:
    argv = ["ip", *(("-n", netns) if netns else ()), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    return proc


def available() -> str:
    """"" when namespaces can be made here, else why not (for a skip message)."""
    if not shutil.which("ip"):
        return "iproute2's 'ip' is not installed (scripts/install installs it)"
    if os.geteuid() != 0:
        return "making network namespaces needs root (CAP_NET_ADMIN)"
    probe = f"llprobe{secrets.token_hex(3)}"
    proc = _ip("netns", "add", probe, check=False)
    if proc.returncode != 0:
        return f"'ip netns add' failed: {proc.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return ""


def namespaces() -> set[str]:
    """The network namespaces ``ip netns list`` shows (to check nothing was left over)."""
    out = _ip("netns", "list").stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def links() -> set[str]:
    out = _ip("-o", "link", "show").stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


_TAG = re.compile(r"^ll([0-9a-f]{6})[0-9a-f]{2}")


def remove_stale() -> list[str]:
    """Remove the namespaces and links a run that no longer exists left behind (killed
    before it could clean up); returns their names. A run's names carry its process id."""
    def dead(name: str) -> bool:
        m = _TAG.match(name)
        return bool(m) and not Path(f"/proc/{int(m.group(1), 16)}").exists()

    removed = []
    for ns in sorted(n for n in namespaces() if dead(n)):
        if not _ip("netns", "pids", ns, check=False).stdout.split():
            _ip("netns", "del", ns, check=False)
            removed.append(ns)
    for link in sorted(n for n in links() if dead(n)):
        _ip("link", "del", link, check=False)
        removed.append(link)
    return removed


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.213.0.0/16 that no address or route of this machine uses yet."""
    used = _ip("-4", "-o", "addr", "show").stdout + _ip("-4", "route", "show", "table",
                                                        "all").stdout
    for _ in range(64):
        net = ipaddress.IPv4Network(f"10.213.{secrets.randbelow(250) + 1}.0/24")
        if f"10.213.{net.network_address.packed[2]}." not in used:
            return net
    raise RuntimeError("no free /24 in 10.213.0.0/16")


class Hosts:
    """Namespaces for some nodes of a network, one per node, on one bridge.

    ``spec_hosts(others)`` is the spec's ``hosts`` field: each namespaced node at its own
    address in its namespace, and ``others`` (nodes that stay on this machine but must be
    reachable from the namespaces, e.g. chaincode servers) at the bridge's address."""

    def __init__(self, nodes: list[str]):
        # every name starts with the tag, which holds this process's id (so a later run can
        # tell what a killed run left behind: remove_stale) and is at most 15 characters
        # with its suffixes
        self.tag = f"ll{os.getpid():06x}{secrets.token_hex(1)}"
        self.subnet = _free_subnet()
        addresses = list(self.subnet.hosts())
        self.bridge, self.gateway = f"{self.tag}b", str(addresses[0])
        self.nodes = {name: (f"{self.tag}-{name}", str(addresses[10 + i]), f"{self.tag}v{i}")
                      for i, name in enumerate(nodes)}
        self.made: list[tuple[str, str]] = []  # ("netns" | "link", name), in making order

    # -- making and removing -----------------------------------------------------------------
    def __enter__(self) -> "Hosts":
        try:
            self.make()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def make(self) -> None:
        prefix = self.subnet.prefixlen
        _ip("link", "add", self.bridge, "type", "bridge")
        self.made.append(("link", self.bridge))
        _ip("addr", "add", f"{self.gateway}/{prefix}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for netns, address, veth in self.nodes.values():
            _ip("netns", "add", netns)
            self.made.append(("netns", netns))
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
            self.made.append(("link", veth))
            _ip("link", "set", veth, "master", self.bridge, "up")
            _ip("addr", "add", f"{address}/{prefix}", "dev", "eth0", netns=netns)
            _ip("link", "set", "lo", "up", netns=netns)
            _ip("link", "set", "eth0", "up", netns=netns)

    def remove(self) -> None:
        """Remove everything made (the veths go with their namespaces); call it only when
        no node runs in the namespaces any more."""
        for kind, name in reversed(self.made):
            if kind == "netns":
                _ip("netns", "del", name, check=False)
            else:
                _ip("link", "del", name, check=False)
        self.made.clear()

    def leftovers(self) -> list[str]:
        """Namespaces and links of these hosts that still exist (empty after ``remove``)."""
        ours = [*(n for n, _, _ in self.nodes.values())]
        return sorted(({*namespaces()} & {*ours})
                      | {n for n in links() if n.startswith(self.tag)})

    # -- the spec's view ------------------------------------------------------------------------
    def spec_hosts(self, others: list[str] = ()) -> dict:
        hosts = {name: {"address": address, "netns": netns}
                 for name, (netns, address, _) in self.nodes.items()}
        hosts.update({name: self.gateway for name in others})
        return hosts

    # -- faults --------------------------------------------------------------------------------
    def cut(self, node: str) -> None:
        """Cut ``node`` off: its end of the veth down, inside its namespace."""
        netns, _, _ = self.nodes[node]
        _ip("link", "set", "eth0", "down", netns=netns)

    def heal(self, node: str) -> None:
        """Connect ``node`` again (its subnet route comes back with the link)."""
        netns, address, _ = self.nodes[node]
        _ip("link", "set", "eth0", "up", netns=netns)
        _ip("route", "replace", str(self.subnet), "dev", "eth0", "src", address, netns=netns)

    def tcp_to(self, node: str, other: str) -> list[str]:
        """``node``'s TCP connections to ``other`` as ``ss`` sees them from inside
        ``node``'s namespace: state, peer, and the retransmission timer and back-off (the
        evidence of why a healed connection takes a while to carry data again)."""
        netns, _, _ = self.nodes[node]
        _, address, _ = self.nodes[other]
        out = subprocess.run(["ip", "netns", "exec", netns, "ss", "-tinH", "dst", address],
                             capture_output=True, text=True, timeout=30).stdout.splitlines()
        found = []
        for head, info in zip(out[::2], out[1::2]):
            keep = [w for w in info.split() if w.split(":")[0] in ("rto", "backoff", "unacked",
                                                                  "retrans", "lastsnd")]
            found.append(" ".join([*head.split()[::4][:1], head.split()[-1], *keep]))
        return found

    def is_cut(self, node: str) -> bool:
        netns, _, _ = self.nodes[node]
        flags = _ip("link", "show", "eth0", netns=netns).stdout.split("<", 1)[1].split(">")[0]
        return "UP" not in flags.split(",")
