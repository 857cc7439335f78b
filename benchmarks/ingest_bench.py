"""Issue 8's ingestion benchmark: CSV files of a ten-field sensor schema, several sources,
through the real ingest pipeline (``ledgerlake.client.ingest.ingest``, what ``ledgerlake
ingest`` runs) onto the default local network.

    python benchmarks/ingest_bench.py [--records 1000000 5000000] [--sources 4]
                                      [--batch 20000] [--no-append]

For each record count: committed records/s, the ingesting process's CPU per record (read
CSV, validate, commit, encrypt, encode, submit), its peak memory (which must not grow with
the input), one peer's ledger growth per record, and how busy the machine was. Each count
runs on a fresh network; the ingest runs in a child process so its peak memory is its own.
Results are appended to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import machine  # noqa: E402

BASE_PORT = machine.base_port(26000)
STREAM = "plant-sensors"
T0 = 1_700_000_000_000_000_000
SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "value", "type": "float", "min": -1e6, "max": 1e6},
    {"name": "ts", "type": "timestamp"},
    {"name": "temperature_c", "type": "float", "unit": "C", "min": -60, "max": 200},
    {"name": "humidity", "type": "float", "unit": "%", "min": 0, "max": 100},
    {"name": "pressure_hpa", "type": "float", "unit": "hPa"},
    {"name": "battery", "type": "int", "min": 0, "max": 100},
    {"name": "site", "type": "string"},
    {"name": "ok", "type": "bool"},
    {"name": "seq_no", "type": "int"}]}


def write_csv(path: Path, source: int, n: int) -> None:
    """``n`` rows for one source, written a chunk at a time with pyarrow (never whole)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    now = time.time_ns()
    with pacsv.CSVWriter(path, pa.schema([(f["name"], {"string": pa.string(), "float":
                                                       pa.float64(), "timestamp": pa.int64(),
                                                       "int": pa.int64(), "bool": pa.bool_()}
                                           [f["type"]]) for f in SCHEMA["fields"]])) as out:
        for start in range(0, n, 100_000):
            idx = range(start, min(n, start + 100_000))
            out.write_table(pa.table({
                "sensor": [f"s{source}-{i % 50}" for i in idx],
                "value": [(i % 1000) * 0.25 for i in idx],
                # recent times, so every row lies in the stream's time window
                "ts": [now - (n - i) * 1000 for i in idx],
                "temperature_c": [20 + (i % 70) / 10 for i in idx],
                "humidity": [(i % 1000) / 10 for i in idx],
                "pressure_hpa": [1013.25 - (i % 30) for i in idx],
                "battery": [i % 101 for i in idx],
                "site": [f"site-{i % 7}" for i in idx],
                "ok": [i % 13 != 0 for i in idx],
                "seq_no": list(idx)}))


def _sampler(stop, peaks: dict) -> None:
    """Every 0.2 s: this process's RSS and its worker processes' (summed); the peaks, and
    this process's RSS by committed records (what grows with the input)."""
    import psutil

    me, start = psutil.Process(), time.monotonic()
    while not stop.wait(0.2):
        try:
            kids = me.children(recursive=True)
            main = me.memory_info().rss
            total = main + sum(k.memory_info().rss for k in kids)
        except psutil.Error:
            continue
        peaks["main"] = max(peaks.get("main", 0), main)
        peaks["total"] = max(peaks.get("total", 0), total)
        peaks["workers"] = max(peaks.get("workers", 0), len(kids))
        peaks.setdefault("trace", []).append((round(time.monotonic() - start, 1), main >> 20,
                                              total >> 20))


def child(state_dir: str, files: list[str], batch: int, workers: int | None) -> None:
    """The ingest itself, as Org1's producer; prints its figures as JSON. Client CPU is
    this process's and its worker processes' (waited for when the ingest ends); peak
    memory sums their RSS, sampled."""
    import threading

    from ledgerlake.client.encryption import load_org_key
    from ledgerlake.client.ingest import ingest, open_source
    from ledgerlake.network import LocalNetwork

    net = LocalNetwork(state_dir)
    stop, peaks, steady = threading.Event(), {}, []
    sampler = threading.Thread(target=_sampler, args=(stop, peaks), daemon=True)
    with net.contract("Org1", "producer") as api:
        sampler.start()
        t0, c0 = time.monotonic(), time.process_time()
        k0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        summary = ingest(api, [open_source(f) for f in files], stream=STREAM,
                         org_key=load_org_key(net.org_key_path("Org1")),
                         purpose="ingest benchmark", batch_size=batch, state_dir=state_dir,
                         workers=workers, progress=lambda s: steady.append(_cpu_now(s)))
        wall, cpu = time.monotonic() - t0, time.process_time() - c0
        k1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    stop.set()
    sampler.join()
    kids = (k1.ru_utime + k1.ru_stime) - (k0.ru_utime + k0.ru_stime)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
    trace = peaks.get("trace", [])
    # the steady figure: CPU per record committed between 20% and the last sample
    begin = next((x for x in steady if x[0] >= 0.2 * summary.committed), None)
    end = steady[-1] if steady else None
    steady_us = ((end[1] - begin[1]) / (end[0] - begin[0]) * 1e6
                 if begin and end and end[0] > begin[0] else 0.0)
    print(json.dumps({"committed": summary.committed, "rejected": summary.rejected,
                      "batches": summary.batches, "seconds": wall, "cpu": cpu + kids,
                      "main_cpu": cpu, "worker_cpu": kids,
                      "workers": len(summary.worker_pids), "peak_mib": peak,
                      "steady_us": steady_us,
                      "peak_total_mib": max(peaks.get("total", 0) / 2**20, peak),
                      "rss_trace": trace[:: max(1, len(trace) // 20)]}))


def _cpu_now(summary) -> tuple[int, float]:
    """(records committed, CPU seconds of this process and its live workers) now."""
    import psutil

    me = psutil.Process()
    used = sum(me.cpu_times()[:2])
    for kid in me.children(recursive=True):
        try:
            used += sum(kid.cpu_times()[:2])
        except psutil.Error:
            pass
    return summary.committed, used


def node_cpu(net) -> dict:
    """CPU seconds used so far by each kind of node (peer, orderer, chaincode, ca)."""
    used: dict = {}
    for node in net.layout.nodes:
        pid = net.pid(node)
        if pid:
            used[node.kind] = used.get(node.kind, 0.0) + machine.cpu_seconds_of(pid)
    return used


def run(count: int, sources: int, batch: int, workers: int | None) -> dict:
    from ledgerlake.client.streams import create_stream
    from ledgerlake.network import LocalNetwork, NetworkSpec

    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        state, data = Path(tmp) / "state", Path(tmp) / "data"
        data.mkdir()
        files = []
        for s in range(sources):
            path = data / f"line-{s + 1}.csv"
            write_csv(path, s, count // sources + (1 if s < count % sources else 0))
            files.append(str(path))
        net = LocalNetwork(state, NetworkSpec(base_port=BASE_PORT))
        net.up()
        try:
            with net.contract("Org1", "admin") as admin:
                create_stream(admin, STREAM, SCHEMA, readers=["Org1MSP", "Org2MSP"],
                              writers=["Org1MSP"])
            net.settle()
            peer = net.layout.peers_of(net.layout.org("Org1"))[0]
            ledger = net.layout.node_dir(peer) / "data" / "ledgersData"
            before = sum(p.stat().st_size for p in ledger.rglob("*") if p.is_file())
            busy0, t0 = machine.machine_busy_seconds(), time.monotonic()
            nodes0 = node_cpu(net)
            out = subprocess.run([sys.executable, __file__, "--child", str(state), str(batch),
                                  "auto" if workers is None else str(workers), *files],
                                 capture_output=True, text=True)
            nodes1 = node_cpu(net)
            if out.returncode != 0:
                raise SystemExit(f"the ingest failed:\n{out.stderr[-3000:]}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            busy = (machine.machine_busy_seconds() - busy0) / (time.monotonic() - t0)
            net.settle(60)
            after = sum(p.stat().st_size for p in ledger.rglob("*") if p.is_file())
        finally:
            net.down(purge=True)
    result.update(nodes={k: nodes1.get(k, 0.0) - v for k, v in nodes0.items()})
    result.update(records=count, sources=sources, batch=batch, busy=busy,
                  ledger_bytes=(after - before) / max(result["committed"], 1))
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[5:], int(sys.argv[3]),
              None if sys.argv[4] == "auto" else int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (0: in process) [default: by the machine]")
    parser.add_argument("--no-append", action="store_true")
    opts = parser.parse_args()
    lines = ["| input records | sources | batch | workers | committed | records/s | client "
             "CPU µs/record (main + workers; steady) | client peak MiB (main + workers; "
             "main) | node CPU µs/record (peers, orderers, chaincode) | ledger bytes/record "
             "| machine busy |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for count in opts.records:
        r = run(count, opts.sources, opts.batch, opts.workers)
        n = max(r["committed"], 1)
        per = {k: v / n * 1e6 for k, v in r["nodes"].items()}
        line = (f"| {count:,} | {r['sources']} | {r['batch']:,} | {r['workers']} | "
                f"{r['committed']:,} | {r['committed'] / r['seconds']:,.0f} | "
                f"{r['cpu'] / n * 1e6:.1f} ({r['main_cpu'] / n * 1e6:.1f} + "
                f"{r['worker_cpu'] / n * 1e6:.1f}; {r['steady_us']:.1f}) | "
                f"{r['peak_total_mib']:.0f} "
                f"({r['peak_mib']:.0f}) | {per.get('peer', 0):.1f}, {per.get('orderer', 0):.1f}, "
                f"{per.get('chaincode', 0):.1f} | {r['ledger_bytes']:.0f} | "
                f"{r['busy'] * 100:.0f}% |")
        print(line, flush=True)
        print("RSS MiB over time (s, main, main + workers):", r["rss_trace"], flush=True)
        lines.append(line)
    if not opts.no_append:
        machine.append("Ingest: ten-field CSV through the pipeline (issue 8)", lines + [
            "", "`benchmarks/ingest_bench.py`: the real `ingest` (as `ledgerlake ingest` runs "
            "it) in a child process, one CSV file per source, default network, a fresh "
            "network per row. Client CPU is the ingesting process's and its worker "
            "processes'; peak memory sums their RSS (sampled every 0.2 s); node CPU is "
            "each kind of node's, per committed record."])


if __name__ == "__main__":
    main()
