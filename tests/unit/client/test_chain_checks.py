"""The block hash chain, checked against DER written out by hand (Fabric hashes the ASN.1
DER of number, previous hash and data hash) for the lengths and numbers real test blocks
never reach, and the errors verify_chain raises. Killing mutants of client/blocks.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fabric_protos.common import common_pb2

from ledgerlake.client.blocks import block_hash, data_hash, decode_block, verify_chain
from ledgerlake.errors import IntegrityError

DATA = Path(__file__).parents[2] / "data" / "blocks"


def der_hash(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


@pytest.mark.parametrize("number, encoded", [
    (0, b"\x02\x01\x00"), (1, b"\x02\x01\x01"), (127, b"\x02\x01\x7f"),
    (128, b"\x02\x02\x00\x80"), (255, b"\x02\x02\x00\xff"), (256, b"\x02\x02\x01\x00"),
    (2**63, b"\x02\x09\x00\x80" + b"\x00" * 7), (2**64 - 1, b"\x02\x09\x00" + b"\xff" * 8),
])
def test_block_numbers_are_der_integers(number, encoded):
    prev, data = b"p" * 32, b"d" * 32
    body = encoded + b"\x04\x20" + prev + b"\x04\x20" + data
    assert block_hash(number, prev, data) == der_hash(b"\x30", bytes([len(body)]), body)


@pytest.mark.parametrize("size, length", [
    (127, b"\x7f"), (128, b"\x81\x80"), (200, b"\x81\xc8"), (255, b"\x81\xff"),
    (256, b"\x82\x01\x00"), (300, b"\x82\x01\x2c"), (70000, b"\x83\x01\x11\x70"),
])
def test_long_hashes_use_der_long_form_lengths(size, length):
    prev, data = b"p" * size, b""
    body = b"\x02\x01\x05" + b"\x04" + length + prev + b"\x04\x00"
    n = len(body)
    seq_length = bytes([n]) if n < 128 else \
        bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    assert block_hash(5, prev, data) == der_hash(b"\x30", seq_length, body)


def test_data_hash_is_sha256_of_the_concatenated_envelopes():
    raw = common_pb2.Block.FromString((DATA / "9.block").read_bytes())
    assert data_hash(raw) == hashlib.sha256(b"".join(raw.data.data)).digest()
    raw.data.data[0] = raw.data.data[0] + b"\x00"
    assert data_hash(raw) != raw.header.data_hash


def blocks(*names):
    return [decode_block((DATA / f"{n}.block").read_bytes()) for n in names]


def test_a_gap_in_numbers_is_named():
    three, _, nine = blocks(3, 8, 9)
    with pytest.raises(IntegrityError, match=r"^block 9 follows block 3$") as raised:
        verify_chain([three, nine])
    assert (raised.value.block_number, raised.value.check) == (9, "number")


def test_a_wrong_previous_hash_is_named():
    eight, nine = blocks(8, 9)
    forged = decode_block(eight.raw)
    object.__setattr__(forged, "previous_hash", b"\0" * 32)
    with pytest.raises(IntegrityError,
                       match=r"^block 9: previous hash does not match the hash of block 8$") as raised:
        verify_chain([forged, nine])
    assert (raised.value.block_number, raised.value.check) == (9, "previous_hash")


def test_a_tampered_envelope_is_named_by_its_block():
    nine = blocks(9)[0]
    raw = common_pb2.Block()
    raw.CopyFrom(nine.raw)
    raw.data.data[-1] = raw.data.data[-1][:-1]
    with pytest.raises(IntegrityError, match=r"^block 9: data hash does not match its data$") as raised:
        verify_chain([decode_block(raw)])
    assert (raised.value.block_number, raised.value.check) == (9, "data_hash")


def test_the_first_and_last_blocks_are_checked_too():
    five, six = blocks("bft-5", "bft-6")
    for position in (0, 1):
        pair = [decode_block(five.raw), decode_block(six.raw)]
        raw = common_pb2.Block()
        raw.CopyFrom(pair[position].raw)
        raw.data.data.append(b"smuggled")
        pair[position] = decode_block(raw)
        with pytest.raises(IntegrityError, match="data hash") as raised:
            verify_chain(pair)
        assert (raised.value.block_number, raised.value.check) == ((5, 6)[position], "data_hash")
    verify_chain([five, six])
    verify_chain([])


def test_chains_of_real_blocks_verify():
    verify_chain(blocks(8, 9))
    verify_chain(blocks("bft-5", "bft-6"))
    with pytest.raises(IntegrityError) as raised:
        verify_chain(blocks(9, 8))
    assert (raised.value.block_number, raised.value.check) == (8, "number")


def test_header_hash_is_the_block_hash_of_the_header():
    raw = common_pb2.Block.FromString((DATA / "8.block").read_bytes())
    from ledgerlake.client.blocks import header_hash
    nine = decode_block((DATA / "9.block").read_bytes())
    assert header_hash(raw.header) == nine.previous_hash
    assert header_hash(raw.header) == block_hash(8, raw.header.previous_hash, raw.header.data_hash)


# -- decoding at the edges (what a listener sees for odd blocks) ---------------------------
def test_transactions_keep_their_index_and_an_unvalidated_block_says_so():
    raw = common_pb2.Block()
    raw.CopyFrom(common_pb2.Block.FromString((DATA / "9.block").read_bytes()))
    assert [t.index for t in decode_block(raw).transactions] == list(range(len(raw.data.data)))
    del raw.metadata.metadata[:]  # a block straight from an orderer, before validation
    block = decode_block(raw)
    assert {t.validation_code_name for t in block.transactions} == {"NOT_VALIDATED"}
    assert (block.signatures, block.last_config) == ((), 0)
    raw.metadata.metadata.extend([b"", b"", b""])  # entries there, but no signatures yet
    block = decode_block(raw)
    assert (block.signatures, block.last_config) == ((), 0)
    assert {t.validation_code_name for t in block.transactions} == {"NOT_VALIDATED"}


def test_an_undecodable_envelope_has_empty_fields_and_its_index():
    from ledgerlake.client.blocks import Creator, decode_transaction
    tx = decode_transaction(7, b"\xff\xfe not a protobuf", 0)
    assert (tx.index, tx.tx_id, tx.channel_id, tx.type, tx.creator) == (7, "", "", "",
                                                                        Creator("", b"", {}, ""))
    assert tx.timestamp.timestamp() == 0 and tx.timestamp.tzinfo is not None
    assert tx.decode_error.startswith("DecodeError: ")


def test_timestamps_out_of_range_are_clamped_to_aware_datetimes():
    from ledgerlake.client.blocks import _timestamp
    high, low = _timestamp(10**12, 0), _timestamp(-(10**12), 0)
    assert high.year == 9999 and high.tzinfo is not None
    assert low.timestamp() == 0 and low.tzinfo is not None


def test_an_unknown_header_type_is_shown_as_its_number():
    from ledgerlake.client.blocks import _type_name
    assert _type_name(3) == "ENDORSER_TRANSACTION"
    assert _type_name(4242) == "4242"


def test_a_config_block_has_no_chaincode_call():
    zero = decode_block((DATA / "0.block").read_bytes())
    assert [(t.type, t.chaincode, t.function, t.args) for t in zero.transactions] == \
        [("CONFIG", "", "", ())]


@pytest.mark.parametrize("entries, codes", [
    (2, "NOT_VALIDATED"),  # no TRANSACTIONS_FILTER entry (index 2) at all
    (3, "VALID"),          # the filter is the last entry there is
])
def test_validation_flags_are_read_only_where_the_filter_entry_exists(entries, codes):
    raw = common_pb2.Block()
    raw.CopyFrom(common_pb2.Block.FromString((DATA / "9.block").read_bytes()))
    flags = bytes(len(raw.data.data))  # 0 = VALID for every transaction
    kept = list(raw.metadata.metadata[:2])
    del raw.metadata.metadata[:]
    raw.metadata.metadata.extend(kept + ([flags] if entries == 3 else []))
    block = decode_block(raw)
    assert {t.validation_code_name for t in block.transactions} == {codes}
    assert block.signatures  # the signature entry (index 0) is still read


def test_signatures_without_orderer_block_metadata_name_no_last_config():
    raw = common_pb2.Block()
    raw.CopyFrom(common_pb2.Block.FromString((DATA / "9.block").read_bytes()))
    meta = common_pb2.Metadata.FromString(raw.metadata.metadata[common_pb2.SIGNATURES])
    meta.ClearField("value")
    raw.metadata.metadata[common_pb2.SIGNATURES] = meta.SerializeToString()
    block = decode_block(raw)
    assert block.last_config == 0 and len(block.signatures) == len(meta.signatures)
