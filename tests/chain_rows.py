"""Read back what an ingest committed: every record of one (stream, source) chain, decrypted,
in chain order, with the chain's sequence numbers checked to run 1, 2, 3 … without a gap."""

from __future__ import annotations

from ledgerlake.client.batches import open_batch_with_cursor


def chain_rows(api, stream: str, source: str, schema, data_key: bytes) -> list[dict]:
    """``api``: a reader's LedgerlakeContract; ``schema``: the stream's schema (dict)."""
    batches = sorted(api.items(api.list_batches, stream, source=source), key=lambda b: b.seq)
    assert [b.seq for b in batches] == list(range(1, len(batches) + 1))
    rows: list[dict] = []
    for b in batches:
        full = api.get_batch(stream, b.id)
        raw = dict(full.raw)
        if getattr(full, "ciphertext", None) is not None:
            raw["ciphertext"] = full.ciphertext
        rows += open_batch_with_cursor(schema, raw, data_key)[0]
    return rows
