"""Soak: a steady load for a long time; throughput, p99 latency and errors per minute, and the
memory of every node at the start and the end (growth per hour).

    python benchmarks/soak_bench.py [--minutes 20] [--rate TX_S] [--in-flight 64]

Without --rate it first measures the peak (20 s at 256 in flight) and soaks at half of it.
Loopback only, on its own network (base port 26450 + LEDGERLAKE_TEST_PORT_SHIFT);
the result is appended to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import machine  # noqa: E402

from ledgerlake.client import (Identity, connect_async, from_state_dir,  # noqa: E402
                               signer_from_wallet)
from ledgerlake.network import LocalNetwork, NetworkSpec, process  # noqa: E402
from ledgerlake.network.load import LoadResult, run_load  # noqa: E402

BASE_PORT = machine.base_port(26450)


async def _load(net: LocalNetwork, **options) -> LoadResult:
    wallet = net.layout.wallet_dir(net.layout.org("Org1"), "producer")
    channel = from_state_dir(net.state_dir, "Org1").dial_async()
    try:
        gateway = connect_async(Identity.from_wallet(wallet), signer_from_wallet(wallet),
                                channel)
        contract = gateway.get_network(net.spec.channel).get_contract(net.spec.chaincode)
        return await run_load(contract, **options)
    finally:
        await channel.close()


def _memory(net: LocalNetwork) -> dict[str, int]:
    return {n.name: process.rss_bytes(net.pid(n) or 0) for n in net.layout.nodes}


def _p99(values: list[float]) -> float:
    return values[min(len(values) - 1, int(0.99 * len(values)))] if values else float("nan")


def soak(minutes: float, rate: float | None, in_flight: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        net = LocalNetwork(Path(tmp) / "state", spec=NetworkSpec(base_port=BASE_PORT,
                                                                 selftest=True))
        try:
            net.up()
            peak = None
            if rate is None:
                probe = asyncio.run(_load(net, in_flight=256, duration=20.0))
                peak = probe.rate(probe.started + 5.0, probe.ended)
                rate = peak / 2
                print(f"peak {peak:.0f} tx/s; soaking at {rate:.0f} tx/s", flush=True)
            busy0, wall0 = machine.machine_busy_seconds(), time.monotonic()
            samples = [(0.0, _memory(net))]  # (minutes in, RSS per node), every 30 s
            done = threading.Event()

            def sample() -> None:
                while not done.wait(30.0):
                    samples.append(((time.monotonic() - wall0) / 60, _memory(net)))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            try:
                result = asyncio.run(_load(net, in_flight=in_flight, rate=rate,
                                           duration=minutes * 60))
            finally:
                done.set()
                sampler.join()
            samples.append(((time.monotonic() - wall0) / 60, _memory(net)))
            machine_load = (machine.machine_busy_seconds() - busy0) / (time.monotonic() - wall0)
        finally:
            net.down()
    hours = (result.ended - result.started) / 3600
    lines = [f"- soak: **{minutes:g} min** at a target of {rate:.0f} tx/s"
             + (f" (half the measured peak of {peak:.0f} tx/s)" if peak else "")
             + f", {in_flight} in flight, default Raft network; the whole machine was busy "
               f"{machine_load:.2f} cores on average (other work included)",
             f"- {len(result.valid)} VALID, {len(result.failed)} failed "
             f"({len(result.accepted_not_committed)} accepted without a commit status)", "",
             "  | minute | committed tx/s | p50 | p99 | errors |", "  |---|---|---|---|---|"]
    minute = 0
    while result.started + 60 * (minute + 1) <= result.ended:  # whole minutes only
        start = result.started + 60 * minute
        end = start + 60
        lat = result.latencies(start, end)
        errors = sum(1 for o in result.failed if o.finished and start <= o.finished < end)
        lines.append(f"  | {minute + 1} | {result.rate(start, end):.0f} | "
                     f"{statistics.median(lat) * 1000 if lat else float('nan'):.0f} ms | "
                     f"{_p99(lat) * 1000:.0f} ms | {errors} |")
        minute += 1
    # RSS at the start, each quarter and the end; growth per hour over the whole run and
    # over its second half (warm-up levels off; a leak keeps its slope)
    marks = [min(samples, key=lambda s: abs(s[0] - q * samples[-1][0]))
             for q in (0, 0.25, 0.5, 0.75, 1)]
    lines += ["", "  | node | RSS at " + " / ".join(f"{m:.0f}" for m, _ in marks)
              + " min | growth per hour: whole run | second half |", "  |---|---|---|---|"]
    for name in samples[0][1]:
        mib = [m[1][name] / 2**20 for m in marks]
        whole = (mib[-1] - mib[0]) / hours if hours else 0.0
        half = (mib[-1] - mib[2]) / ((marks[-1][0] - marks[2][0]) / 60) \
            if marks[-1][0] > marks[2][0] else 0.0
        lines.append(f"  | {name} | " + " / ".join(f"{v:.0f}" for v in mib)
                     + f" MiB | {whole:+.0f} MiB/h | {half:+.0f} MiB/h |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--rate", type=float, help="transactions started per second")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--no-record", action="store_true",
                        help="print the result instead of appending it to results.md")
    args = parser.parse_args()
    lines = soak(args.minutes, args.rate, args.in_flight)
    print("\n".join(lines))
    if not args.no_record:
        machine.append("Soak (issue 10)", lines)


if __name__ == "__main__":
    main()
