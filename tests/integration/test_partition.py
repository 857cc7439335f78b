"""Network partitions under load: orderers and peers on addresses of their own, each in its
own network namespace (tests/netns.py), one cut off and healed while the client's own
submits are in flight.

The nodes keep running while cut off (unlike the kills of test_faults.py): their
connections hang instead of being refused, and a cut-off Raft leader still believes it
leads until it misses a quorum. Afterwards, as there: every transaction whose commit
status said VALID is in the ledger of every peer exactly once, and the peers agree on
height, blocks and state digest. The figures are printed (``-s``) and recorded in
benchmarks/results.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import subprocess
import time

import pytest

import netns
from ledgerlake.network import LocalNetwork, NetworkSpec
from ledgerlake.network import channel as node_channel
from ledgerlake.network.load import LoadResult, run_load
from ports import base_port
# the ledger checks and figures are test_faults' own: one rule for every fault test
from test_faults import BASELINE, RATE, _check_ledgers, _gateway, _report

pytestmark = pytest.mark.integration

ORDERERS = ["orderer1", "orderer2", "orderer3"]
PEERS = ["peer0.org1", "peer0.org2"]
#: stay on this machine, at the bridge's address, so the namespaced peers reach them
ON_BRIDGE = ["chaincode.org1", "chaincode.org2"]
#: seconds an orderer stays cut off: longer than a Raft election (10 ticks of 500 ms, plus
#: pre-vote), than the orderers' cluster RPC timeout (7 s) and than a peer's deliver
#: keepalive (nodes.DELIVER_KEEPALIVE_*: 13 s, plus a 3 s dial if it picks the cut-off
#: orderer again), so the two others must order and every peer must receive blocks on their
#: own before the heal
ORDERER_CUT = 25.0
PEER_CUT = 8.0  # seconds a peer stays cut off
#: test_faults' open-loop load (RATE starts per second), with room for every transaction a
#: partition holds up: a cut-off node does not refuse, it leaves a call hanging until the
#: client's deadline (submit and commit status: 10 s), so with test_faults' 64 in flight
#: the load itself would stop starting transactions a second or two into the cut and the
#: stall would measure the client's deadlines rather than the network.
IN_FLIGHT = 512


@pytest.fixture(scope="module")
def partitioned(tmp_path_factory):
    why_not = netns.available()
    if why_not:
        pytest.skip(f"no network namespaces here: {why_not}")
    netns.remove_stale()
    hosts = netns.Hosts([*ORDERERS, *PEERS])
    with hosts:
        spec = NetworkSpec.from_mapping({"base_port": base_port(27300), "selftest": True,
                                         "hosts": hosts.spec_hosts(ON_BRIDGE)})
        net = LocalNetwork(tmp_path_factory.mktemp("partition") / "state", spec=spec)
        try:
            net.up()
            yield net, hosts
        finally:
            net.down()
            for name, (ns, _, _) in hosts.nodes.items():
                left = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                      text=True).stdout.split()
                assert not left, f"processes left in {name}'s namespace: {left}"
    assert hosts.leftovers() == [], "namespaces or links left over"


async def _load_with(net: LocalNetwork, fault, *, duration: float
                     ) -> tuple[LoadResult, float, dict]:
    """Run the load for ``duration`` s; BASELINE s in, run ``fault(info)`` (blocking, in a
    thread). Returns the load, when the fault began and what ``fault`` put in ``info``."""
    info: dict = {}
    async with _gateway(net) as gateway:
        contract = gateway.get_network(net.spec.channel).get_contract(net.spec.chaincode)
        load = asyncio.ensure_future(run_load(contract, in_flight=IN_FLIGHT, rate=RATE,
                                              duration=duration))
        await asyncio.sleep(BASELINE)
        began = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, fault, info)
        result = await load
    return result, began, info


def _heights(net: LocalNetwork, names: list[str]) -> dict[str, int | None]:
    return {n: node_channel.node_view(net.layout, net.layout.node(n))[0] for n in names}


def _wait(what: str, check, timeout: float) -> float:
    """Seconds until ``check()`` is true; AssertionError naming ``what`` after ``timeout``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"{what} not within {timeout:.0f} s"
        time.sleep(0.1)
    return time.monotonic() - start


def _log_since(net: LocalNetwork, node: str, offset: int) -> str:
    return net.layout.log_file(net.layout.node(node)).read_bytes()[offset:].decode(
        errors="replace")


def _plain(line: str) -> str:
    """A Fabric log line without colour codes, from its time on."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", line)
    return text[11:] if len(text) > 11 else text


def _log_size(net: LocalNetwork, node: str) -> int:
    return net.layout.log_file(net.layout.node(node)).stat().st_size


def test_nodes_run_in_their_namespaces_on_their_own_addresses(partitioned):
    net, hosts = partitioned
    profile = json.loads(net.layout.profile_file(net.layout.orgs[0]).read_text())
    assert {name: p["url"] for name, p in profile["peers"].items()} == {
        name: f"grpcs://{hosts.nodes[name][1]}:{net.layout.node(name).ports['grpc']}"
        for name in PEERS}
    for name in [*ORDERERS, *PEERS]:
        node = net.layout.node(name)
        pid = net.pid(node)
        assert pid and os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net"), \
            f"{name} runs in the test's own network namespace"
        on_loopback = dataclasses.replace(node, host="127.0.0.1", netns="")
        assert not node_channel.metrics(net.layout, on_loopback), f"{name} answers on 127.0.0.1"
        assert node_channel.metrics(net.layout, node), f"{name} does not answer at {node.host}"


def test_raft_leader_cut_off_then_healed(partitioned):
    net, hosts = partitioned
    first = net.height()
    leader = net.leader()
    assert leader, "no Raft leader before the partition"
    others = [o for o in ORDERERS if o != leader]
    sources = {p: _deliver_source(net, p) for p in PEERS}  # where peers pull blocks from
    log_at = _log_size(net, leader)

    def fault(info):
        hosts.cut(leader)
        cut = time.monotonic()
        info["new_leader_s"] = _wait(
            "a leader among the orderers still connected",
            lambda: any(node_channel.node_view(net.layout, net.layout.node(o))[1]
                        for o in others), ORDERER_CUT)
        info["new_leader"] = net.leader()
        time.sleep(max(0.0, ORDERER_CUT - (time.monotonic() - cut)))
        info["tcp"] = hosts.tcp_to("peer0.org1", leader)
        hosts.heal(leader)
        info["healed"] = time.monotonic()
        info["heal_s"] = info["healed"] - cut
        target = max(h or 0 for h in _heights(net, others).values())
        info["caught_up_s"] = _wait(f"{leader} catching up after the heal",
                                    lambda: (_heights(net, [leader])[leader] or 0) >= target,
                                    60)

    result, began, info = asyncio.run(_load_with(net, fault, duration=43.0))
    raft_lines = [_plain(line) for line in _log_since(net, leader, log_at).splitlines()
                  if any(w in line for w in ("stepped down", "became", "lost leader",
                                             "Raft leader changed"))]
    resumed = _first_commit(result, began + 1.0) - began  # after what was in flight
    print(f"\nPARTITION leader {leader} cut (peers pull blocks from {sources}): new leader "
          f"{info['new_leader']} after {info['new_leader_s']:.1f} s; commits resumed "
          f"{resumed:.1f} s after the cut; {result.rate(began + resumed, info['healed']):.1f} "
          f"tx/s from then to the heal; healed after {info['heal_s']:.1f} s, caught up "
          f"{info['caught_up_s']:.1f} s later; failed: {_error_kinds(result, began)}; "
          f"peer0.org1's connections to it before the heal: {info['tcp']}")
    print("PARTITION " + leader + " log: " + " | ".join(raft_lines[:12]))
    assert info["new_leader"] in others
    assert resumed < info["heal_s"], "the two orderers left did not order before the heal"
    figures = _report(f"Raft leader ({leader}) cut off {ORDERER_CUT:.0f} s, then healed",
                      result, began, _check_ledgers(net, result, first))
    assert figures["valid"] > 0 and figures["back_to_full_s"] is not None
    heights = _heights(net, ORDERERS)
    assert len(set(heights.values())) == 1, heights


def test_raft_follower_cut_off_then_healed(partitioned):
    """The follower cut off is one a peer pulls its blocks from (when one does): that peer
    must notice and pull from another orderer while the cut lasts."""
    net, hosts = partitioned
    first = net.height()
    leader = net.leader()
    sources = {p: _deliver_source(net, p) for p in PEERS}
    follower = next((o for o in sources.values() if o and o != leader),
                    next(o for o in ORDERERS if o != leader))
    pulling = [p for p, o in sources.items() if o == follower]

    def fault(info):
        hosts.cut(follower)
        cut = time.monotonic()
        samples = []
        while time.monotonic() - cut < ORDERER_CUT:
            samples.append((time.monotonic(), _heights(net, PEERS)))
            time.sleep(0.25)
        info["samples"] = samples
        info["tcp"] = hosts.tcp_to("peer0.org1", follower)
        hosts.heal(follower)
        info["healed"] = time.monotonic()
        target = max(h or 0 for h in _heights(net, [leader]).values())
        info["caught_up_s"] = _wait(f"{follower} catching up after the heal",
                                    lambda: (_heights(net, [follower])[follower] or 0)
                                    >= target, 60)

    result, began, info = asyncio.run(_load_with(net, fault, duration=43.0))
    blind = {p: _longest_flat(info["samples"], p) for p in PEERS}
    print(f"\nPARTITION follower {follower} cut {ORDERER_CUT:.0f} s (blocks pulled from it "
          f"by {pulling or 'no peer'}; sources {sources}): longest time without a new block "
          f"per peer {blind}; {result.rate(began + 1.0, info['healed']):.1f} tx/s while cut "
          f"off; caught up {info['caught_up_s']:.1f} s after the heal; failed: "
          f"{_error_kinds(result, began)}; peer0.org1's connections to it before the heal: "
          f"{info['tcp']}")
    assert net.leader() == leader, "a cut-off follower disturbed the leader"
    for peer in pulling:  # it moved to another orderer well before the heal
        assert blind[peer] < ORDERER_CUT - 3, f"{peer} got no block for {blind[peer]:.1f} s"
    figures = _report(f"Raft follower ({follower}) cut off {ORDERER_CUT:.0f} s, then healed",
                      result, began, _check_ledgers(net, result, first))
    assert figures["back_to_full_s"] is not None
    heights = _heights(net, ORDERERS)
    assert len(set(heights.values())) == 1, heights


def _deliver_source(net: LocalNetwork, peer: str) -> str | None:
    """The orderer ``peer`` last said it pulls blocks from (its log), if any."""
    text = net.layout.log_file(net.layout.node(peer)).read_text(errors="replace")
    found = re.findall(r"Pulling next blocks from ordering service .*?orderer-address=(\S+)",
                       text)
    by_address = {o.address: o.name for o in net.layout.orderers}
    return by_address.get(found[-1]) if found else None


def _longest_flat(samples, peer: str) -> float:
    """The longest time ``peer``'s height stayed the same in ``samples`` ((time, heights))."""
    longest, since, last = 0.0, None, None
    for t, heights in samples:
        if heights[peer] != last:
            since, last = t, heights[peer]
        longest = max(longest, t - since)
    return round(longest, 1)


def test_a_peer_cut_off_then_healed_catches_up(partitioned):
    net, hosts = partitioned
    first = net.height()
    victim = "peer0.org2"

    def fault(info):
        hosts.cut(victim)
        time.sleep(PEER_CUT)
        info["tcp"] = hosts.tcp_to("peer0.org1", victim)
        hosts.heal(victim)
        info["healed"] = time.monotonic()

    result, began, info = asyncio.run(_load_with(net, fault, duration=24.0))
    healed = info["healed"]
    errors = _error_kinds(result, began)
    waited = [o for o in result.valid if o.started < healed - 1.0 and o.endorsed
              and o.endorsed > healed]
    print(f"\nPARTITION peer {victim} cut {PEER_CUT:.0f} s: {len(result.failed)} failed "
          f"{errors}; {len(waited)} endorsements begun during the cut completed after the "
          f"heal, the first commit {_first_commit(result, healed) - healed:.1f} s after "
          f"it; peer0.org1's connections to it before the heal: {info['tcp']}")
    # Org2 must endorse every transaction: nothing commits while its only peer is cut off
    # (what was endorsed before the cut is ordered within the first second)
    assert result.rate(began + 1.5, healed) == 0, "committed while Org2 was cut off"
    assert result.rate(healed, result.ended) > 0, "no commit after the heal"
    figures = _report(f"{victim} (Org2's only peer) cut off {PEER_CUT:.0f} s, then healed",
                      result, began, _check_ledgers(net, result, first))
    assert figures["back_to_full_s"] is not None


def _first_commit(result, after: float) -> float:
    return next((t for t in result.commit_times() if t >= after), float("nan"))


def _error_kinds(result, began: float) -> dict[str, str]:
    """Each kind of error (its first 80 characters): how many failed with it and when they
    were started, accepted by the orderers (if they were) and failed, in seconds from
    ``began`` (``first..last``)."""
    kinds: dict[str, list] = {}
    for o in result.failed:
        kinds.setdefault(o.error[:80], []).append(o)

    def span(times) -> str:
        times = [t - began for t in times if t is not None]
        return f"{min(times):.1f}..{max(times):.1f}" if times else "-"

    return {kind: f"{len(group)} (started {span(o.started for o in group)}, accepted "
                  f"{span(o.accepted for o in group)}, failed "
                  f"{span(o.finished for o in group)})"
            for kind, group in kinds.items()}
