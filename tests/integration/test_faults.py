"""Faults under load on real networks: orderers, peers and chaincode servers killed (SIGKILL)
while the client's own submits are in flight, then brought back with ``up``.

After each fault: every transaction whose commit status said VALID is in the ledger of
every peer, exactly once; the peers agree on height, on every block and on a digest of
their world state. The figures (acknowledged lost, longest stall, time back to full
throughput) are printed (``-s``) and recorded in benchmarks/results.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import asynccontextmanager

import pytest
from fabric_protos.peer import transaction_pb2

from ledgerlake.client import Identity, connect_async, from_state_dir, signer_from_wallet
from ledgerlake.client.qscc import (block_by_number_flow, chain_info_flow,
                                    transaction_by_id_flow)
from ledgerlake.errors import EndorseError
from ledgerlake.network import LocalNetwork, NetworkSpec
from ledgerlake.network.spec import OrgSpec
from ledgerlake.network.load import LoadResult, run_load
from ports import base_port

pytestmark = pytest.mark.integration
#: An open-loop load: RATE transactions started per second by up to IN_FLIGHT workers, so
#: the few whose commit status never comes (lost with a killed leader) do not slow it.
IN_FLIGHT = 64
RATE = 40.0
BASELINE = 3.0  # seconds of load before the fault


@pytest.fixture(scope="module")
def raft(tmp_path_factory):
    # Org1 has a second peer, so a client whose Gateway peer dies can resume on another
    net = LocalNetwork(tmp_path_factory.mktemp("faults") / "state",
                       spec=NetworkSpec(base_port=base_port(24850), selftest=True,
                                        orgs=(OrgSpec("Org1", peers=2), OrgSpec("Org2"))))
    try:
        net.up()
        yield net
    finally:
        net.down()


@asynccontextmanager
async def _gateway(net: LocalNetwork, org: str = "Org1", peer: int = 0):
    wallet = net.layout.wallet_dir(net.layout.org(org), "producer")
    channel = from_state_dir(net.state_dir, org, peer).dial_async()
    try:
        # a transaction a killed leader had not replicated never commits: its status is
        # given up on after 10 s (the default 60 s would only lengthen the test)
        yield connect_async(Identity.from_wallet(wallet), signer_from_wallet(wallet), channel,
                            timeouts={"commit_status": 10.0})
    finally:
        await channel.close()


def _kill(net: LocalNetwork, name: str) -> None:
    node = net.layout.node(name)
    pid = net.pid(node)
    assert pid, f"{name} is not running"
    os.kill(pid, signal.SIGKILL)
    while net.pid(node):
        time.sleep(0.02)


async def _load_with(net: LocalNetwork, fault, *, after: float = BASELINE,
                     duration: float = 14.0) -> tuple[LoadResult, float, dict]:
    """Run the load for ``duration`` s; ``after`` s in, run ``fault(info)`` (blocking, in a
    thread). Returns the load, when the fault began and what ``fault`` put in ``info``."""
    info: dict = {}
    async with _gateway(net) as gateway:
        contract = gateway.get_network(net.spec.channel).get_contract(net.spec.chaincode)
        load = asyncio.ensure_future(run_load(contract, in_flight=IN_FLIGHT, rate=RATE,
                                              duration=duration))
        await asyncio.sleep(after)
        began = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, fault, info)
        result = await load
    return result, began, info


async def _ledger_view(net: LocalNetwork, org: str, peer: int, first: int) -> dict:
    """One peer's view (through its own Gateway): height, blocks ``first``.. (hash and
    each transaction's id and validation code) and its state digest."""
    async with _gateway(net, org, peer) as gateway:
        network = gateway.get_network(net.spec.channel)
        height = (await gateway.run(chain_info_flow(network))).height
        blocks = []
        for number in range(first, height):
            block = await gateway.run(block_by_number_flow(network, number))
            blocks.append((block.hash,
                           [(t.tx_id, t.validation_code) for t in block.transactions]))
        digest = json.loads(await network.get_contract(net.spec.chaincode)
                            .evaluate("state_digest"))
    return {"height": height, "blocks": blocks, "digest": digest}


def _check_ledgers(net: LocalNetwork, result: LoadResult, first: int) -> dict:
    """Every peer holds every VALID transaction exactly once, and the peers agree."""
    net.settle(timeout=60)
    views = {f"peer{i}.{org.domain}": asyncio.run(_ledger_view(net, org.name, i, first))
             for org in net.layout.orgs for i in range(org.peers)}
    one = next(iter(views.values()))
    for org, view in views.items():
        assert view["height"] == one["height"], {o: v["height"] for o, v in views.items()}
        assert view["blocks"] == one["blocks"], f"{org}'s blocks differ"
        assert view["digest"] == one["digest"], {o: v["digest"] for o, v in views.items()}
    valid_in_ledger: dict[str, int] = {}
    for _, txs in one["blocks"]:
        for tx_id, code in txs:
            if code == transaction_pb2.VALID:
                valid_in_ledger[tx_id] = valid_in_ledger.get(tx_id, 0) + 1
    twice = [t for t, n in valid_in_ledger.items() if n > 1]
    assert twice == [], f"committed twice: {twice[:5]}"
    lost = [o.tx_id for o in result.valid if o.tx_id not in valid_in_ledger]
    assert lost == [], f"{len(lost)} acknowledged (VALID) transactions are not in the ledger"
    return {"height": one["height"], "keys": one["digest"]["keys"], "valid": valid_in_ledger}


def _report(fault: str, result: LoadResult, began: float, ledger: dict) -> dict:
    baseline = result.rate(result.started + 0.5, began)
    back = result.back_to_full(began, baseline)
    figures = {
        "fault": fault, "submitted": len(result.outcomes), "valid": len(result.valid),
        "failed": len(result.failed), "acknowledged_lost": 0,
        "accepted_then_no_status": len(result.accepted_not_committed),
        "of_which_committed": sum(1 for o in result.accepted_not_committed
                                  if o.tx_id in ledger["valid"]),
        "baseline_tx_s": round(baseline, 1),
        "longest_stall_s": round(result.longest_stall(after=began), 2),
        "back_to_full_s": None if back is None else round(back, 2),
        "height": ledger["height"],
    }
    print(f"\nFAULT FIGURES {json.dumps(figures)}")
    return figures


def _errors(result: LoadResult) -> list[str]:
    return [o.error for o in result.failed]


def test_raft_leader_killed_mid_load_then_restarted(raft):
    first = raft.height()
    leader = raft.leader()
    assert leader, "no Raft leader before the fault"

    def fault(info):
        _kill(raft, leader)
        time.sleep(2.0)
        info["status"] = {r.name: r.down for r in raft.status() if not r.pid}
        raft.up()

    result, began, info = asyncio.run(_load_with(raft, fault))
    assert list(info["status"]) == [leader]  # status: only the leader was down, and why
    assert info["status"][leader].startswith("killed by SIGKILL at ")
    assert raft.leader() is not None
    figures = _report(f"Raft leader ({leader}) killed, up after 2 s", result, began,
                      _check_ledgers(raft, result, first))
    assert figures["valid"] > 0 and result.rate(began + 8, result.ended) > 0
    assert figures["back_to_full_s"] is not None


def test_raft_follower_killed_then_restarted(raft):
    first = raft.height()
    leader = raft.leader()
    follower = next(o.name for o in raft.layout.orderers if o.name != leader)

    def fault(info):
        _kill(raft, follower)
        time.sleep(2.0)
        raft.up()

    result, began, _ = asyncio.run(_load_with(raft, fault, duration=10.0))
    figures = _report(f"Raft follower ({follower}) killed, up after 2 s", result, began,
                      _check_ledgers(raft, result, first))
    assert figures["back_to_full_s"] is not None


def test_raft_two_of_three_killed_refuses_then_recovers_with_one_back(raft):
    first = raft.height()
    # the leader and a follower: the remaining follower has no leader and refuses (a
    # leader left alone would accept for one election timeout and commit nothing)
    b = raft.leader()
    a = next(o.name for o in raft.layout.orderers if o.name != b)

    def fault(info):
        _kill(raft, a)
        _kill(raft, b)
        time.sleep(3.0)
        info["refused_until"] = time.monotonic()
        raft.start_node(a)  # one back: two of three, a quorum again
        info["one_back"] = time.monotonic()

    result, began, info = asyncio.run(_load_with(raft, fault, duration=24.0))
    # the transactions in flight at the kill were accepted and then lost with the leader:
    # their commit status times out; later submits are refused, naming the orderers
    refused = [o for o in result.failed if o.error.startswith("SubmitError")]
    seen = [(round(o.finished - began, 1), o.error[:200]) for o in result.failed]
    assert refused, f"no submit was refused while two of three orderers were down: {seen}"
    assert all("no orderers could successfully process" in o.error or "no Raft leader"
               in o.error or "SERVICE_UNAVAILABLE" in o.error for o in refused), seen[:8]
    assert result.rate(began + 1.0, info["one_back"]) == 0, "committed without a quorum"
    assert result.rate(info["one_back"], result.ended) > 0, "no commit after one came back"
    raft.up()
    figures = _report(f"Raft leader {b} and follower {a} killed, {a} back after 3 s",
                      result, began, _check_ledgers(raft, result, first))
    assert figures["valid"] > 0


def test_a_peer_killed_mid_load_catches_up(raft):
    first = raft.height()

    def fault(info):
        _kill(raft, "peer0.org2")
        time.sleep(2.0)
        raft.up()

    result, began, _ = asyncio.run(_load_with(raft, fault, duration=10.0))
    # Org2 must endorse every transaction: while its only peer is down endorsing fails
    # ("… [127.0.0.1:port (Org2MSP): … connection refused]" or, once the Gateway has
    # noticed, "no peer combination can satisfy the endorsement policy")
    assert result.failed, "nothing failed while Org2's only peer was down"
    assert all(o.error.startswith("EndorseError") and ("Org2MSP" in o.error or
               "endorsement policy" in o.error) for o in result.failed), _errors(result)[:3]
    figures = _report("peer0.org2 killed, up after 2 s", result, began,
                      _check_ledgers(raft, result, first))
    assert figures["back_to_full_s"] is not None


def test_a_chaincode_server_killed_is_named_and_up_restarts_only_it(raft):
    first = raft.height()
    others = {n.name: raft.pid(n) for n in raft.layout.nodes if n.name != "chaincode.org2"}
    said: list[str] = []

    def fault(info):
        _kill(raft, "chaincode.org2")
        time.sleep(2.0)
        info["down"] = raft.why_down(raft.layout.node("chaincode.org2"))
        raft.progress = said.append
        try:
            raft.up()
        finally:
            raft.progress = lambda msg: None

    result, began, info = asyncio.run(_load_with(raft, fault, duration=9.0))
    assert info["down"].startswith("killed by SIGKILL")
    during = [o.error for o in result.failed]
    assert during, "no endorsement failed while Org2's chaincode server was down"
    assert all("EndorseError" in e for e in during), during[:3]
    # the peer's words: Org2's peer "could not launch chaincode ledgerlake_…"
    assert all("Org2MSP" in e and "chaincode" in e for e in during), during[:3]
    assert [m for m in said if m.startswith("starting")] == ["starting chaincode.org2 …"]
    assert {n: raft.pid(raft.layout.node(n)) for n in others} == others
    _report("chaincode.org2 killed, up after 2 s", result, began,
            _check_ledgers(raft, result, first))


def test_smartbft_one_of_four_killed_mid_load(tmp_path):
    net = LocalNetwork(tmp_path / "state", spec=NetworkSpec(consensus="bft", selftest=True,
                                                            base_port=base_port(25250)))
    try:
        net.up()
        first = net.height()
        leader = net.leader()
        victim = next(o.name for o in net.layout.orderers if o.name != leader)

        def fault(info):
            _kill(net, victim)

        result, began, _ = asyncio.run(_load_with(net, fault, duration=12.0))
        assert result.rate(began + 2.0, result.ended) > 0, "3 of 4 SmartBFT orderers stalled"
        net.up()
        figures = _report(f"SmartBFT follower {victim} (of 4) killed, not restarted during "
                          f"the load",
                          result, began, _check_ledgers(net, result, first))
        assert figures["valid"] > 0
    finally:
        net.down()


async def _resume(net: LocalNetwork, unresolved) -> dict:
    """What a client does after its Gateway peer died: through another peer of its org,
    look up by id each transaction that may have committed; send again (as a new
    transaction) the ones the ledger does not hold and those never submitted."""
    found, sent = [], {}
    async with _gateway(net, "Org1", peer=1) as gateway:
        network = gateway.get_network(net.spec.channel)
        contract = network.get_contract(net.spec.chaincode)
        async def one(outcome) -> None:
            if outcome.may_have_committed:
                try:
                    tx = await gateway.run(transaction_by_id_flow(network, outcome.tx_id))
                    if tx.validation_code == transaction_pb2.VALID:
                        found.append(outcome.key)
                        return
                except EndorseError:
                    pass  # the ledger does not know it: it never committed
            proposal = contract.new_proposal("put", outcome.args)
            sent[outcome.key] = proposal.transaction_id
            status = await (await (await proposal.endorse()).submit()).status()
            assert status.successful, status.code_name

        await asyncio.gather(*(one(o) for o in unresolved))
    return {"found": found, "sent": sent}


def test_the_gateway_peer_killed_the_client_resumes_on_another_peer(raft):
    first = raft.height()

    def fault(info):
        _kill(raft, "peer0.org1")

    result, began, _ = asyncio.run(_load_with(raft, fault, duration=6.0))
    unresolved = [o for o in result.outcomes if not o.valid]
    assert unresolved and all(o.error and o.tx_id for o in unresolved)
    maybe = [o for o in unresolved if o.may_have_committed]
    resumed = asyncio.run(_resume(raft, unresolved))
    raft.up()
    ledger = _check_ledgers(raft, result, first)
    # every key of the load is written by exactly one VALID transaction
    for outcome in result.outcomes:
        ids = {outcome.tx_id, resumed["sent"].get(outcome.key, "")}
        assert sum(ledger["valid"].get(t, 0) for t in ids) == 1, outcome.key
    print(f"\nRESUME {len(result.valid)} VALID, {len(unresolved)} unresolved of which "
          f"{len(maybe)} may have committed ({len(resumed['found'])} had), "
          f"{len(resumed['sent'])} sent again through peer1.org1")


def test_the_gateway_peer_killed_mid_ingest_a_rerun_on_another_peer_commits_each_row_once(
        raft, tmp_path):
    """``ledgerlake ingest`` through peer0.org1, which is killed mid-way: the ingest ends
    with a one-line error, no traceback; the same command with ``--peer peer1.org1``
    resumes and every row is in the ledger exactly once, in input order."""
    from ledgerlake.client import LedgerlakeContract, connect, encryption
    from ledgerlake.client.models import Writers
    from chain_rows import chain_rows

    schema = {"version": 1, "fields": [{"name": "sensor", "type": "string"},
                                       {"name": "seq", "type": "int"},
                                       {"name": "value", "type": "float"}]}
    data_key = encryption.new_data_key()
    apis = {}
    for user in ("admin", "analyst"):
        wallet = raft.layout.wallet_dir(raft.layout.org("Org1"), user)
        channel = from_state_dir(raft.state_dir, "Org1", 1).dial()
        apis[user] = (LedgerlakeContract(connect(Identity.from_wallet(wallet),
                                                 signer_from_wallet(wallet), channel)
                                         .get_network(raft.spec.channel)
                                         .get_contract(raft.spec.chaincode)), channel)
    admin, analyst = apis["admin"][0], apis["analyst"][0]
    try:
        admin.create_stream("gw-killed", schema, readers=["Org1MSP"],
                            writers=Writers(("Org1MSP",)),
                            wrapped_keys={"Org1MSP": admin.get_org_key("Org1MSP").wrap(
                                data_key, stream="gw-killed", epoch=1)})
        raft.settle()
        rows = [{"sensor": f"s{i % 7}", "seq": i, "value": i / 4} for i in range(6000)]
        source = tmp_path / "readings.csv"
        source.write_text("sensor,seq,value\n"
                          + "".join(f"{r['sensor']},{r['seq']},{r['value']}\n" for r in rows))
        command = [sys.executable, "-m", "ledgerlake", "ingest", str(source),
                   "--stream", "gw-killed", "--source-id", "gw", "--batch-size", "50",
                   "--max-in-flight", "4", "--state-dir", str(raft.state_dir), "--quiet"]
        first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        state = raft.state_dir / "ingest" / "gw-killed" / "gw.json"
        deadline = time.monotonic() + 60
        while not (state.exists() and json.loads(state.read_text()).get("seq", 0) >= 3):
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
            time.sleep(0.05)
        _kill(raft, "peer0.org1")
        _, stderr = first.communicate(timeout=180)
        print(f"\nFIRST RUN (exit {first.returncode}): {stderr.strip()}")
        assert first.returncode not in (0, None), "the ingest went on without its peer"
        assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
        assert "re-run the same command" in stderr, stderr
        again = subprocess.run(command + ["--peer", "peer1.org1"], capture_output=True,
                               text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        raft.up()
        raft.settle(timeout=60)
        got = chain_rows(analyst, "gw-killed", "gw", schema, data_key)
        assert len(got) == len(rows), f"{len(got)} rows in the ledger, {len(rows)} ingested"
        assert got == rows  # each exactly once, in input order
    finally:
        for _, channel in apis.values():
            channel.close()
