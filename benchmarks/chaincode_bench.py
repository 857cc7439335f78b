"""Chaincode benchmarks: runtime overhead per invocation, endorsement latency of
SubmitBatch for 1/100/1,000 records, and committed batches per second with concurrent
producers on separate sources.

    python benchmarks/chaincode_bench.py [--batches N]

Results are appended to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import machine  # noqa: E402

from fabric_protos.peer import chaincode_pb2, proposal_pb2  # noqa: E402
from fabric_protos.peer import chaincode_shim_pb2 as shim  # noqa: E402

from ledgerlake.chaincode.runtime import _Session  # noqa: E402
from ledgerlake.client import Identity, connect, connect_async, from_state_dir, signer_from_wallet  # noqa: E402
from ledgerlake.client import encryption  # noqa: E402
from ledgerlake.client import proposal as build  # noqa: E402
from ledgerlake.client.batches import seal_batch, submit_batch  # noqa: E402
from ledgerlake.network import LocalNetwork, NetworkSpec  # noqa: E402

BASE_PORT = machine.base_port(26000)
SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "value", "type": "float", "min": -1e6, "max": 1e6},
    {"name": "ts", "type": "timestamp"}]}


def runtime_overhead(n: int = 20000) -> float:
    """µs the runtime spends per invocation of a no-op function (parse, dispatch, reply)."""
    async def noop(stub, *args):
        return b"ok"

    _, proposal_bytes = build.build_proposal(b"creator", "ch", "cc", "noop", ["a", "b"])
    messages = [shim.ChaincodeMessage(
        type=shim.ChaincodeMessage.TRANSACTION, txid=f"tx{i}", channel_id="ch",
        payload=chaincode_pb2.ChaincodeInput(args=[b"noop", b"a", b"b"]).SerializeToString(),
        proposal=proposal_pb2.SignedProposal(proposal_bytes=proposal_bytes, signature=b"s"))
        for i in range(n)]

    async def main() -> float:
        session = _Session("cc", {"noop": noop})
        t0 = time.perf_counter()
        for msg in messages:
            session.on_message(msg)
        while session.outbox.qsize() < n:
            await asyncio.sleep(0)
        return (time.perf_counter() - t0) / n * 1e6

    return asyncio.run(main())


def rows(n: int) -> list[dict]:
    return [{"sensor": f"s{i % 10}", "value": i * 0.5, "ts": i} for i in range(n)]


def setup_stream(net, stream: str) -> bytes:
    wallet = net.layout.wallet_dir(net.layout.org("Org1"), "admin")
    with from_state_dir(net.state_dir, "Org1").dial() as ch:
        contract = connect(Identity.from_wallet(wallet), signer_from_wallet(wallet), ch) \
            .get_network("ledgerlake").get_contract("ledgerlake")
        key = encryption.new_data_key()
        contract.submit("CreateStream", [json.dumps({
            "id": stream, "schema": SCHEMA, "writers": {"msp_ids": ["Org1MSP", "Org2MSP"]},
            "readers": ["Org1MSP", "Org2MSP"],
            "wrapped_keys": {"Org1MSP": "QQ==", "Org2MSP": "QQ=="}})])
    return key


def endorse_latency(net, stream: str, key: bytes, size: int, runs: int) -> tuple[float, float]:
    wallet = net.layout.wallet_dir(net.layout.org("Org1"), "producer")
    with from_state_dir(net.state_dir, "Org1").dial() as ch:
        contract = connect(Identity.from_wallet(wallet), signer_from_wallet(wallet), ch) \
            .get_network("ledgerlake").get_contract("ledgerlake")
        times, times_plain = [], []
        for i in range(runs):
            sealed = seal_batch(stream=stream, source=f"lat-{size}-{i}", seq=1, prev_hash="",
                                schema=SCHEMA, rows=rows(size), data_key=key, key_epoch=1)
            body = list(sealed.args)  # the header and the ciphertext
            t0 = time.perf_counter()
            contract.new_proposal("SubmitBatch", body).endorse()
            times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            contract.new_proposal("SubmitBatch", body, transient=sealed.transient,
                                  endorsing_organizations=["Org1MSP", "Org2MSP"]).endorse()
            times_plain.append(time.perf_counter() - t0)
    return statistics.median(times), statistics.median(times_plain)


def throughput(net, stream: str, key: bytes, producers: int, batches: int,
               size: int) -> float:
    async def produce(idx: int) -> None:
        org = "Org1" if idx % 2 == 0 else "Org2"
        wallet = net.layout.wallet_dir(net.layout.org(org), "producer")
        channel = from_state_dir(net.state_dir, org).dial_async()
        contract = connect_async(Identity.from_wallet(wallet), signer_from_wallet(wallet),
                                 channel).get_network("ledgerlake").get_contract("ledgerlake")
        prev = ""
        for seq in range(1, batches + 1):
            sealed = seal_batch(stream=stream, source=f"tp-{producers}-{idx}", seq=seq,
                                prev_hash=prev, schema=SCHEMA, rows=rows(size), data_key=key,
                                key_epoch=1)
            await submit_batch(contract, sealed)
            prev = sealed.id
        await channel.close()

    async def main() -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(produce(i) for i in range(producers)))
        return time.perf_counter() - t0

    return producers * batches / asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=30, help="batches per producer")
    ap.add_argument("--runs", type=int, default=15, help="endorsements per batch size")
    args = ap.parse_args()
    lines = [f"- runtime overhead per invocation (no-op function, in-process, no gRPC): "
             f"**{runtime_overhead():.0f} µs**"]
    with tempfile.TemporaryDirectory() as tmp:
        net = LocalNetwork(Path(tmp) / "state", spec=NetworkSpec(base_port=BASE_PORT))
        try:
            net.up()
            key = setup_stream(net, "bench")
            lines.append("- SubmitBatch endorsement latency (client → gateway → both orgs' "
                         "peers → chaincode → back), median:\n")
            lines.append("  | records per batch | ciphertext only | + plaintext check (transient) |")
            lines.append("  |---|---|---|")
            for size in (1, 100, 1000):
                plain, checked = endorse_latency(net, "bench", key, size, args.runs)
                lines.append(f"  | {size} | {plain * 1000:.1f} ms | {checked * 1000:.1f} ms |")
                print(lines[-1], flush=True)
            lines.append("\n- committed batches per second (100 records each, producers on "
                         f"separate sources, {args.batches} batches each, both orgs endorse):\n")
            lines.append("  | producers | batches/s | records/s |")
            lines.append("  |---|---|---|")
            for producers in (1, 4, 8):
                rate = throughput(net, "bench", key, producers, args.batches, 100)
                lines.append(f"  | {producers} | **{rate:.1f}** | {rate * 100:,.0f} |")
                print(lines[-1], flush=True)
        finally:
            net.down()
    machine.append("Chaincode (issue 4)", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
