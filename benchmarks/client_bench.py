"""Client benchmarks: proposal build+sign rate on one core, and end-to-end submits.

    python benchmarks/client_bench.py [--total N] [--concurrency C ...] [--batch-timeout D]

End-to-end: a fresh default network in a temporary state directory; N ``put`` submits
(endorse by both orgs → order → commit) kept C in flight with the asyncio client. Reports
committed tx/s, p50/p95/p99 latency, the client's CPU time as a share of one core, the CPU
share of each kind of node (and of the whole machine, which other work may share), and what the
row's blocks hold: envelopes per block and how many of them are DUPLICATE_TXID copies.
Results are appended to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import machine  # noqa: E402

from fabric_protos.peer import transaction_pb2  # noqa: E402

from ledgerlake.client import Identity, connect_async, from_state_dir, signer_from_wallet  # noqa: E402
from ledgerlake.client import proposal as build  # noqa: E402
from ledgerlake.client.signing import new_private_key, signer_from_key  # noqa: E402
from ledgerlake.network import LocalNetwork, NetworkSpec, process  # noqa: E402

BASE_PORT = machine.base_port(26000)


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def bench_proposals(seconds: float = 3.0) -> float:
    sign = signer_from_key(new_private_key())
    creator = b"x" * 800  # about the size of a serialized identity with its certificate
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _, data = build.build_proposal(creator, "ledgerlake", "ledgerlake", "put", ["k", "v"])
        sign(data)
        n += 1
    return n / (time.perf_counter() - t0)


def node_cpu(net: LocalNetwork) -> Counter:
    """CPU seconds used so far per kind of node (orderer, peer, chaincode, ca)."""
    used: Counter = Counter()
    for node in net.layout.nodes:
        pid = net.pid(node)
        if pid:
            used[node.kind] += machine.cpu_seconds_of(pid)
    return used


def node_rss_mib(net: LocalNetwork) -> Counter:
    """Resident memory now (MiB) per kind of node, summed over the nodes of that kind."""
    rss: Counter = Counter()
    for node in net.layout.nodes:
        pid = net.pid(node)
        if pid:
            rss[node.kind] += process.rss_bytes(pid) / 2**20
    return rss


async def block_contents(network, first: int, last: int) -> dict:
    """Envelopes per block and DUPLICATE_TXID copies in blocks ``first..last``."""
    envelopes, duplicates, blocks, worst = 0, 0, 0, 0
    stream = network.block_events(filtered=True, start_block=first, timeout=120)
    async for block in stream:
        n = len(block.filtered_transactions)
        d = sum(1 for t in block.filtered_transactions
                if t.tx_validation_code == transaction_pb2.DUPLICATE_TXID)
        envelopes, duplicates, blocks = envelopes + n, duplicates + d, blocks + 1
        worst = max(worst, d)
        if block.number >= last:
            break
    stream.close()  # cancel the Deliver call before the event loop closes
    return {"blocks": blocks, "envelopes": envelopes, "duplicates": duplicates,
            "worst_block_duplicates": worst}


async def submit_load(net: LocalNetwork, total: int, concurrency: int, **options) -> dict:
    """``options`` go to ``connect_async`` (e.g. ``commit_events=False`` to compare)."""
    state_dir = net.state_dir
    wallet = state_dir / "wallet" / "Org1" / "producer"
    channel = from_state_dir(state_dir, "Org1").dial_async()
    gateway = connect_async(Identity.from_wallet(wallet), signer_from_wallet(wallet), channel,
                            **options)
    contract = gateway.get_network("ledgerlake").get_contract("ledgerlake")
    await contract.submit("put", ["warm-up", "x"])
    latencies: list[float] = []
    failures = 0
    counter = iter(range(total))

    async def worker() -> None:
        nonlocal failures
        for i in counter:
            t = time.perf_counter()
            try:
                await contract.submit("put", [f"k{concurrency}-{i}", "v"])
                latencies.append(time.perf_counter() - t)
            except Exception:
                failures += 1

    first = net.height()
    nodes0, busy0 = node_cpu(net), machine.machine_busy_seconds()
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    nodes = node_cpu(net) - nodes0
    rss = node_rss_mib(net)
    busy = machine.machine_busy_seconds() - busy0
    last = net.height() - 1
    contents = await block_contents(gateway.get_network("ledgerlake"), first, last)
    await channel.close()
    q = statistics.quantiles(latencies, n=100)
    shares = {kind: used / wall for kind, used in sorted(nodes.items())}
    return {"concurrency": concurrency, "committed": len(latencies), "failed": failures,
            "tps": len(latencies) / wall, "p50": q[49], "p95": q[94], "p99": q[98],
            "client_cpu": cpu / wall, "node_cpu": shares, "machine_busy": busy / wall,
            "cpu_per_tx": (sum(nodes.values()) + cpu) / max(len(latencies), 1),
            "node_rss": dict(sorted(rss.items())), **contents}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--total", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[64, 128, 256, 512])
    ap.add_argument("--max-message-count", type=int, default=NetworkSpec.max_message_count)
    ap.add_argument("--batch-timeout", default=NetworkSpec.batch_timeout)
    ap.add_argument("--title", default="Gateway client (issue 3)")
    ap.add_argument("--note", default="", help="a line saying under what load this ran")
    ap.add_argument("--no-append", action="store_true", help="print only (tuning runs)")
    ap.add_argument("--no-commit-events", action="store_true",
                    help="one CommitStatus RPC per transaction (the client before issue 7's "
                         "throughput work), to compare")
    ap.add_argument("--no-plan", action="store_true",
                    help="let the Gateway plan every endorsement (no endorsing orgs named)")
    ap.add_argument("--uvloop", action="store_true",
                    help="run the client on uvloop's event loop instead of asyncio's")
    ap.add_argument("--snapshot-interval", help="Raft SnapshotIntervalSize (e.g. '1 MB'), "
                                                 "to compare with the default")
    args = ap.parse_args()
    options = {"commit_events": not args.no_commit_events,
               "plan_endorsements": not args.no_plan}
    run = asyncio.run
    if args.uvloop:
        import uvloop
        run = uvloop.run
    if args.snapshot_interval:
        from ledgerlake.network import configtx
        configtx.RAFT_SNAPSHOT_INTERVAL = args.snapshot_interval
    lines = [f"- {args.note}"] if args.note else []
    rate = bench_proposals()
    lines.append(f"- proposals built + signed on one core: **{rate:,.0f}/s** (target ≥ 5,000/s)")
    with tempfile.TemporaryDirectory() as tmp:
        net = LocalNetwork(Path(tmp) / "state", spec=NetworkSpec(
            base_port=BASE_PORT, max_message_count=args.max_message_count,
            batch_timeout=args.batch_timeout, selftest=True))
        try:
            net.up()
            lines.append(f"- end-to-end `put` submits, {args.total} per row, default network "
                         f"(BatchTimeout {net.spec.batch_timeout}, MaxMessageCount "
                         f"{net.spec.max_message_count}), asyncio client:\n")
            lines.append("  | in flight | committed tx/s | p50 | p95 | p99 | failed | client CPU "
                         "| node CPU (share of one core) | CPU per tx (network + client) "
                         "| machine busy (of 2 cores' 200%) "
                         "| envelopes/block | DUPLICATE_TXID/block | node RSS after (MiB) |")
            lines.append("  |---|---|---|---|---|---|---|---|---|---|---|---|---|")
            for c in args.concurrency:
                r = run(submit_load(net, args.total, c, **options))
                nodes = ", ".join(f"{k} {v * 100:.0f}%" for k, v in r["node_cpu"].items())
                blocks = max(r["blocks"], 1)
                lines.append(f"  | {c} | **{r['tps']:.0f}** | {r['p50'] * 1000:.0f} ms | "
                             f"{r['p95'] * 1000:.0f} ms | {r['p99'] * 1000:.0f} ms | "
                             f"{r['failed']} | {r['client_cpu'] * 100:.0f}% | {nodes} | "
                             f"{r['cpu_per_tx'] * 1000:.1f} ms | "
                             f"{r['machine_busy'] * 100:.0f}% | "
                             f"{r['envelopes'] / blocks:.1f} | "
                             f"{r['duplicates'] / blocks:.1f} "
                             f"(max {r['worst_block_duplicates']}) | "
                             + ", ".join(f"{k} {v:.0f}" for k, v in r["node_rss"].items())
                             + " |")
                print(lines[-1], flush=True)
        finally:
            net.down()
    if not args.no_append:
        machine.append(args.title, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
