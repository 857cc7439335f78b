"""Network benchmarks: toolchain install time, `up` → first committed transaction, memory at rest.

    python benchmarks/network_bench.py [--install] [--cold-modules] [--runs N]

--install rebuilds the Fabric tools into a temporary folder with an empty Go build cache
(the Go module cache is kept unless --cold-modules, which also empties it: a fresh machine).
Results are appended to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import machine  # noqa: E402

from ledgerlake.network import LocalNetwork, NetworkSpec  # noqa: E402

BASE_PORT = machine.base_port(26000)


def bench_install(cold_modules: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, GOCACHE=f"{tmp}/gocache", LEDGERLAKE_TOOLS_DIR=f"{tmp}/tools")
        if cold_modules:
            env["GOMODCACHE"] = f"{tmp}/gomodcache"
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-m", "ledgerlake", "install"], env=env, check=True)
        elapsed = time.monotonic() - t0
        if cold_modules:  # module cache files are read-only
            subprocess.run(["chmod", "-R", "u+w", f"{tmp}/gomodcache"], check=False)
        return elapsed


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(pids: list[int], seconds: float = 30.0) -> float:
    """CPU used by the idle network, as a share of one core."""
    before = sum(_cpu_seconds(p) for p in pids)
    time.sleep(seconds)
    return (sum(_cpu_seconds(p) for p in pids) - before) / seconds


def bench_up(runs: int) -> tuple[list[float], list[float], list[float], dict]:
    first_commit, restart, invoke = [], [], []
    memory: dict = {}
    for i in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            net = LocalNetwork(Path(tmp) / "state", spec=NetworkSpec(base_port=BASE_PORT,
                                                                            selftest=True))
            try:
                t0 = time.monotonic()
                net.up()
                t1 = time.monotonic()
                net.invoke("put", "bench", f"run {i}")
                first_commit.append(time.monotonic() - t0)
                invoke.append(time.monotonic() - t1)
                if i == 0:
                    time.sleep(15)  # let start-up work settle before reading memory
                    for row in net.status():
                        memory.setdefault(row.kind, []).append(row.rss)
                    memory["cpu_at_rest"] = idle_cpu([r.pid for r in net.status()])
                net.down()
                t0 = time.monotonic()
                net.up()
                net.query("get", "bench")
                restart.append(time.monotonic() - t0)
            finally:
                net.down()
    return first_commit, restart, invoke, memory


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--install", action="store_true")
    ap.add_argument("--cold-modules", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    lines = []
    if args.install:
        secs = bench_install(args.cold_modules)
        what = "empty Go build and module caches" if args.cold_modules else \
            "empty Go build cache, warm module cache"
        lines.append(f"- install Fabric + Fabric CA ({what}): **{secs:.0f} s**")
    fc, rs, inv, mem = bench_up(args.runs)
    lines.append(f"- `up` (tools installed, fresh state) → first committed transaction: "
                 f"median **{statistics.median(fc):.1f} s** (runs: "
                 f"{', '.join(f'{x:.1f}' for x in fc)}); target < 30 s")
    lines.append(f"- of which `peer chaincode invoke` → committed: median "
                 f"{statistics.median(inv):.2f} s")
    lines.append(f"- `up` after `down` (same ledger) → first query answered: median "
                 f"{statistics.median(rs):.1f} s")
    cpu = mem.pop("cpu_at_rest")
    total = sum(sum(v) for v in mem.values())
    parts = ", ".join(f"{k} {sum(v) / 2**20:.0f} MiB ({len(v)})" for k, v in mem.items())
    lines.append(f"- memory at rest (RSS, default topology, 15 s after first commit): "
                 f"**{total / 2**20:.0f} MiB** total — {parts}")
    lines.append(f"- CPU at rest (whole network, 30 s): {cpu * 100:.1f}% of one core")
    machine.append("Local network (issue 2)", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
