import pytest
from cryptography.exceptions import InvalidTag

from ledgerlake.client import encryption
from ledgerlake.client.batches import open_batch, seal_batch
from ledgerlake.records import RecordError

SCHEMA = {"version": 1, "fields": [{"name": "v", "type": "float", "public": True}]}


def test_wrapped_key_opens_only_with_its_orgs_private_key():
    key = encryption.new_data_key()
    org, other = encryption.new_org_key(), encryption.new_org_key()
    wrapped = encryption.wrap_key(key, encryption.public_pem(org))
    assert encryption.unwrap_key(wrapped, org) == key
    with pytest.raises(InvalidTag):
        encryption.unwrap_key(wrapped, other)


def test_sealed_batch_round_trips_and_binds_its_context():
    key = encryption.new_data_key()
    sealed = seal_batch(stream="s", source="src", seq=1, prev_hash="", schema=SCHEMA,
                        rows=[{"v": 1.5}, {"v": 2.5}], data_key=key, key_epoch=1)
    assert open_batch(sealed.batch, key) == [{"v": 1.5}, {"v": 2.5}]
    assert sealed.batch["public"] == [{"v": 1.5}, {"v": 2.5}]
    moved = dict(sealed.batch, seq=2)  # the same ciphertext replayed under another seq
    with pytest.raises(InvalidTag):
        open_batch(moved, key)
    with pytest.raises(RecordError, match="must be of type float"):
        seal_batch(stream="s", source="src", seq=1, prev_hash="", schema=SCHEMA,
                   rows=[{"v": "hot"}], data_key=key, key_epoch=1)


def test_open_batch_refuses_records_that_do_not_match_the_batch():
    key = encryption.new_data_key()
    sealed = seal_batch(stream="s", source="src", seq=1, prev_hash="", schema=SCHEMA,
                        rows=[{"v": 1.5}], data_key=key, key_epoch=1)
    lying = dict(sealed.batch, public=[{"v": 9.0}])
    with pytest.raises(RecordError, match="id is not the hash"):
        open_batch(lying, key)


def test_plaintext_needs_named_reader_endorsers():
    from ledgerlake.client.batches import submit_batch_flow
    from ledgerlake.errors import ConfigError
    key = encryption.new_data_key()
    sealed = seal_batch(stream="s", source="src", seq=1, prev_hash="", schema=SCHEMA,
                        rows=[{"v": 1.5}], data_key=key, key_epoch=1)
    with pytest.raises(ConfigError, match="endorsing_organizations"):
        next(submit_batch_flow(None, sealed, send_plaintext=True))
