"""Where an event listener got to, so it resumes with nothing missed or repeated.

A checkpoint is a block number plus, within that block, the id of the last transaction
processed (empty when the whole block before it is done). After a listener processes an
event it calls ``checkpoint_event``; after a whole block, ``checkpoint_block``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class InMemoryCheckpointer:
    """A checkpoint kept in memory (lost when the process ends)."""

    def __init__(self) -> None:
        self.block_number: int | None = None
        self.transaction_id: str = ""

    def checkpoint_block(self, block_number: int) -> None:
        """Block ``block_number`` is fully processed: resume at the next block."""
        self._save(block_number + 1, "")

    def checkpoint_transaction(self, block_number: int, transaction_id: str) -> None:
        self._save(block_number, transaction_id)

    def checkpoint_event(self, event) -> None:
        """A chaincode event is processed: resume after its transaction."""
        self._save(event.block_number, event.transaction_id)

    def _save(self, block_number: int, transaction_id: str) -> None:
        self.block_number = block_number
        self.transaction_id = transaction_id


class FileCheckpointer(InMemoryCheckpointer):
    """A checkpoint kept in a JSON file, replaced atomically on every update."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        if self.path.exists():
            data = json.loads(self.path.read_text())
            self.block_number = data.get("block_number")
            self.transaction_id = data.get("transaction_id", "")

    def _save(self, block_number: int, transaction_id: str) -> None:
        super()._save(block_number, transaction_id)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps({"block_number": block_number,
                                   "transaction_id": transaction_id}))
        os.replace(tmp, self.path)
