"""``ledgerlake verify`` on a real Raft network, the denials an integration team meets, and
"no plaintext anywhere" in the network's files.

One network for the module. The tampering test changes a peer's block file (peer0.org2,
stopped), checks what each command reports through that peer, and puts the bytes back."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from fabric_protos.common import common_pb2, configtx_pb2
from fabric_protos.common import configuration_pb2 as channel_config_pb2
from fabric_protos.orderer import configuration_pb2 as orderer_config_pb2
from fabric_protos.orderer.etcdraft import configuration_pb2 as etcdraft_pb2

from tampering import block_files, put_back, replace_once

from ledgerlake import records
from ledgerlake.cli import _one_line, _settle, main
from ledgerlake.client import Identity, connect, encryption, from_state_dir, signer_from_wallet
from ledgerlake.client.api import LedgerlakeContract
from ledgerlake.client.batches import seal_batch
from ledgerlake.client.connection import local_org_key_path
from ledgerlake.client.models import OrgKey, Writers
from ledgerlake.client.qscc import block_by_number, chain_info
from ledgerlake.client.verify import (
    ChannelConfig,
    RecordId,
    check_record_proof,
    prove_record,
    verify_batch,
    verify_chain,
    verify_record,
)
from ledgerlake.errors import EndorseError, IntegrityError
from ledgerlake.network import process
from ledgerlake.network.channel import metrics as channel_metrics
from ledgerlake.network.layout import ORDERER_ORG
from ledgerlake.network.peercli import peer_env, run_peer
from ledgerlake.protocol import ErrorCode
from networks import network_up

pytestmark = pytest.mark.integration
ORGS = ("Org1", "Org2")
ROLES = ("admin", "producer", "analyst", "auditor")
SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "note", "type": "string"},
    {"name": "value", "type": "float"}]}
#: A marker in a public field: the scan for secret markers must find this one (in blocks).
PUBLIC = f"PUBLIC{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    yield from network_up(tmp_path_factory, "verify", 25500)


def _wallet(net, org, role):
    folder = net.layout.wallet_dir(net.layout.org(org), role)
    return Identity.from_wallet(folder), signer_from_wallet(folder)


@pytest.fixture(scope="module")
def apis(net):
    channels = {org: from_state_dir(net.state_dir, org).dial() for org in ORGS}
    yield {(org, role): LedgerlakeContract(
        connect(*_wallet(net, org, role), channels[org])
        .get_network("ledgerlake").get_contract("ledgerlake"))
        for org in ORGS for role in ROLES}
    for channel in channels.values():
        channel.close()


@pytest.fixture(scope="module")
def org_keys(net, apis):
    """Each organisation's X25519 key where a local network keeps it (the key 'verify
    record' reads), registered on-chain unless the network already did."""
    keys = {}
    for org in ORGS:
        path = local_org_key_path(net.state_dir, org)
        if path.exists():
            keys[org] = encryption.load_org_key(path)
            continue
        keys[org] = encryption.new_org_key()
        encryption.save_org_key(path, keys[org])
        apis[org, "admin"].register_org_key(encryption.public_pem(keys[org]))
    _settle(net)
    return keys


def _wrap(keys, data_key, org, stream, epoch=1):
    return OrgKey(f"{org}MSP", encryption.public_pem(keys[org]), 0).wrap(
        data_key, stream=stream, epoch=epoch)


class Stream:
    """A stream made for a test, its data key per epoch and its sources' chain heads."""

    def __init__(self, net, apis, keys, readers, writers=("Org1",)):
        self.net, self.apis, self.keys = net, apis, keys
        self.name = f"v-{uuid.uuid4().hex[:8]}"
        self.data_keys = {1: encryption.new_data_key()}
        self.epoch = 1
        self.heads: dict[str, tuple[int, str]] = {}
        apis["Org1", "admin"].create_stream(
            self.name, SCHEMA, readers=[f"{o}MSP" for o in readers],
            writers=Writers(tuple(f"{o}MSP" for o in writers)),
            wrapped_keys={f"{o}MSP": _wrap(keys, self.data_keys[1], o, self.name)
                          for o in readers})
        _settle(net)

    def seal(self, rows, source="line-1", encoding="json+deflate"):
        seq, prev = self.heads.get(source, (0, ""))
        return seal_batch(stream=self.name, source=source, seq=seq + 1, prev_hash=prev,
                          schema=SCHEMA, rows=rows, data_key=self.data_keys[self.epoch],
                          key_epoch=self.epoch, encoding=encoding)

    def submit(self, rows, source="line-1", who=("Org1", "producer"),
               encoding="json+deflate", **options):
        sealed = self.seal(rows, source, encoding)
        self.apis[who].submit_batch(sealed, **options)
        self.heads[source] = (sealed.batch["seq"], sealed.id)
        _settle(self.net)
        return sealed


def _rows(n, note="n"):
    return [{"sensor": f"s{i}", "note": f"{note}{i}", "value": i + 0.25} for i in range(n)]


@pytest.fixture(scope="module")
def org1_stream(net, apis, org_keys):
    """Readable and writable by Org1 only, with a few batches."""
    stream = Stream(net, apis, org_keys, readers=("Org1",))
    stream.batches = [stream.submit(_rows(5)), stream.submit(_rows(3))]
    return stream


def _cli(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- verify: success ----------------------------------------------------------------------
def test_verify_chain_checks_every_block_and_each_orderers_signature(net, apis, org1_stream,
                                                                     capsys):
    state = str(net.state_dir)
    report = verify_chain(apis["Org1", "auditor"].contract.network)
    assert report.first == 0 and report.last >= 5 and report.consensus == "etcdraft"
    assert report.genesis_hash and report.config_blocks == [0]
    assert sum(report.signatures.values()) == report.blocks - 1  # all but genesis
    assert all(s.startswith("orderer") and "OrdererMSP" in s for s in report.signatures)

    code, out, err = _cli(capsys, "verify", "chain", "--state-dir", state)
    assert code == 0, err
    assert f"chain verified: blocks 0 to {report.last}" in out
    assert ("orderer signatures (etcdraft: each block needs a Raft consenter's signature) "
            "under config block(s) 0") in out
    assert f"genesis hash {report.genesis_hash}" in out
    code, out, err = _cli(capsys, "verify", "chain", "--state-dir", state, "--genesis-hash",
                          report.genesis_hash)
    assert code == 0 and "(as pinned by --genesis-hash)" in out, err
    code, out, err = _cli(capsys, "verify", "chain", "--state-dir", state, "--genesis-hash",
                          "ab" * 32)
    assert code == 1 and err.startswith("IntegrityError: block 0: its hash ") and \
        err.strip().endswith(f"is not the genesis hash {'ab' * 32} it was to be"), err

    code, out, err = _cli(capsys, "verify", "chain", "--state-dir", state, "--peer",
                          "peer0.org2", "--from", "2", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["first"], doc["peer"], doc["config_blocks"]) == (2, "peer0.org2", [0])
    assert doc["last"] >= report.last and doc["blocks_per_second"] > 0


def test_verify_batch_and_record_print_what_they_checked(net, org1_stream, org_keys, capsys):
    state = str(net.state_dir)
    first = org1_stream.batches[0]
    code, out, err = _cli(capsys, "verify", "batch", org1_stream.name, first.id,
                          "--state-dir", state)
    assert code == 0, err
    assert f"batch {first.id} of stream {org1_stream.name} verified" in out
    assert "signed by orderer" in out and "hashes to its id" in out
    assert (f"its ciphertext ({first.batch['payload']['size']} bytes) has the header's "
            f"SHA-256 {first.batch['payload']['sha256']}") in out

    code, out, err = _cli(capsys, "verify", "record", org1_stream.name, f"{first.id}:3",
                          "--state-dir", state, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["proof"]["record"] == _rows(5)[3]
    assert doc["proof"]["merkle_root"] == first.batch["merkle_root"]
    assert [p["side"] for p in doc["proof"]["path"]] == ["left", "left", "right"]
    assert doc["batch"]["tx_id"] and doc["batch"]["signers"]

    code, out, err = _cli(capsys, "verify", "record", org1_stream.name, f"{first.id}:4",
                          "--state-dir", state)
    assert code == 0, err
    assert "level 0    sibling on the left" in out
    assert f"merkle root {first.batch['merkle_root']}" in out


def test_batch_and_record_checks_run_on_an_asyncio_gateway_too(net, org1_stream, org_keys):
    from ledgerlake.client import connect_async

    second = org1_stream.batches[1]

    async def scenario():
        channel = from_state_dir(net.state_dir, "Org1").dial_async()
        try:
            api = LedgerlakeContract(connect_async(*_wallet(net, "Org1", "analyst"), channel)
                                     .get_network("ledgerlake").get_contract("ledgerlake"))
            return await verify_record(api, org1_stream.name, f"{second.id}:2",
                                       org_keys["Org1"], purpose="asyncio verify")
        finally:
            await channel.close()

    checked = asyncio.run(scenario())
    assert checked.proof.record == _rows(3)[2] and checked.batch.batch_id == second.id
    assert checked.batch.signers and checked.batch.config_blocks == (0,)


def test_a_record_left_out_of_a_proof_is_named(apis, org1_stream, org_keys):
    analyst = apis["Org1", "analyst"]
    first = org1_stream.batches[0]
    checked = verify_record(analyst, org1_stream.name, RecordId(first.id, 1), org_keys["Org1"])
    check_record_proof(checked.proof)
    schema = records.Schema.from_mapping(SCHEMA)
    key = org1_stream.data_keys[1]
    leaves = [bytes.fromhex(prove_record(schema, checked.batch.batch, key, i).leaf)
              for i in range(first.batch["record_count"])]
    del leaves[2]  # the proof is built as if record 2 were not in the batch
    path = tuple((side, h.hex()) for side, h in records.merkle_proof(leaves, 1))
    with pytest.raises(IntegrityError, match=rf"record {first.id}:1: its Merkle path does not "
                                             rf"lead to the batch's root") as raised:
        check_record_proof(dataclasses.replace(checked.proof, path=path))
    assert raised.value.check == "merkle_proof"


def test_an_exported_proof_is_checked_without_a_key_and_a_record_left_out_is_named(
        net, org1_stream, tmp_path, capsys):
    state = str(net.state_dir)
    first = org1_stream.batches[0]
    code, out, err = _cli(capsys, "verify", "record", org1_stream.name, f"{first.id}:1",
                          "--state-dir", state, "--json")
    assert code == 0, err
    exported = json.loads(out)
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(out)
    code, out, err = _cli(capsys, "verify", "record", org1_stream.name, "--proof",
                          str(proof_file), "--state-dir", state, "--as", "Org2/auditor")
    assert code == 0, err
    assert f"record 1 of batch {first.id}" in out and "signed by orderer" in out

    proof = exported["proof"]
    leaves = [bytes.fromhex(proof["leaf"])] + [bytes(32)] * 3  # not the batch's 5 records
    forged = {**proof, "path": [{"side": s, "hash": h.hex()}
                                for s, h in records.merkle_proof(leaves, 0)]}
    cases = [  # (the proof's change, what the one-line error says)
        ({"path": proof["path"][:-1]}, "its Merkle path does not lead to the batch's root"),
        ({"record": {**proof["record"], "value": 99.25}},
         r"its commitment is not SHA-256(salt ‖ record)"),
        ({"record_id": f"{first.id}:2"}, "the path is not the one of record 2 of a batch of "
                                         "5 records"),
        ({"path": forged["path"], "merkle_root": records.merkle_root(leaves).hex()},
         "the proof leads to root"),
    ]
    for change, named in cases:
        proof_file.write_text(json.dumps({**proof, **change}))
        code, out, err = _cli(capsys, "verify", "record", org1_stream.name, "--proof",
                              str(proof_file), "--state-dir", state, "--as", "Org2/auditor")
        assert code == 1 and out == "" and len(err.strip().splitlines()) == 1, err
        assert err.startswith("IntegrityError: record ") and named in err, err


# -- denials ------------------------------------------------------------------------------
def _denied(call, rule: str) -> str:
    with pytest.raises(EndorseError) as raised:
        call()
    line = _one_line(raised.value)
    assert raised.value.error_code is ErrorCode.ACCESS_DENIED
    assert "\n" not in line and line.startswith("ACCESS_DENIED: ") and rule in line, line
    return line


def test_a_producer_of_org2_cannot_write_to_an_org1_only_stream(apis, org1_stream):
    sealed = org1_stream.seal(_rows(2), source="org2-line")
    _denied(lambda: apis["Org2", "producer"].submit_batch(sealed),
            f"access denied by rule 'batch.write': Org2MSP may not write to stream")


def test_an_analyst_of_a_non_reader_org_cannot_open_the_stream(net, apis, org1_stream, capsys):
    _denied(lambda: apis["Org2", "analyst"].open_stream(org1_stream.name, "curious"),
            f"access denied by rule 'stream.open': Org2MSP is not a reader of "
            f"'{org1_stream.name}'")
    first = org1_stream.batches[0]
    code, out, err = _cli(capsys, "verify", "record", org1_stream.name, f"{first.id}:0",
                          "--state-dir", str(net.state_dir), "--as", "Org2/analyst")
    assert code == 1 and out == ""
    assert err == (f"EndorseError: ACCESS_DENIED: access denied by rule 'stream.open': Org2MSP "
                   f"is not a reader of '{org1_stream.name}'\n"), err


def test_a_revoked_org_cannot_open_the_epoch_after_rotation(net, apis, org_keys, capsys):
    stream = Stream(net, apis, org_keys, readers=("Org1", "Org2"))
    ticket = apis["Org2", "analyst"].open_stream(stream.name, "before the revocation")
    _settle(net)
    admin = apis["Org1", "admin"]
    admin.revoke_reader(stream.name, "Org2MSP")
    _settle(net)
    stream.data_keys[2] = encryption.new_data_key()
    admin.rotate_key(stream.name, {"Org1MSP": _wrap(org_keys, stream.data_keys[2], "Org1",
                                                    stream.name, 2)})
    stream.epoch = 2
    _settle(net)
    after = stream.submit(_rows(2))
    org2 = apis["Org2", "analyst"]
    _denied(lambda: org2.open_stream(stream.name, "after the rotation", epoch=2),
            f"access denied by rule 'stream.open': Org2MSP is not a reader of '{stream.name}'")
    _denied(lambda: org2.get_stream_keys(stream.name, ticket),
            f"access denied by rule 'stream.keys': Org2MSP is no longer a reader of "
            f"'{stream.name}'")
    code, out, err = _cli(capsys, "verify", "record", stream.name, f"{after.id}:0",
                          "--state-dir", str(net.state_dir), "--as", "Org2/analyst")
    assert code == 1 and err == (f"EndorseError: ACCESS_DENIED: access denied by rule "
                                 f"'stream.open': Org2MSP is not a reader of "
                                 f"'{stream.name}'\n"), err
    # Org1 still reads the new epoch
    checked = verify_record(apis["Org1", "analyst"], stream.name, f"{after.id}:1",
                            org_keys["Org1"])
    assert checked.proof.record == _rows(2)[1]


# -- no plaintext anywhere ----------------------------------------------------------------
def test_no_plaintext_marker_in_any_file_of_the_network(net, apis, org_keys):
    """Every file under the network's state directory (block files, LevelDBs, logs, MSPs)
    is searched for what a leak would leave there: the secret markers as they are (the
    plaintext endorsers receive as transient data is uncompressed canonical JSON; so is
    the encrypted plaintext of the batch sealed with encoding "json") and, for the batches
    sealed compressed, the compressed plaintext itself, in which the markers would not show
    (DEFLATE codes them bit by bit). Positive controls show the scan reads the places a leak
    would land: the public marker in the block files and in world state, and each batch's
    ciphertext in the block files."""
    stream = Stream(net, apis, org_keys, readers=("Org1", "Org2"))
    markers = [f"SECRET{uuid.uuid4().hex}" for _ in range(6)]
    batches = []
    for i, encoding in enumerate(("json+deflate", "json", "json+deflate")):
        rows = [{"sensor": PUBLIC, "note": markers[2 * i + j], "value": 1.5 + j}
                for j in range(2)]  # plaintext sent to both reader organisations' endorsers
        batches.append(stream.submit(rows, encoding=encoding, send_plaintext=True,
                                     endorsing_organizations=["Org1MSP", "Org2MSP"]))
    assert all(apis["Org1", "producer"].get_batch(stream.name, b.id).plaintext_checked
               for b in batches)
    secrets = {f"marker {m}": m.encode() for m in markers}
    for i, b in enumerate(batches):
        encoding = b.batch["payload"]["encoding"]
        encoded = records.encode_plaintext(b.transient["records"], encoding)
        # compressed, the markers do not show: only the encoded bytes themselves would
        shown = [m for m in markers[2 * i:2 * i + 2] if m.encode() in encoded]
        assert len(shown) == (2 if encoding == "json" else 0), (encoding, shown)
        secrets[f"the {encoding} plaintext of batch {b.id}"] = encoded
    files = [p for p in net.state_dir.rglob("*") if p.is_file() and not p.is_symlink()]
    logs = {p.name for p in (net.state_dir / "logs").glob("*.log") if p.stat().st_size}
    assert {f"{n.name}.log" for n in net.layout.nodes} <= logs  # every node's log is there
    blockfiles = [p for p in files if p.name.startswith("blockfile_")]
    state = [p for p in files if "stateLeveldb" in p.parts]
    assert blockfiles and state  # peers' block files and world state's LevelDBs
    public_in, ciphertexts, leaks = set(), set(), []
    for path in files:
        data = path.read_bytes()
        if PUBLIC.encode() in data:
            public_in.add("blocks" if path in blockfiles else
                          "state" if path in state else "other")
        ciphertexts |= {b.id for b in batches if b.ciphertext in data}
        leaks += [f"{path.relative_to(net.state_dir)}: {what}"
                  for what, secret in secrets.items() if secret in data]
    assert {"blocks", "state"} <= public_in, \
        f"the scan found the public marker only in {public_in}, not in blocks and world state"
    assert ciphertexts == {b.id for b in batches}, "a batch's ciphertext is not in any block"
    assert leaks == []


# -- tampering on a peer's disk -----------------------------------------------------------
def test_a_changed_block_file_a_changed_ciphertext_and_a_swapped_batch_are_named(
        net, apis, org_keys, capsys):
    stream = Stream(net, apis, org_keys, readers=("Org1",))
    changed = stream.submit(_rows(4), source="line-a")
    a, b = stream.submit(_rows(4), source="line-b"), stream.submit(_rows(4), source="line-c")
    state = str(net.state_dir)
    peer = net.layout.node("peer0.org2")
    files = block_files(net, peer)
    # Bytes are changed inside a transaction's arguments, for others of the same length (one
    # bit of the raw ciphertext, SubmitBatch's second argument; one header, the first, for
    # another of the same size): protobuf framing, block lengths and the peer's block index
    # (file offsets) all still hold, so the peer starts and serves the changed blocks as
    # they are on its disk.
    ciphertext = changed.ciphertext
    at = len(ciphertext) // 2
    flipped = ciphertext[:at] + bytes([ciphertext[at] ^ 1]) + ciphertext[at + 1:]
    arg_a, arg_b = a.args[0], b.args[0]
    assert (arg_a, arg_b) == (records.canonical(a.batch), records.canonical(b.batch))
    process.stop(net.layout.pid_file(peer))
    changes = []
    try:
        changes.append(replace_once(files, ciphertext, flipped))  # one bit of a transaction
        changes.append(replace_once(files, arg_a, arg_b))  # b's header in a's place
        net.up()
        org2_tx = verify_batch(apis["Org1", "auditor"], stream.name, changed.id)  # peer0.org1
        block = org2_tx.block_number

        code, out, err = _cli(capsys, "verify", "chain", "--state-dir", state,
                              "--peer", "peer0.org2")
        assert code == 1 and out == "", out
        assert err.strip() == (f"IntegrityError: block {block}: data hash does not match its "
                               f"data"), err

        code, out, err = _cli(capsys, "verify", "batch", stream.name, changed.id,
                              "--state-dir", state, "--peer", "peer0.org2")
        assert code == 1 and out == "", out
        assert err == (f"IntegrityError: batch {changed.id}: the ciphertext is not the one its "
                       f"header commits to (payload.sha256 and size)\n"), err

        code, out, err = _cli(capsys, "verify", "batch", stream.name, a.id,
                              "--state-dir", state, "--peer", "peer0.org2")
        assert code == 1 and len(err.strip().splitlines()) == 1, err
        assert err.startswith(f"IntegrityError: batch {a.id}: the batch in transaction ") and \
            err.strip().endswith(f"hashes to {b.id} (changed or swapped)"), err

        code, out, err = _cli(capsys, "verify", "record", stream.name, f"{changed.id}:0",
                              "--state-dir", state, "--peer", "peer0.org2")
        assert code == 1 and "the ciphertext is not the one its header commits to" in err, err

        # the untouched peer still verifies
        assert _cli(capsys, "verify", "chain", "--state-dir", state)[0] == 0
        assert _cli(capsys, "verify", "batch", stream.name, a.id, "--state-dir", state)[0] == 0
    finally:
        process.stop(net.layout.pid_file(peer))
        for change in changes:
            put_back(*change)
        net.up()
    code, out, err = _cli(capsys, "verify", "chain", "--state-dir", state, "--peer",
                          "peer0.org2")
    assert code == 0, err


# -- a config update (last: it shrinks the network's consenter set) --------------------
def _remove_consenter(net, network, port: int, workdir: Path) -> None:
    """Remove the Raft consenter listening on ``port`` (and its orderer endpoint): the
    channel's config, changed, the update computed by Fabric's configtxlator, signed by the
    orderer admin and sent with Fabric's ``peer channel update``."""
    tip = block_by_number(network, chain_info(network).height - 1)
    envelope = common_pb2.Envelope.FromString(
        block_by_number(network, tip.last_config).raw.data.data[0])
    config = configtx_pb2.ConfigEnvelope.FromString(
        common_pb2.Payload.FromString(envelope.payload).data).config
    updated = configtx_pb2.Config()
    updated.CopyFrom(config)
    value = updated.channel_group.groups["Orderer"].values["ConsensusType"]
    consensus = orderer_config_pb2.ConsensusType.FromString(value.value)
    metadata = etcdraft_pb2.ConfigMetadata.FromString(consensus.metadata)
    kept = [c for c in metadata.consenters if c.port != port]
    del metadata.consenters[:]
    metadata.consenters.extend(kept)
    consensus.metadata = metadata.SerializeToString()
    value.value = consensus.SerializeToString()
    for org in updated.channel_group.groups["Orderer"].groups.values():  # and its endpoint,
        endpoints = org.values["Endpoints"]  # or the peers' Gateway may still submit to it
        addresses = channel_config_pb2.OrdererAddresses.FromString(endpoints.value)
        kept_addresses = [a for a in addresses.addresses if not a.endswith(f":{port}")]
        del addresses.addresses[:]
        addresses.addresses.extend(kept_addresses)
        endpoints.value = addresses.SerializeToString()
    (workdir / "original.pb").write_bytes(config.SerializeToString())
    (workdir / "updated.pb").write_bytes(updated.SerializeToString())
    subprocess.run([net.chain.bin("configtxlator"), "compute_update", "--channel_id",
                    net.spec.channel, "--original", str(workdir / "original.pb"),
                    "--updated", str(workdir / "updated.pb"),
                    "--output", str(workdir / "update.pb")], check=True, capture_output=True)
    payload = common_pb2.Payload(
        header=common_pb2.Header(channel_header=common_pb2.ChannelHeader(
            type=common_pb2.CONFIG_UPDATE, channel_id=net.spec.channel).SerializeToString()),
        data=configtx_pb2.ConfigUpdateEnvelope(
            config_update=(workdir / "update.pb").read_bytes()).SerializeToString())
    (workdir / "envelope.pb").write_bytes(
        common_pb2.Envelope(payload=payload.SerializeToString()).SerializeToString())
    env = peer_env(net.layout, net.chain, net.layout.peers[0])
    env.update(CORE_PEER_LOCALMSPID=ORDERER_ORG.msp_id,
               CORE_PEER_MSPCONFIGPATH=str(net.layout.user_dir(ORDERER_ORG, "admin") / "msp"))
    orderer = next(o for o in net.layout.orderers if o.ports["grpc"] != port)
    run_peer(net.chain, ["channel", "update", "-f", str(workdir / "envelope.pb"), "-c",
                         net.spec.channel, "-o", orderer.address, "--tls", "--cafile",
                         str(net.layout.ca_cert(ORDERER_ORG))], env, what="config update")


def test_a_config_update_changes_the_consenters_blocks_are_checked_against(
        net, apis, org_keys, tmp_path, capsys):
    network = apis["Org1", "auditor"].contract.network
    before = verify_chain(network)
    # Each orderer signs its own copy of a block: the tip's signer is the orderer this peer
    # pulls blocks from. Remove one that is neither that one nor the Raft leader, so no
    # election and no reconnection slows the test down.
    source = block_by_number(network, before.last).signatures[0].creator.enrollment_id
    leaders = {o.name for o in net.layout.orderers if channel_metrics(net.layout, o).get(
        f'consensus_etcdraft_is_leader{{channel="{net.spec.channel}"}}')}
    follower = next(o for o in net.layout.orderers if o.name not in {source, *leaders})
    _remove_consenter(net, network, follower.ports["grpc"], tmp_path)
    deadline = time.monotonic() + 30
    while block_by_number(network, chain_info(network).height - 1).last_config == 0:
        assert time.monotonic() < deadline, "the config block was not committed in 30 s"
        time.sleep(0.1)
    _settle(net)
    process.stop(net.layout.pid_file(follower))  # decommissioned: the Gateway may still
    # know its address for a moment, and then tries the next orderer
    stream = Stream(net, apis, org_keys, readers=("Org1",))  # blocks ordered after it
    stream.submit(_rows(2))
    after = verify_chain(network)
    update = after.config_blocks[-1]
    assert after.config_blocks == [0, update] and before.last < update < after.last
    consenters = ChannelConfig.from_block(block_by_number(network, update)).consenters
    assert sorted(c.port for c in consenters) == sorted(
        o.ports["grpc"] for o in net.layout.orderers if o is not follower)
    assert verify_chain(network, start=update + 1).config_blocks == [0, update]
    code, out, err = _cli(capsys, "verify", "chain", "--state-dir", str(net.state_dir))
    assert code == 0 and f"under config block(s) 0, {update}" in out, err
