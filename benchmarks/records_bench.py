"""Records per second through the whole pipeline, and ledger bytes per record.

Several sources submit at once, each its own chain (so as many batches are in flight as
there are sources): each batch is sealed (validate, commit, encrypt, encode) with the client
library's ``seal_batch`` in a pool of sealing processes and submitted with ``submit_batch``
over an asyncio gateway, both organisations endorsing, on the default local network.

    python benchmarks/records_bench.py [--records 240000] [--batch 10000] [--sources 4]
                                       [--fields 3|10] [--sealers 1] [--no-append]

Reports committed records/s, the client's CPU per record by stage (validate, commit,
encrypt, encode), CPU per record of each kind of node, one peer's ledger directory growth
per record (block files, state and history databases, broken down) against the encrypted
payload's size, and how busy the machine was. Results are appended to
benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import machine  # noqa: E402

from ledgerlake import fastrecords, records  # noqa: E402
from ledgerlake.client import (  # noqa: E402
    Identity,
    connect,
    connect_async,
    encryption,
    from_state_dir,
    signer_from_wallet,
)
from ledgerlake.client.batches import seal_batch, submit_batch  # noqa: E402
from ledgerlake.network import LocalNetwork, NetworkSpec  # noqa: E402

BASE_PORT = machine.base_port(26000)
STREAM = "records"
T0 = 1_700_000_000_000_000_000


#: Whether the sensor id is public; --no-public clears it here and, through the environment,
#: in the sealing processes (which read it when they import this module).
PUBLIC = os.environ.get("RECORDS_BENCH_PUBLIC", "1") == "1"


def schema(fields: int) -> dict:
    """Three fields (a sensor id, public unless --no-public, a value, a time) or ten (a sensor
    schema)."""
    base = [{"name": "sensor", "type": "string", "public": PUBLIC},
            {"name": "value", "type": "float", "min": -1e6, "max": 1e6},
            {"name": "ts", "type": "timestamp"}]
    extra = [{"name": "temperature_c", "type": "float", "unit": "C", "min": -60, "max": 200},
             {"name": "humidity", "type": "float", "unit": "%", "min": 0, "max": 100},
             {"name": "pressure_hpa", "type": "float", "unit": "hPa"},
             {"name": "battery", "type": "int", "min": 0, "max": 100},
             {"name": "site", "type": "string"},
             {"name": "ok", "type": "bool"},
             {"name": "seq_no", "type": "int"}]
    return {"version": 1, "fields": base + (extra if fields == 10 else [])}


def rows(fields: int, source: int, start: int, n: int) -> list[dict]:
    out = []
    for i in range(start, start + n):
        row = {"sensor": f"s{source}-{i % 50}", "value": (i % 1000) * 0.25, "ts": T0 + i}
        if fields == 10:
            row.update(temperature_c=20 + (i % 70) / 10, humidity=(i % 1000) / 10,
                       pressure_hpa=1013.25 - (i % 30), battery=i % 101, site=f"site-{i % 7}",
                       ok=i % 13 != 0, seq_no=i)
        out.append(row)
    return out


def seal(args: tuple) -> tuple:
    """In a sealing process: the batch sealed, and the CPU seconds sealing took."""
    fields, key, source, seq, prev, start, n, options = args
    data = rows(fields, source, start, n)
    t0 = time.process_time()
    sealed = seal_batch(stream=STREAM, source=f"src-{source}", seq=seq, prev_hash=prev,
                        schema=schema(fields), rows=data, data_key=key, key_epoch=1,
                        time_start=time.time_ns(), time_end=time.time_ns(), **options)
    return sealed, time.process_time() - t0


def stages(fields: int, n: int = 10_000) -> dict:
    """µs per record of each client stage, sealing one batch in this process."""
    sch = records.Schema.from_mapping(schema(fields))
    data = rows(fields, 0, 0, n)
    key = encryption.new_data_key()
    out = {}
    t = time.process_time()
    normal = fastrecords.validate_records(sch, data)  # as seal_batch validates
    out["validate"] = time.process_time() - t
    salts = [os.urandom(16) for _ in normal]
    t = time.process_time()
    leaves, plaintext = fastrecords.seal(sch, normal, salts)
    records.merkle_root(leaves)
    out["commit (canonical JSON, SHA-256, Merkle)"] = time.process_time() - t
    t = time.process_time()
    encryption.encrypt(key, plaintext, b"ad")
    out["encrypt (AES-256-GCM)"] = time.process_time() - t
    t = time.process_time()
    sealed = seal_batch(stream=STREAM, source="x", seq=1, prev_hash="", schema=sch, rows=data,
                        data_key=key, key_epoch=1)
    total = time.process_time() - t
    out["encode (the rest of seal_batch: public fields, batch id, argument)"] = max(
        0.0, total - sum(out.values()))
    t = time.process_time()
    records.canonical(sealed.batch)
    out["encode (the rest of seal_batch: public fields, batch id, argument)"] += \
        time.process_time() - t
    out["seal_batch total"] = total
    per = {k: v / n * 1e6 for k, v in out.items()}
    per["plaintext bytes per record"] = len(plaintext) / n
    return per


def node_cpu(net: LocalNetwork) -> Counter:
    used: Counter = Counter()
    for node in net.layout.nodes:
        pid = net.pid(node)
        if pid:
            used[node.kind] += machine.cpu_seconds_of(pid)
    return used


def dir_sizes(root: Path) -> Counter:
    """Bytes on disk under each top-level folder of a peer's ledger directory."""
    sizes: Counter = Counter()
    for path in root.rglob("*"):
        if path.is_file():
            part = path.relative_to(root).parts[0]
            sizes[part] += path.stat().st_size
    return sizes


def ledger_dir(net: LocalNetwork) -> Path:
    peer = net.layout.peers_of(net.layout.org("Org1"))[0]
    return net.layout.node_dir(peer) / "data" / "ledgersData"


def setup_stream(net: LocalNetwork, fields: int) -> bytes:
    wallet = net.layout.wallet_dir(net.layout.org("Org1"), "admin")
    with from_state_dir(net.state_dir, "Org1").dial() as ch:
        contract = connect(Identity.from_wallet(wallet), signer_from_wallet(wallet), ch) \
            .get_network("ledgerlake").get_contract("ledgerlake")
        contract.submit("CreateStream", [json.dumps({
            "id": STREAM, "schema": schema(fields),
            "writers": {"msp_ids": ["Org1MSP", "Org2MSP"]},
            "readers": ["Org1MSP", "Org2MSP"],
            "wrapped_keys": {"Org1MSP": "QQ==", "Org2MSP": "QQ=="}})])
    return encryption.new_data_key()


async def load(net: LocalNetwork, key: bytes, opts) -> dict:
    options = {"encoding": opts.encoding} if opts.encoding else {}
    per_source = opts.records // opts.sources
    batches = -(-per_source // opts.batch)
    pool = concurrent.futures.ProcessPoolExecutor(opts.sealers)
    loop = asyncio.get_running_loop()
    seal_cpu, payload_bytes, committed = [0.0], [0], [0]
    gateways = []
    for org in ("Org1", "Org2"):
        wallet = net.layout.wallet_dir(net.layout.org(org), "producer")
        channel = from_state_dir(net.state_dir, org).dial_async()
        gateways.append((channel, connect_async(Identity.from_wallet(wallet),
                                                signer_from_wallet(wallet), channel)
                         .get_network("ledgerlake").get_contract("ledgerlake")))

    async def source(idx: int) -> None:
        contract = gateways[idx % 2][1]
        prev, done = "", 0
        nxt = loop.run_in_executor(pool, seal, (opts.fields, key, idx, 1, prev, 0,
                                                min(opts.batch, per_source), options))
        for seq in range(1, batches + 1):
            sealed, cpu = await nxt
            seal_cpu[0] += cpu
            n = sealed.batch["record_count"]
            done += n
            if seq < batches:  # seal the next batch while this one is submitted
                nxt = loop.run_in_executor(pool, seal, (
                    opts.fields, key, idx, seq + 1, sealed.id, done,
                    min(opts.batch, per_source - done), options))
            payload_bytes[0] += _payload_size(sealed)
            await submit_batch(contract, sealed)
            committed[0] += n

    # warm the pool up (imports) before the clock starts
    await loop.run_in_executor(pool, seal, (opts.fields, key, 999, 1, "", 0, 10, options))
    size0, nodes0 = dir_sizes(ledger_dir(net)), node_cpu(net)
    busy0, client0, t0 = machine.machine_busy_seconds(), time.process_time(), time.perf_counter()
    await asyncio.gather(*(source(i) for i in range(opts.sources)))
    wall = time.perf_counter() - t0
    client = time.process_time() - client0
    busy = machine.machine_busy_seconds() - busy0
    nodes = node_cpu(net) - nodes0
    await asyncio.sleep(3)  # let LevelDB settle its log before measuring the directory
    grown = dir_sizes(ledger_dir(net))
    grown.subtract(size0)
    for channel, _ in gateways:
        await channel.close()
    pool.shutdown()
    return {"records": committed[0], "wall": wall, "seal_cpu": seal_cpu[0],
            "submit_cpu": client, "nodes": nodes, "busy": busy, "grown": grown,
            "payload": payload_bytes[0]}


def _payload_size(sealed) -> int:
    """Bytes of the encrypted payload (ciphertext with its tag), however the batch carries it."""
    ciphertext = getattr(sealed, "ciphertext", None)
    if ciphertext is not None:
        return len(ciphertext)
    return len(encryption.b64decode(sealed.batch["payload"]["ciphertext"], "ciphertext"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=240_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--sources", type=int, default=4)
    ap.add_argument("--fields", type=int, choices=(3, 10), default=3)
    ap.add_argument("--sealers", type=int, default=1, help="sealing processes")
    ap.add_argument("--encoding", default="", help="payload encoding (default: seal_batch's)")
    ap.add_argument("--no-public", action="store_true", help="no public field in the schema")
    ap.add_argument("--label", default="", help="what this run measures (e.g. 'before')")
    ap.add_argument("--no-append", action="store_true")
    opts = ap.parse_args()
    if opts.no_public:
        global PUBLIC
        PUBLIC = False
        os.environ["RECORDS_BENCH_PUBLIC"] = "0"  # the sealing processes start after this
    lines = [f"- {opts.label}" if opts.label else "- run",
             f"- load average before the run (1/5/15 min): "
             f"{'/'.join(f'{x:.1f}' for x in os.getloadavg())} (other sessions' work)"]
    per = stages(opts.fields)
    lines.append(f"- client stages, one 10,000-record batch of the {opts.fields}-field schema "
                 f"in one process (µs per record):\n")
    lines += ["  | stage | µs/record |", "  |---|---|"]
    lines += [f"  | {k} | {v:.2f} |" for k, v in per.items() if "bytes" not in k]
    lines.append(f"\n- plaintext per record (record + salt, canonical JSON): "
                 f"{per['plaintext bytes per record']:.1f} bytes")
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        net = LocalNetwork(Path(tmp) / "state", spec=NetworkSpec(base_port=BASE_PORT))
        try:
            net.up()
            key = setup_stream(net, opts.fields)
            r = asyncio.run(load(net, key, opts))
        finally:
            net.down()
    n = r["records"]
    grown = {k: v for k, v in r["grown"].items() if v}
    total = sum(grown.values())
    nodes = ", ".join(f"{k} {v / n * 1e6:.1f}" for k, v in sorted(r["nodes"].items()))
    lines += [
        f"- {n:,} records of the {opts.fields}-field schema "
        f"({'one public field' if PUBLIC else 'no public field'}) "
        f"in {opts.batch:,}-record batches, "
        f"{opts.sources} sources at once (one batch in flight each), {opts.sealers} sealing "
        f"process(es), payload encoding {opts.encoding or 'default'}, default network (Raft, "
        f"both orgs endorse)",
        f"- committed: **{n / r['wall']:,.0f} records/s** ({r['wall']:.1f} s)",
        f"- client CPU per record: seal_batch {r['seal_cpu'] / n * 1e6:.1f} µs, submitting "
        f"(gateway client, protobuf, signing) {r['submit_cpu'] / n * 1e6:.1f} µs",
        f"- node CPU per record (µs): {nodes}",
        f"- machine busy: {r['busy'] / r['wall'] * 100:.0f}% of 200% (the machine was shared "
        f"with other sessions' work)",
        f"- one peer's ledger directory grew **{total / n:.0f} bytes per record** "
        f"(" + ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(grown.items())) + "); "
        f"encrypted payload {r['payload'] / n:.1f} bytes per record: "
        f"**{total / r['payload']:.2f}×**",
    ]
    print("\n".join(lines[-6:]), flush=True)
    if not opts.no_append:
        machine.append(f"Records through the pipeline (issue 8, {opts.fields} fields)", lines)


if __name__ == "__main__":
    main()
