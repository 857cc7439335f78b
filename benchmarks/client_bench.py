"""Client benchmarks: proposal build+sign rate on one core, and end-to-end submits.

    python benchmarks/client_bench.py [--total N] [--concurrency C ...]

End-to-end: a fresh default network in a temporary state directory; N ``put`` submits
(endorse by both orgs → order → commit) kept C in flight with the asyncio client. Reports
committed tx/s, p50/p95/p99 latency, and the client's CPU time as a share of one core.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import machine  # noqa: E402

from ledgerlake.client import Identity, connect_async, from_state_dir, signer_from_wallet  # noqa: E402
from ledgerlake.client import proposal as build  # noqa: E402
from ledgerlake.client.signing import new_private_key, signer_from_key  # noqa: E402
from ledgerlake.network import LocalNetwork, NetworkSpec  # noqa: E402

BASE_PORT = 26000


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


async def submit_load(state_dir: Path, total: int, concurrency: int) -> dict:
    wallet = state_dir / "wallet" / "Org1" / "producer"
    channel = from_state_dir(state_dir, "Org1").dial_async()
    gateway = connect_async(Identity.from_wallet(wallet), signer_from_wallet(wallet), channel)
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

    cpu0, t0 = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    await channel.close()
    q = statistics.quantiles(latencies, n=100)
    return {"concurrency": concurrency, "committed": len(latencies), "failed": failures,
            "tps": len(latencies) / wall, "p50": q[49], "p95": q[94], "p99": q[98],
            "client_cpu": cpu / wall}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--total", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[16, 64, 128])
    ap.add_argument("--max-message-count", type=int, default=100)
    args = ap.parse_args()
    lines = []
    rate = bench_proposals()
    lines.append(f"- proposals built + signed on one core: **{rate:,.0f}/s** (target ≥ 5,000/s)")
    with tempfile.TemporaryDirectory() as tmp:
        net = LocalNetwork(Path(tmp) / "state", spec=NetworkSpec(
            base_port=BASE_PORT, max_message_count=args.max_message_count,
            selftest=True))
        try:
            net.up()
            lines.append(f"- end-to-end `put` submits, {args.total} per row, default network "
                         f"(BatchTimeout {net.spec.batch_timeout}, MaxMessageCount "
                         f"{net.spec.max_message_count}), asyncio client:\n")
            lines.append("  | in flight | committed tx/s | p50 | p95 | p99 | failed | client CPU (share of one core) |")
            lines.append("  |---|---|---|---|---|---|---|")
            for c in args.concurrency:
                r = asyncio.run(submit_load(net.state_dir, args.total, c))
                lines.append(f"  | {c} | **{r['tps']:.0f}** | {r['p50'] * 1000:.0f} ms | "
                             f"{r['p95'] * 1000:.0f} ms | {r['p99'] * 1000:.0f} ms | "
                             f"{r['failed']} | {r['client_cpu'] * 100:.0f}% |")
                print(lines[-1], flush=True)
        finally:
            net.down()
    machine.append("Gateway client (issue 3)", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
