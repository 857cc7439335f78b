import base64

import pytest

from ledgerlake.client import encryption
from ledgerlake import records
from ledgerlake.client.batches import open_batch, seal_batch
from ledgerlake.errors import DecryptionError
from ledgerlake.records import RecordError

SCHEMA = {"version": 1, "fields": [{"name": "v", "type": "float", "public": True}]}
CONTEXT = {"stream": "plant", "epoch": 1, "msp_id": "Org2MSP"}


def test_wrapped_key_opens_only_with_its_orgs_private_key():
    key = encryption.new_data_key()
    org, other = encryption.new_org_key(), encryption.new_org_key()
    wrapped = encryption.wrap_key(key, encryption.public_pem(org), **CONTEXT)
    assert encryption.unwrap_key(wrapped, org, **CONTEXT) == key
    with pytest.raises(DecryptionError, match="wrapped key of 'plant' epoch 1 for Org2MSP"):
        encryption.unwrap_key(wrapped, other, **CONTEXT)


@pytest.mark.parametrize("moved", [{"stream": "other"}, {"epoch": 2}, {"msp_id": "Org3MSP"}])
def test_a_wrapped_key_copied_to_another_stream_epoch_or_org_does_not_unwrap(moved):
    key, org = encryption.new_data_key(), encryption.new_org_key()
    wrapped = encryption.wrap_key(key, encryption.public_pem(org), **CONTEXT)
    with pytest.raises(DecryptionError, match="did not decrypt"):
        encryption.unwrap_key(wrapped, org, **{**CONTEXT, **moved})


@pytest.mark.parametrize("wrapped, reason", [
    ("not base64!", "not base64"),
    (base64.b64encode(b"short").decode(), "has 5 bytes"),
    (base64.b64encode(bytes(92)).decode(), "not a usable X25519 key"),
])
def test_a_broken_wrapped_key_raises_decryption_error_naming_it(wrapped, reason):
    with pytest.raises(DecryptionError, match=reason) as info:
        encryption.unwrap_key(wrapped, encryption.new_org_key(), **CONTEXT)
    assert info.value.what == "the wrapped key of 'plant' epoch 1 for Org2MSP"


def test_wrapping_refuses_a_key_that_is_not_x25519_and_a_bad_context():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    key = encryption.new_data_key()
    with pytest.raises(RecordError, match="X25519 public key"):
        encryption.wrap_key(key, p256, **CONTEXT)
    with pytest.raises(RecordError, match="X25519 public key"):
        encryption.wrap_key(key, "garbage", **CONTEXT)
    pem = encryption.public_pem(encryption.new_org_key())
    with pytest.raises(RecordError, match="epoch"):
        encryption.wrap_key(key, pem, **{**CONTEXT, "epoch": 0})
    with pytest.raises(RecordError, match="msp_id must be an identifier"):
        encryption.wrap_key(key, pem, **{**CONTEXT, "msp_id": "Org 2"})


def test_decrypt_names_what_failed_and_checks_lengths():
    key = encryption.new_data_key()
    nonce, ct = encryption.encrypt(key, b"secret", b"aad")
    assert encryption.decrypt(key, nonce, ct, b"aad") == b"secret"
    with pytest.raises(DecryptionError, match="batch x did not decrypt: wrong key"):
        encryption.decrypt(key, nonce, ct, b"other aad", what="batch x")
    with pytest.raises(DecryptionError, match="nonce has 11 bytes"):
        encryption.decrypt(key, nonce[:11], ct, b"aad")
    with pytest.raises(DecryptionError, match="data key has 16 bytes"):
        encryption.decrypt(key[:16], nonce, ct, b"aad")


def seal(rows, key, **opts):
    return seal_batch(**{"stream": "s", "source": "src", "seq": 1, "prev_hash": "",
                         "schema": SCHEMA, "rows": rows, "data_key": key, "key_epoch": 1,
                         **opts})


def test_sealed_batch_round_trips_and_binds_its_context():
    key = encryption.new_data_key()
    sealed = seal([{"v": 1.5}, {"v": 2.5}], key)
    assert open_batch(SCHEMA, sealed, key) == [{"v": 1.5}, {"v": 2.5}]
    assert sealed.batch["public"] == {"v": [1.5, 2.5]}
    with pytest.raises(RecordError, match="must be of type float"):
        seal([{"v": "hot"}], key)


def test_a_batch_replayed_under_another_seq_does_not_decrypt():
    from ledgerlake import records
    key = encryption.new_data_key()
    sealed = seal([{"v": 1.5}], key, seq=2, prev_hash="a" * 64)
    moved = dict(sealed.batch, seq=3)  # the same ciphertext replayed under another seq
    moved["id"] = records.batch_id(moved)
    with pytest.raises(DecryptionError, match=f"payload of batch {moved['id']}"):
        open_batch(SCHEMA, moved, key, ciphertext=sealed.ciphertext)
    with pytest.raises(DecryptionError, match="did not decrypt"):
        open_batch(SCHEMA, sealed, encryption.new_data_key())


def test_open_batch_refuses_records_that_do_not_match_the_batch():
    from ledgerlake import records
    key = encryption.new_data_key()
    sealed = seal([{"v": 1.5}], key)
    lying = dict(sealed.batch, public={"v": [9.0]})
    with pytest.raises(RecordError, match="id is not the hash"):
        open_batch(SCHEMA, lying, key, ciphertext=sealed.ciphertext)
    lying["id"] = records.batch_id(lying)  # a consistent batch whose records disagree
    with pytest.raises(RecordError, match="record 0 differs from its public fields"):
        open_batch(SCHEMA, lying, key, ciphertext=sealed.ciphertext)
    other_root = dict(sealed.batch, merkle_root="0" * 64)
    other_root["id"] = records.batch_id(other_root)
    with pytest.raises(RecordError, match="do not match its merkle_root"):
        open_batch(SCHEMA, other_root, key, ciphertext=sealed.ciphertext)
    newer = {"version": 2, "fields": SCHEMA["fields"]}
    with pytest.raises(RecordError, match="schema version 1"):
        open_batch(newer, sealed, key)


def test_open_batch_checks_records_against_the_stream_schema():
    # A producer that sealed under a looser schema: the reader's schema decides.
    key = encryption.new_data_key()
    loose = {"version": 1, "fields": [{"name": "v", "type": "float", "public": True}]}
    strict = {"version": 1, "fields": [{"name": "v", "type": "float", "public": True,
                                        "max": 2.0}]}
    sealed = seal([{"v": 2.5}], key, schema=loose)
    with pytest.raises(RecordError, match="above its maximum"):
        open_batch(strict, sealed, key)


def test_open_batch_reads_a_stored_batch_with_extra_fields_and_string_integers():
    from ledgerlake import records
    key = encryption.new_data_key()
    sealed = seal([{"v": 1.5}], key)
    # What GetBatch answers: the canonical form (big integers as strings) plus fields the
    # chaincode adds.
    stored = records.parse_json(records.canonical(
        {**sealed.batch, "tx_id": "t", "producer": {"msp_id": "Org1MSP"}}))
    assert isinstance(stored["time_start"], str)
    assert open_batch(SCHEMA, stored, key, ciphertext=sealed.ciphertext) == [{"v": 1.5}]


def test_an_off_chain_payload_opens_with_the_ciphertext_its_digest_names():
    from ledgerlake.errors import IntegrityError
    key = encryption.new_data_key()
    sealed = seal([{"v": 1.5}], key, payload_uri="s3://bucket/batch-1")
    assert sealed.batch["payload"]["uri"] == "s3://bucket/batch-1"
    assert sealed.args == (records.canonical(sealed.batch),)  # no ciphertext argument
    with pytest.raises(RecordError, match="stored off-chain at s3://bucket/batch-1"):
        open_batch(SCHEMA, sealed.batch, key)
    assert open_batch(SCHEMA, sealed.batch, key, ciphertext=sealed.ciphertext) == [{"v": 1.5}]
    other = seal([{"v": 1.5}], key).ciphertext
    with pytest.raises(IntegrityError, match=f"batch {sealed.id}: the ciphertext is not"):
        open_batch(SCHEMA, sealed.batch, key, ciphertext=other)


def test_a_changed_or_swapped_ciphertext_is_named_before_decrypting():
    from ledgerlake.errors import IntegrityError
    key = encryption.new_data_key()
    sealed = seal([{"v": 1.5}], key)
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    swapped = seal([{"v": 1.5}], key).ciphertext  # same size, another batch's
    for bad in (flipped, swapped, sealed.ciphertext + b"x"):
        with pytest.raises(IntegrityError, match=f"batch {sealed.id}: the ciphertext") as err:
            open_batch(SCHEMA, sealed.batch, key, ciphertext=bad)
        assert err.value.check == "payload_sha256"
    with pytest.raises(RecordError, match=f"batch {sealed.id}: its ciphertext is not given"):
        open_batch(SCHEMA, sealed.batch, key)


def test_plaintext_needs_named_reader_endorsers():
    from ledgerlake.client.batches import submit_batch_flow
    from ledgerlake.errors import ConfigError
    key = encryption.new_data_key()
    sealed = seal([{"v": 1.5}], key)
    with pytest.raises(ConfigError, match="endorsing_organizations"):
        next(submit_batch_flow(None, sealed, send_plaintext=True))


def test_keys_released_by_open_stream_unwrap_by_epoch():
    from ledgerlake.client.models import StreamKeys
    org = encryption.new_org_key()
    keys = {1: encryption.new_data_key(), 2: encryption.new_data_key()}
    opened = {"stream": "plant", "msp_id": "Org2MSP", "wrapped_keys": {
        str(e): encryption.wrap_key(k, encryption.public_pem(org), stream="plant", epoch=e,
                                    msp_id="Org2MSP") for e, k in keys.items()}}
    assert StreamKeys.from_json(opened).unwrap(org) == keys
    swapped = {**opened, "wrapped_keys": {"1": opened["wrapped_keys"]["2"]}}
    with pytest.raises(DecryptionError, match="'plant' epoch 1 for Org2MSP"):
        StreamKeys.from_json(swapped).unwrap(org)
