from ledgerlake.client.checkpoint import FileCheckpointer, InMemoryCheckpointer
from ledgerlake.client.events import ChaincodeEventMessage


def test_event_checkpoint_resumes_after_its_transaction():
    cp = InMemoryCheckpointer()
    assert cp.block_number is None
    cp.checkpoint_event(ChaincodeEventMessage(5, "tx9", "cc", "E", b""))
    assert (cp.block_number, cp.transaction_id) == (5, "tx9")
    cp.checkpoint_block(5)
    assert (cp.block_number, cp.transaction_id) == (6, "")


def test_file_checkpoint_survives_a_restart(tmp_path):
    path = tmp_path / "cp" / "events.json"
    FileCheckpointer(path).checkpoint_transaction(12, "abc")
    again = FileCheckpointer(path)
    assert (again.block_number, again.transaction_id) == (12, "abc")
    assert not path.with_suffix(".json.tmp").exists()
