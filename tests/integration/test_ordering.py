"""Ordering on a live network: each transaction is ordered once (Raft), what SmartBFT blocks
hold, and a client that meets a busy Gateway without failing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import pytest
from fabric_protos.peer import transaction_pb2

from ledgerlake.client import Identity, connect_async, from_state_dir, signer_from_wallet
from ledgerlake.client.transaction import submit_flow
from ledgerlake.network import LocalNetwork, NetworkSpec
from ports import base_port

pytestmark = pytest.mark.integration
CHANNEL = CHAINCODE = "ledgerlake"


async def _loaded_run(net: LocalNetwork, total: int, in_flight: int, **options) -> dict:
    """Submit ``total`` puts, ``in_flight`` at a time; return the submitted tx ids, failures
    and every transaction of the blocks the run wrote (tx id → validation codes)."""
    wallet = net.layout.wallet_dir(net.layout.org("Org1"), "producer")
    channel = from_state_dir(net.state_dir, "Org1").dial_async()
    gateway = connect_async(Identity.from_wallet(wallet), signer_from_wallet(wallet), channel,
                            **options)
    network = gateway.get_network(CHANNEL)
    contract = network.get_contract(CHAINCODE)
    run = uuid.uuid4().hex[:8]
    submitted: list[str] = []
    failures: list[BaseException] = []
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            proposal = contract.new_proposal("put", [f"o-{run}-{i}", "v"])
            try:
                await gateway.run(submit_flow(proposal))
                submitted.append(proposal.transaction_id)
            except Exception as exc:  # noqa: BLE001  (counted and shown by the caller)
                failures.append(exc)

    first = net.height()
    try:
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(in_flight))), 150)
        last = net.height() - 1
        codes: dict[str, list[int]] = {}
        per_block: list[Counter] = []
        stream = network.block_events(start_block=first, timeout=60)
        async for block in stream:
            per_block.append(Counter(t.validation_code for t in block.transactions))
            for t in block.transactions:
                codes.setdefault(t.tx_id, []).append(t.validation_code)
            if block.number >= last:
                break
        stream.close()
    finally:
        await channel.close()
    return {"submitted": submitted, "failures": failures, "codes": codes,
            "per_block": per_block, "run": run}


def test_raft_orders_each_transaction_once_under_load(raft_network):
    run = asyncio.run(_loaded_run(raft_network, total=300, in_flight=150))
    assert run["failures"] == []
    assert len(run["submitted"]) == 300
    duplicates = [c[transaction_pb2.DUPLICATE_TXID] for c in run["per_block"]]
    assert sum(duplicates) == 0, f"DUPLICATE_TXID per block: {duplicates}"
    for tx_id in run["submitted"]:
        assert run["codes"][tx_id] == [transaction_pb2.VALID], tx_id
    assert all(len(codes) == 1 for codes in run["codes"].values())


def test_bft_blocks_hold_each_transaction_valid_exactly_once(tmp_path):
    """SmartBFT keeps V3_0: the Gateway sends each envelope to every orderer. Observed: the
    request pool drops the copies (no DUPLICATE_TXID); if a copy ever reaches a block it
    must be marked invalid and the transaction be valid exactly once."""
    net = LocalNetwork(tmp_path / "state", spec=NetworkSpec(consensus="bft", selftest=True,
                                                            base_port=base_port(22000)))
    try:
        started = time.monotonic()
        net.up()
        run = asyncio.run(_loaded_run(net, total=150, in_flight=50))
        assert time.monotonic() - started < 120
    finally:
        net.down()
    assert run["failures"] == []
    for tx_id in run["submitted"]:
        codes = run["codes"][tx_id]
        assert codes.count(transaction_pb2.VALID) == 1, (tx_id, codes)
        assert all(c in (transaction_pb2.VALID, transaction_pb2.DUPLICATE_TXID) for c in codes)
    copies = sum(len(codes) - 1 for codes in run["codes"].values())
    print(f"BFT: {len(run['per_block'])} blocks, {len(run['submitted'])} tx, "
          f"{copies} DUPLICATE_TXID copies")
    assert copies == 0


def test_more_in_flight_than_the_gateway_admits_never_fails(raft_network):
    """512 submits in flight against a Gateway that admits 500 calls: the client keeps its
    own calls below that and retries busy refusals, so nothing reaches the caller."""
    run = asyncio.run(_loaded_run(raft_network, total=1500, in_flight=512))
    assert [str(f) for f in run["failures"]] == []
    assert len(run["submitted"]) == 1500
    assert all(run["codes"][t] == [transaction_pb2.VALID] for t in run["submitted"])


def test_a_raft_network_restarts_after_a_loaded_run(tmp_path):
    """More than one Raft Ready of blocks before the first snapshot used to deadlock the
    orderers' WAL replay on restart (no leader, ever); see configtx.RAFT_SNAPSHOT_INTERVAL."""
    net = LocalNetwork(tmp_path / "state", spec=NetworkSpec(base_port=base_port(22000),
                                                            selftest=True))
    try:
        net.up()
        run = asyncio.run(_loaded_run(net, total=1500, in_flight=256))
        assert run["failures"] == []
        height = net.height()
        net.down()
        started = time.monotonic()
        assert net.up() is True
        assert time.monotonic() - started < 45
        assert net.height() == height
        assert net.query("get", f"o-{run['run']}-0") == "v"
    finally:
        net.down()


def test_commit_statuses_from_the_block_stream_are_the_ledgers(raft_network):
    """The asyncio client reads commit statuses from one filtered block stream and names the
    endorsing organisations the chaincode definition requires: every status (valid or not)
    must be the one the blocks hold, with no CommitStatus RPC once the stream is live."""

    async def main():
        wallet = raft_network.layout.wallet_dir(raft_network.layout.org("Org1"), "producer")
        channel = from_state_dir(raft_network.state_dir, "Org1").dial_async()
        gateway = connect_async(Identity.from_wallet(wallet), signer_from_wallet(wallet),
                                channel)
        calls: Counter = Counter()
        method = gateway.stubs.method

        def counting(name):
            calls[name] += 1
            return method(name)

        gateway.stubs.method = counting
        network = gateway.get_network(CHANNEL)
        contract = network.get_contract(CHAINCODE)
        run = uuid.uuid4().hex[:8]
        try:
            await contract.submit("put", [f"w-{run}", "v"])  # opens the stream
            first = raft_network.height()
            calls.clear()

            async def one(function, key):
                commit = await contract.submit_async(function, [key, "x"])
                return await commit.status()

            # concurrent appends to one key: the first committed is VALID, any endorsed before
            # it committed MVCC_READ_CONFLICT
            statuses = await asyncio.gather(
                *(one("put", f"s-{run}-{i}") for i in range(60)),
                *(one("append", f"a-{run}") for i in range(8)))
            last = max(s.block_number for s in statuses)
            ledger: dict[str, tuple[int, int]] = {}
            stream = network.block_events(start_block=first, timeout=60)
            async for block in stream:
                for t in block.transactions:
                    ledger.setdefault(t.tx_id, (t.validation_code, block.number))
                if block.number >= last:
                    break
            stream.close()
            return statuses, ledger, calls, gateway.endorser_plans
        finally:
            await channel.close()

    statuses, ledger, calls, plans = asyncio.run(main())
    assert [(s.code, s.block_number) for s in statuses] == [
        ledger[s.transaction_id] for s in statuses]
    codes = Counter(s.code_name for s in statuses[60:])
    assert codes["VALID"] >= 1 and codes["MVCC_READ_CONFLICT"] >= 1, codes
    assert codes["VALID"] + codes["MVCC_READ_CONFLICT"] == 8, codes
    assert calls["CommitStatus"] == 0, calls
    assert plans[(CHANNEL, CHAINCODE)][0] == ("Org1MSP", "Org2MSP")
