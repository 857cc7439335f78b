"""Block decoding against Fabric's own decoder, on blocks captured off a real network."""

import json
from pathlib import Path

import pytest
from fabric_protos.common import common_pb2

from blockcheck import normalize
from ledgerlake.client.blocks import block_hash, data_hash, decode_block, verify_chain
from ledgerlake.errors import IntegrityError

DATA = Path(__file__).parents[2] / "data" / "blocks"
NUMBERS = (0, 3, 8, 9, "bft-3", "bft-5", "bft-6")  # bft-*: from a SmartBFT network


@pytest.mark.parametrize("number", NUMBERS)
def test_decoder_agrees_with_configtxlator(number):
    raw = (DATA / f"{number}.block").read_bytes()
    expected = json.loads((DATA / f"{number}.configtxlator.json").read_text())
    assert normalize(decode_block(raw)) == expected


def test_smartbft_blocks_are_signed_by_a_quorum_of_consenters_named_by_id():
    """SmartBFT signers carry an identifier header (consenter id), not a certificate: the
    comparison above covers those ids, and they must be distinct consenters of the four."""
    for number in ("bft-3", "bft-5", "bft-6"):
        block = decode_block((DATA / f"{number}.block").read_bytes())
        ids = [s.consenter_id for s in block.signatures]
        assert len(ids) >= 3 and len(set(ids)) == len(ids) and set(ids) <= {1, 2, 3, 4}
        assert all(s.creator is None and s.signature for s in block.signatures)
    expected = json.loads((DATA / "bft-6.configtxlator.json").read_text())
    assert [s["consenter_id"] for s in expected["signatures"]] == ids


def test_block_8_has_a_valid_and_an_mvcc_conflicting_append():
    block = decode_block((DATA / "8.block").read_bytes())
    appends = [t for t in block.transactions if t.function == "append"]
    assert {t.validation_code_name for t in appends} >= {"VALID", "MVCC_READ_CONFLICT"}
    assert all(t.creator.enrollment_id.startswith("producer") for t in appends)


@pytest.mark.parametrize("number", NUMBERS)
def test_data_hash_in_the_header_covers_the_data(number):
    raw = common_pb2.Block.FromString((DATA / f"{number}.block").read_bytes())
    assert data_hash(raw) == raw.header.data_hash


@pytest.mark.parametrize("pair", [(8, 9), ("bft-5", "bft-6")])
def test_consecutive_blocks_chain_by_header_hash(pair):
    eight, nine = (decode_block((DATA / f"{n}.block").read_bytes()) for n in pair)
    assert nine.previous_hash == block_hash(eight.number, eight.previous_hash, eight.data_hash)
    verify_chain([eight, nine])


def test_a_tampered_block_breaks_the_chain():
    eight, nine = (decode_block((DATA / f"{n}.block").read_bytes()) for n in (8, 9))
    raw = common_pb2.Block()
    raw.CopyFrom(eight.raw)
    raw.data.data.append(raw.data.data[0])  # an envelope smuggled in after ordering
    with pytest.raises(IntegrityError, match="block 8: data hash") as info:
        verify_chain([decode_block(raw), nine])
    assert (info.value.block_number, info.value.check) == (8, "data_hash")
    forged = decode_block(eight.raw)
    object.__setattr__(forged, "previous_hash", b"\0" * 32)
    with pytest.raises(IntegrityError, match="block 9: previous hash") as info:
        verify_chain([forged, nine])
    assert (info.value.block_number, info.value.check) == (9, "previous_hash")
    with pytest.raises(IntegrityError, match="block 9 follows block 9") as info:
        verify_chain([nine, nine])
    assert (info.value.block_number, info.value.check) == (9, "number")


def test_block_hash_der_handles_long_lengths_and_big_numbers():
    # 2^63 needs a leading zero byte to stay a positive INTEGER in DER
    assert block_hash(2**63, b"a" * 200, b"b" * 32) != block_hash(2**63 - 1, b"a" * 200, b"b" * 32)


def test_an_undecodable_transaction_is_reported_not_raised():
    raw = common_pb2.Block()
    raw.CopyFrom(common_pb2.Block.FromString((DATA / "9.block").read_bytes()))
    raw.data.data.append(b"\xff\xfe not a protobuf envelope")
    block = decode_block(raw)
    assert block.transactions[-1].decode_error
    assert block.transactions[-1].validation_code_name == "NOT_VALIDATED"  # no flag for it
    assert all(not t.decode_error for t in block.transactions[:-1])


def test_a_timestamp_beyond_datetime_is_clamped():
    from ledgerlake.client.blocks import _timestamp
    assert _timestamp(10**12, 0).year == 9999
    assert _timestamp(0, 500_000).microsecond == 500
