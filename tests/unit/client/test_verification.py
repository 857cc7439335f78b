"""The checks of client/verify.py on real blocks (a Raft network's genesis and signed
blocks, a SmartBFT network's genesis and three blocks, see tests/data/blocks/README.md),
each changed in one place; batches and records built by the real sealing code."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, \
    encode_dss_signature
from fabric_protos.common import common_pb2

from ledgerlake import records
from ledgerlake.client import encryption
from ledgerlake.client.batches import seal_batch
from ledgerlake.client.blocks import TransactionInfo, decode_block
from ledgerlake.client.signing import P256_ORDER
from ledgerlake.client.verify import (
    ChainVerifier,
    ChannelConfig,
    RecordId,
    RecordProof,
    check_block_signatures,
    check_record_proof,
    prove_record,
    verify_batch_against_transaction,
)
from ledgerlake.errors import ConfigError, DecryptionError, IntegrityError, RecordError
from ledgerlake.protocol import Creator

DATA = Path(__file__).parents[2] / "data" / "blocks"


def raw(name) -> common_pb2.Block:
    return common_pb2.Block.FromString((DATA / f"{name}.block").read_bytes())


def block(name):
    return decode_block(raw(name))


def bft(n):
    return block(f"bftsig-{n}")


@pytest.fixture(scope="module")
def raft_config():
    return ChannelConfig.from_block(block(0))


@pytest.fixture(scope="module")
def bft_config():
    return ChannelConfig.from_block(bft(0))


def _signatures(message: common_pb2.Block) -> common_pb2.Metadata:
    return common_pb2.Metadata.FromString(message.metadata.metadata[common_pb2.SIGNATURES])


def _with_signatures(message: common_pb2.Block, metadata: common_pb2.Metadata):
    message.metadata.metadata[common_pb2.SIGNATURES] = metadata.SerializeToString()
    return decode_block(message)


# -- the channel configuration ------------------------------------------------------------
def test_raft_config_names_three_consenters_by_tls_certificate_and_the_orderer_msp(raft_config):
    assert raft_config.consensus == "etcdraft" and not raft_config.bft
    assert [c.port for c in raft_config.consenters] == [7100, 7110, 7120]
    assert list(raft_config.orderer_orgs) == ["OrdererMSP"]
    assert raft_config.orderer_orgs["OrdererMSP"].orderer_ou == "orderer"
    assert raft_config.quorum == 1


def test_bft_config_names_four_consenters_by_id_and_identity(bft_config):
    assert bft_config.bft and [c.id for c in bft_config.consenters] == [1, 2, 3, 4]
    assert all(c.identity.startswith(b"-----BEGIN CERTIFICATE") for c in bft_config.consenters)
    assert bft_config.quorum == 3


@pytest.mark.parametrize("n, quorum", [(1, 1), (2, 2), (3, 2), (4, 3), (5, 4), (6, 4), (7, 5),
                                       (10, 7), (13, 9)])
def test_bft_quorum_is_fabrics_ceil_n_plus_f_plus_1_over_2(bft_config, n, quorum):
    consenters = tuple(dataclasses.replace(bft_config.consenters[0], id=i) for i in range(n))
    assert dataclasses.replace(bft_config, consenters=consenters).quorum == quorum


def test_a_block_that_is_not_a_config_block_gives_no_configuration():
    with pytest.raises(IntegrityError, match="block 8 is not a config block") as raised:
        ChannelConfig.from_block(block(8))
    assert (raised.value.block_number, raised.value.check) == (8, "config")


# -- signatures ---------------------------------------------------------------------------
@pytest.mark.parametrize("number, signer", [(3, "orderer2"), (8, "orderer1"), (9, "orderer1")])
def test_raft_blocks_are_signed_by_a_consenter(raft_config, number, signer):
    assert check_block_signatures(block(number), raft_config) == (
        f"{signer} (OrdererMSP, 127.0.0.1:{7100 + 10 * (int(signer[-1]) - 1)})",)


def test_bft_blocks_carry_a_quorum_of_consenter_signatures(bft_config):
    signers = check_block_signatures(bft(3), bft_config)
    assert len(signers) == 3 and {s.split()[0] for s in signers} == \
        {"orderer4", "orderer1", "orderer3"}


def _fails(block_, config, match):
    with pytest.raises(IntegrityError, match=match) as raised:
        check_block_signatures(block_, config)
    assert (raised.value.block_number, raised.value.check) == (block_.number, "signatures")
    return raised.value


def test_a_changed_signature_byte_is_named(raft_config):
    message = raw(8)
    metadata = _signatures(message)
    sig = bytearray(metadata.signatures[0].signature)
    sig[-1] ^= 1
    metadata.signatures[0].signature = bytes(sig)
    _fails(_with_signatures(message, metadata), raft_config,
           r"^block 8: orderer signatures: signature 0 by orderer1 \(OrdererMSP, "
           r"127.0.0.1:7100\) does not verify$")


def test_a_high_s_signature_is_refused_as_fabric_does(raft_config):
    message = raw(8)
    metadata = _signatures(message)
    r, s = decode_dss_signature(metadata.signatures[0].signature)
    metadata.signatures[0].signature = encode_dss_signature(r, P256_ORDER - s)
    _fails(_with_signatures(message, metadata), raft_config, "does not verify")


def test_a_changed_header_or_metadata_value_breaks_the_signature(raft_config):
    message = raw(9)
    message.header.previous_hash = bytes(32)
    _fails(decode_block(message), raft_config, "does not verify")
    message = raw(9)
    metadata = _signatures(message)
    metadata.value = metadata.value + b"\x12\x01x"  # another consenter_metadata
    _fails(_with_signatures(message, metadata), raft_config, "does not verify")


def test_an_unsigned_block_fails(raft_config):
    message = raw(9)
    message.metadata.metadata[common_pb2.SIGNATURES] = b""
    _fails(decode_block(message), raft_config, "the block is not signed")


def test_a_raft_signer_outside_the_consenter_set_fails(raft_config):
    others = tuple(c for c in raft_config.consenters if c.port != 7100)
    _fails(block(8), dataclasses.replace(raft_config, consenters=others),
           r"signature 0 by orderer1 \(OrdererMSP\): not a consenter of config block 0")


def test_a_signer_of_another_network_does_not_chain_to_the_orderer_root(bft_config):
    # block 8 of the Raft network, checked against the SmartBFT network's configuration
    _fails(block(8), bft_config, "does not chain to OrdererMSP's root CA")


def test_a_signer_of_an_organisation_that_is_not_an_orderer_org_fails(raft_config):
    config = dataclasses.replace(raft_config, orderer_orgs={})
    _fails(block(8), config, r"OrdererMSP is not an orderer organisation")


def test_bft_below_quorum_fails_and_a_repeated_signer_counts_once(bft_config):
    message = raw("bftsig-3")
    metadata = _signatures(message)
    del metadata.signatures[2]
    _fails(_with_signatures(message, metadata), bft_config,
           r"2 consenter\(s\) signed; the block needs a quorum of 3 of 4 SmartBFT consenters")
    metadata.signatures.append(metadata.signatures[0])
    _fails(_with_signatures(message, metadata), bft_config, r"^block 3: .*2 consenter\(s\)")


def test_a_bft_consenter_id_outside_the_set_fails(bft_config):
    others = tuple(c for c in bft_config.consenters if c.id != 4)
    _fails(bft(3), dataclasses.replace(bft_config, consenters=others),
           "names consenter id 4, which is not in the consenter set of config block 0")


# -- the chain ----------------------------------------------------------------------------
def test_the_bft_chain_from_genesis_verifies_and_counts_each_signer():
    verifier = ChainVerifier()
    for n in range(4):
        verifier.add(bft(n))
    report = verifier.report
    assert (report.first, report.last, report.blocks, report.consensus) == (0, 3, 4, "BFT")
    assert report.genesis_hash == bft(0).hash.hex() and report.tip_hash == bft(3).hash.hex()
    assert sum(report.signatures.values()) == 9 and report.config_blocks == [0]


def test_chain_checks_each_name_the_block(bft_config):
    def run(blocks, config=None, previous=None):
        verifier = ChainVerifier(config, previous)
        with pytest.raises(IntegrityError) as raised:
            for b in blocks:
                verifier.add(b)
        return raised.value.block_number, raised.value.check, str(raised.value)

    tampered = raw("bftsig-2")
    data = bytearray(tampered.data.data[0])
    data[len(data) // 2] ^= 1
    tampered.data.data[0] = bytes(data)
    assert run([bft(0), bft(1), decode_block(tampered)])[:2] == (2, "data_hash")
    assert run([bft(0), bft(2)])[:2] == (2, "number")
    assert run([bft(2)], bft_config, bft(0))[:2] == (2, "number")
    assert run([bft(1), bft(3)], bft_config, bft(0))[:2] == (3, "number")
    forged = raw("bftsig-1")
    forged.header.previous_hash = bytes(32)
    assert run([bft(0), decode_block(forged)])[:2] == (1, "previous_hash")
    number, check, text = run([bft(1)], dataclasses.replace(bft_config, block_number=7), bft(0))
    assert (number, check) == (1, "last_config")
    assert text == "block 1: its last-config index is 0, not 7"


def test_checking_from_a_later_block_needs_its_configuration():
    with pytest.raises(ConfigError, match="needs the configuration in force"):
        ChainVerifier().add(bft(1))


# -- batches ------------------------------------------------------------------------------
SCHEMA = {"version": 1, "fields": [{"name": "sensor", "type": "string", "public": True},
                                   {"name": "value", "type": "float"}]}
ROWS = [{"sensor": f"s{i}", "value": i + 0.5} for i in range(5)]
KEY = bytes(range(32))
CREATOR = Creator("Org1MSP", b"", {}, "producer")


def _sealed(seq=1, prev="", rows=ROWS):
    return seal_batch(stream="plant", source="line-1", seq=seq, prev_hash=prev, schema=SCHEMA,
                      rows=rows, data_key=KEY, key_epoch=1)


def _tx(sealed, tx_id="t1", code=0, function="SubmitBatch", args=None):
    """The SubmitBatch transaction of ``sealed`` as a block holds it (``args``: others)."""
    return TransactionInfo(0, tx_id, "ledgerlake", "ENDORSER_TRANSACTION", CREATOR,
                           dt.datetime.now(dt.timezone.utc), code, "ledgerlake", function,
                           sealed.args if args is None else args)


def _header(batch: dict, tx_id="t1") -> dict:
    return {**batch, "tx_id": tx_id, "producer": {"msp_id": "Org1MSP", "id": "producer"}}


def _batch_fails(header, batch_id, tx, check, match):
    with pytest.raises(IntegrityError, match=match) as raised:
        verify_batch_against_transaction(header, batch_id, tx)
    assert raised.value.check == check


def test_a_batch_matching_its_transaction_passes_with_its_ciphertext():
    sealed = _sealed()
    checked = verify_batch_against_transaction(_header(sealed.batch), sealed.id, _tx(sealed))
    assert checked == {**sealed.batch, "ciphertext": sealed.ciphertext, "tx_id": "t1"}


def test_an_offchain_batch_is_checked_by_its_header_alone():
    sealed = seal_batch(stream="plant", source="line-1", seq=1, prev_hash="", schema=SCHEMA,
                        rows=ROWS, data_key=KEY, key_epoch=1, payload_uri="s3://b/x")
    assert len(sealed.args) == 1
    checked = verify_batch_against_transaction(_header(sealed.batch), sealed.id, _tx(sealed))
    assert checked == {**sealed.batch, "tx_id": "t1"}
    with pytest.raises(RecordError, match="its ciphertext is not given; it is stored "
                                          "off-chain at s3://b/x"):
        prove_record(records.Schema.from_mapping(SCHEMA), checked, KEY, 0)
    assert prove_record(records.Schema.from_mapping(SCHEMA), checked, KEY, 0,
                        ciphertext=sealed.ciphertext).record == ROWS[0]


def test_a_changed_ciphertext_byte_in_the_transaction_is_named_by_the_payload_digest():
    sealed = _sealed()
    header, ciphertext = sealed.args
    for at in (0, len(ciphertext) // 2, len(ciphertext) - 1):  # nonce-side, body, GCM tag
        changed = bytearray(ciphertext)
        changed[at] ^= 1
        _batch_fails(_header(sealed.batch), sealed.id, _tx(sealed, args=(header, bytes(changed))),
                     "payload_sha256",
                     rf"^batch {sealed.id}: the ciphertext is not the one its header commits "
                     rf"to \(payload.sha256 and size\)$")
    _batch_fails(_header(sealed.batch), sealed.id, _tx(sealed, args=(header, ciphertext[:-1])),
                 "payload_sha256", "not the one its header commits to")
    _batch_fails(_header(sealed.batch), sealed.id, _tx(sealed, args=(header,)), "batch_id",
                 "its ciphertext is not given")


def test_a_changed_header_byte_in_the_transaction_is_named_by_the_batch_id():
    sealed = _sealed()
    header, ciphertext = sealed.args
    at = header.index(sealed.batch["payload"]["sha256"].encode()) + 5
    changed = header[:at] + (b"a" if header[at:at + 1] != b"a" else b"b") + header[at + 1:]
    _batch_fails(_header(sealed.batch), sealed.id, _tx(sealed, args=(changed, ciphertext)),
                 "batch_id",
                 rf"^batch {sealed.id}: the batch in transaction t1 hashes to [0-9a-f]{{64}} "
                 rf"\(changed or swapped\)$")
    _batch_fails(_header(sealed.batch), sealed.id, _tx(sealed, args=(b"{", ciphertext)),
                 "batch_id", "^transaction t1 does not hold a well-formed batch: ")


def test_a_swapped_batch_is_named():
    first = _sealed()
    second = _sealed(2, first.id)
    _batch_fails(_header(first.batch), first.id, _tx(second), "batch_id", "changed or swapped")
    _batch_fails(_header(second.batch), first.id, _tx(first), "batch_header",
                 f"world state answered batch {second.id}")
    # the header of the first with the ciphertext of the second: the digest names it
    _batch_fails(_header(first.batch), first.id,
                 _tx(first, args=(first.args[0], second.ciphertext)), "payload_sha256",
                 "not the one its header commits to")


def test_world_state_fields_must_equal_the_transactions():
    sealed = _sealed()
    batch = sealed.batch
    _batch_fails(dict(_header(batch), merkle_root="0" * 64), batch["id"], _tx(sealed),
                 "batch_header", "world state's merkle_root differs")
    _batch_fails(dict(_header(batch), producer={"msp_id": "Org2MSP", "id": "producer"}),
                 batch["id"], _tx(sealed), "batch_header",
                 "producer Org2MSP/producer is not the transaction's creator Org1MSP/producer")
    _batch_fails(dict(_header(batch), producer={"msp_id": "Org1MSP", "id": "other"}),
                 batch["id"], _tx(sealed), "batch_header", "producer Org1MSP/other is not")
    without = _header(batch)
    del without["public"]
    _batch_fails(without, batch["id"], _tx(sealed), "batch_header",
                 "world state's batch lacks public")
    _batch_fails(dict(_header(batch), payload={**batch["payload"], "size": 1}), batch["id"],
                 _tx(sealed), "batch_header", "world state's payload differs")
    # integers may come as decimal strings (the record format's integer rule)
    verify_batch_against_transaction(dict(_header(batch), seq="1"), batch["id"], _tx(sealed))


def test_the_transaction_must_be_the_named_valid_submit_batch():
    sealed = _sealed()
    batch = sealed.batch
    _batch_fails(_header(batch, "t2"), batch["id"], _tx(sealed), "transaction",
                 "world state names transaction t2, the block holds t1")
    _batch_fails(_header(batch), batch["id"], _tx(sealed, code=11), "transaction",
                 "is MVCC_READ_CONFLICT, not VALID")
    _batch_fails(_header(batch), batch["id"], _tx(sealed, function="CreateStream"),
                 "transaction", "not a SubmitBatch")


# -- records ------------------------------------------------------------------------------
def test_record_ids_are_batch_id_colon_index():
    batch_id = "ab" * 32
    assert RecordId.parse(f"{batch_id}:12") == RecordId(batch_id, 12)
    assert str(RecordId(batch_id, 0)) == f"{batch_id}:0"
    for bad in (batch_id, f"{batch_id}:-1", f"{batch_id}:01", f"{batch_id[:-1]}:1",
                f"{batch_id.upper()}:1"):
        with pytest.raises(ConfigError, match="a record id is BATCH_ID:INDEX"):
            RecordId.parse(bad)


@pytest.mark.parametrize("index", range(5))
def test_each_record_proves_its_place_in_the_merkle_root(index):
    sealed = _sealed()
    proof = prove_record(records.Schema.from_mapping(SCHEMA), sealed, KEY, index)
    assert proof.record == ROWS[index] and proof.salt == sealed.salts[index].hex()
    assert proof.leaf == sealed.commitments[index].hex()
    assert proof.merkle_root == sealed.batch["merkle_root"]
    assert len(proof.path) == (1 if index == 4 else 3)  # the odd fifth leaf is carried up
    check_record_proof(proof)


def test_a_record_left_out_of_a_proof_is_detected():
    sealed = _sealed()
    proof = prove_record(records.Schema.from_mapping(SCHEMA), sealed, KEY, 1)
    without_last = list(sealed.commitments[:4])  # record 4 left out
    path = tuple((s, h.hex()) for s, h in records.merkle_proof(without_last, 1))
    with pytest.raises(IntegrityError, match=r"record [0-9a-f]{64}:1: its Merkle path does not "
                                             r"lead to the batch's root") as raised:
        check_record_proof(dataclasses.replace(proof, path=path))
    assert raised.value.check == "merkle_proof"
    with pytest.raises(IntegrityError, match="Merkle path"):
        check_record_proof(dataclasses.replace(proof, path=proof.path[:-1]))


def test_a_changed_record_or_salt_no_longer_matches_its_commitment():
    sealed = _sealed()
    proof = prove_record(records.Schema.from_mapping(SCHEMA), sealed, KEY, 2)
    changed = dataclasses.replace(proof, record={**proof.record, "value": 99.5})
    with pytest.raises(IntegrityError, match=r"its commitment is not SHA-256\(salt ‖ record\)"):
        check_record_proof(changed)
    leaf = records.commitment(bytes.fromhex(proof.salt), changed.record).hex()
    with pytest.raises(IntegrityError, match="Merkle path"):
        check_record_proof(dataclasses.replace(changed, leaf=leaf))


def test_a_changed_ciphertext_byte_does_not_decrypt_and_an_index_out_of_range_is_named():
    sealed = _sealed()
    schema = records.Schema.from_mapping(SCHEMA)
    with pytest.raises(ConfigError, match="holds records 0 to 4"):
        prove_record(schema, sealed.batch, KEY, 5, ciphertext=sealed.ciphertext)
    changed = bytearray(sealed.ciphertext)
    changed[3] ^= 1
    with pytest.raises(IntegrityError, match="not the one its header commits to"):
        prove_record(schema, sealed.batch, KEY, 0, ciphertext=bytes(changed))
    # a header re-sealed around the changed bytes (digest and id recomputed): still refused,
    # by AES-GCM's tag
    payload = {**sealed.batch["payload"], "sha256": records.payload_digest(bytes(changed))}
    forged = {**sealed.batch, "payload": payload}
    forged["id"] = records.batch_id(forged)
    with pytest.raises(DecryptionError, match="did not decrypt"):
        prove_record(schema, forged, KEY, 0, ciphertext=bytes(changed))


def test_a_record_of_another_schema_version_is_named():
    sealed = _sealed()
    newer = records.Schema.from_mapping({**SCHEMA, "version": 2})
    with pytest.raises(RecordError, match="has schema version 1, not the given schema's 2"):
        prove_record(newer, sealed, KEY, 0)


def test_a_proof_serialises_with_its_path():
    sealed = _sealed()
    proof = prove_record(records.Schema.from_mapping(SCHEMA), sealed, KEY, 4)
    doc = proof.to_json()
    assert doc["record_id"] == f"{sealed.id}:4" and doc["record"] == ROWS[4]
    assert [p["side"] for p in doc["path"]] == ["left"]  # the odd leaf is carried up
    assert isinstance(proof, RecordProof)


def test_signature_metadata_that_does_not_parse_is_named_not_raised(raft_config):
    message = raw(9)
    message.metadata.metadata[common_pb2.SIGNATURES] = b"\x0a\xff"  # a length past the end
    changed = decode_block(message)
    assert (changed.signatures, changed.last_config) == ((), -1)
    _fails(changed, raft_config, "the signature metadata does not parse")


# -- a config update changes who may sign -------------------------------------------------
def cfg(n):
    return block(f"raftcfg-{n}")


def test_a_config_block_replaces_the_consenters_for_the_blocks_after_it():
    verifier = ChainVerifier()
    for n in range(6):
        verifier.add(cfg(n))
    report = verifier.report
    assert report.config_blocks == [0, 4] and cfg(5).last_config == 4
    assert report.signatures == {"orderer2 (OrdererMSP, 127.0.0.1:8610)": 4,
                                 "orderer1 (OrdererMSP, 127.0.0.1:8600)": 1}
    assert [c.port for c in verifier.config.consenters] == [8600, 8620]


def test_the_removed_consenter_may_no_longer_sign():
    after = ChannelConfig.from_block(cfg(4))
    _fails(cfg(3), after, r"signature 0 by orderer2 \(OrdererMSP\): not a consenter of config "
                          r"block 4")
    assert check_block_signatures(cfg(5), after) == ("orderer1 (OrdererMSP, 127.0.0.1:8600)",)


def test_a_chain_that_skips_a_config_block_is_named_by_the_last_config_index():
    genesis = ChannelConfig.from_block(cfg(0))
    verifier = ChainVerifier(genesis, cfg(4))  # as if block 4 were not a config block
    with pytest.raises(IntegrityError, match="^block 5: its last-config index is 4, not 0$"):
        verifier.add(cfg(5))


# -- signer identities: chains through intermediates, revocation, the orderer OU ---------
def _cert(subject: str, key, issuer=None, issuer_key=None, *, ca=False, ou="orderer"):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, subject)]
    if ou:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    name = x509.Name(attrs)
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer.subject if issuer else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return builder.sign(issuer_key or key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki():
    from cryptography.hazmat.primitives.asymmetric import ec

    keys = {n: ec.generate_private_key(ec.SECP256R1()) for n in ("root", "inter", "leaf", "x")}
    root = _cert("root", keys["root"], ca=True, ou="")
    inter = _cert("inter", keys["inter"], root, keys["root"], ca=True, ou="")
    leaf = _cert("orderer9", keys["leaf"], inter, keys["inter"])
    stranger = _cert("orderer9", keys["x"])  # same subject, self-issued
    client = _cert("someone", keys["x"], inter, keys["inter"], ou="client")
    return {"root": root, "inter": inter, "leaf": leaf, "stranger": stranger,
            "client": client, "keys": keys}


def _config_with(org, consenters=()):
    return ChannelConfig(0, "etcdraft", tuple(consenters), {org.msp_id: org})


def test_a_signer_chains_to_the_root_through_an_intermediate_only(pki):
    from ledgerlake.client.verify import OrdererOrg, _chains_to, _signer_problem

    assert _chains_to(pki["leaf"], [pki["root"]], [pki["inter"]])
    assert not _chains_to(pki["leaf"], [pki["root"]])
    assert not _chains_to(pki["stranger"], [pki["root"]], [pki["inter"]])
    org = OrdererOrg("OMSP", (pki["root"],), (pki["inter"],), orderer_ou="orderer")
    assert _signer_problem(pki["leaf"], "OMSP", _config_with(org)) == ""
    assert _signer_problem(pki["stranger"], "OMSP", _config_with(org)) == \
        "its certificate does not chain to OMSP's root CA"
    assert _signer_problem(pki["client"], "OMSP", _config_with(org)) == \
        "its certificate is not an orderer's (OU 'orderer')"


def test_a_revoked_signer_is_named(pki):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from ledgerlake.client.verify import OrdererOrg, _signer_problem

    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    revoked = (x509.RevokedCertificateBuilder().serial_number(pki["leaf"].serial_number)
               .revocation_date(now).build())
    crl = (x509.CertificateRevocationListBuilder().issuer_name(pki["inter"].subject)
           .last_update(now).next_update(now + datetime.timedelta(days=1))
           .add_revoked_certificate(revoked).sign(pki["keys"]["inter"], hashes.SHA256()))
    org = OrdererOrg("OMSP", (pki["root"],), (pki["inter"],), crls=(crl,))
    assert _signer_problem(pki["leaf"], "OMSP", _config_with(org)) == \
        "its certificate is revoked by OMSP"


def test_a_raft_consenter_is_matched_by_the_subject_of_a_tls_certificate_of_its_org(pki):
    from ledgerlake.client.verify import Consenter, OrdererOrg, _raft_consenter

    keys = pki["keys"]
    tls = _cert("orderer9", keys["x"], pki["inter"], keys["inter"])
    forged_tls = _cert("orderer9", keys["x"])  # right subject, issued by nobody of the org
    org = OrdererOrg("OMSP", (pki["root"],), (pki["inter"],))
    mine = Consenter("127.0.0.1", 7050, (tls,))
    assert _raft_consenter(pki["leaf"], "OMSP", _config_with(org, [mine])) is mine
    assert _raft_consenter(pki["leaf"], "OMSP",
                           _config_with(org, [Consenter("h", 1, (forged_tls,))])) is None


# -- proofs exported and checked without a key --------------------------------------------
@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 13, 17])
def test_path_sides_are_the_sides_of_each_positions_merkle_proof(count):
    from ledgerlake.client.verify import path_sides

    leaves = [bytes([i]) * 32 for i in range(count)]
    for index in range(count):
        assert path_sides(index, count) == tuple(
            side for side, _ in records.merkle_proof(leaves, index))
    assert len({path_sides(i, count) for i in range(count)}) == count  # one per position


def test_a_proof_reads_back_from_its_json_and_a_bad_field_is_named():
    sealed = _sealed()
    proof = prove_record(records.Schema.from_mapping(SCHEMA), sealed, KEY, 2)
    doc = json.loads(json.dumps(proof.to_json()))
    assert RecordProof.from_json(doc) == proof
    check_record_proof(RecordProof.from_json(doc))
    for field_, value, named in [("salt", "zz", "salt must be 32 lower-case hex digits"),
                                 ("record", [], "record must be a JSON object"),
                                 ("path", [{"side": "up", "hash": "0" * 64}], "path[0] must be"),
                                 ("merkle_root", "0", "merkle_root must be 64 lower-case hex"),
                                 ("record_id", "x", "a record id is BATCH_ID:INDEX")]:
        with pytest.raises(ConfigError, match=re.escape(named)):
            RecordProof.from_json({**doc, field_: value}, "proof.json")


def test_a_pinned_genesis_hash_anchors_the_chain():
    ChainVerifier(genesis_hash=bft(0).hash.hex().upper()).add(bft(0))
    with pytest.raises(IntegrityError, match=r"^block 0: its hash [0-9a-f]{64} is not the "
                                             r"genesis hash 00+ it was to be$") as raised:
        ChainVerifier(genesis_hash="0" * 64).add(bft(0))
    assert (raised.value.block_number, raised.value.check) == (0, "genesis")


def test_opening_a_batch_for_a_proof_is_the_one_opening_path():
    from ledgerlake.client.batches import open_batch_verified, open_batch_with_cursor

    sealed = seal_batch(stream="plant", source="line-1", seq=1, prev_hash="", schema=SCHEMA,
                        rows=ROWS, data_key=KEY, key_epoch=1, cursor={"offset": 5},
                        encoding="json")
    opened = open_batch_verified(SCHEMA, sealed, KEY)
    assert opened.records == ROWS and opened.cursor == {"offset": 5}
    assert opened.salts == [s.hex() for s in sealed.salts]
    assert opened.commitments == list(sealed.commitments)
    assert open_batch_with_cursor(SCHEMA, sealed, KEY) == (ROWS, {"offset": 5})
