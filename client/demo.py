"""The demo's round trip through the typed API, for any network: create the demo stream
(when absent), open it as the first organisation's analyst (an audited ticket, then its
wrapped data key, unwrapped with the organisation's own key), submit one encrypted batch
as its producer with the plaintext checked by every organisation's endorser, read the batch
back and decrypt it. The CLI's ``ledgerlake demo`` adds the local network around it."""

from __future__ import annotations

import random
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Callable, Sequence

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ledgerlake.client.batches import seal_batch
from ledgerlake.client.models import Batch, BatchReceipt, Stream
from ledgerlake.client.streams import Settle, create_stream, open_data_keys
from ledgerlake.errors import DecryptionError, EndorseError, LedgerlakeError
from ledgerlake.protocol import ErrorCode

SCHEMA = {"version": 1, "fields": [
    {"name": "sensor", "type": "string", "public": True},
    {"name": "temperature_c", "type": "float", "unit": "°C", "min": -40, "max": 125},
    {"name": "ts", "type": "timestamp"}]}
SOURCE = "demo-line"
DESCRIPTION = "ledgerlake demo: temperatures of a production line"

#: ``api_for("Org1/analyst")`` opens the typed API as that identity (a context manager).
ApiFor = Callable[[str], AbstractContextManager]


@dataclass(frozen=True)
class DemoRun:
    stream: Stream
    created: bool
    receipt: BatchReceipt
    written: list
    read: list
    stored: Batch
    commit_seconds: float


def demo_stream(api, name: str, msp_ids: Sequence[str], settle: Settle = None) -> tuple:
    """The demo stream (readers: every organisation; writers: the first), created when
    absent; an existing one is used as it is. Returns ``(stream, created)``."""
    try:
        return api.get_stream(name), False
    except EndorseError as exc:
        if exc.error_code is not ErrorCode.NOT_FOUND:
            raise
    made = create_stream(api, name, SCHEMA, readers=list(msp_ids), writers=[msp_ids[0]],
                         description=DESCRIPTION)
    if settle is not None:
        settle()
    return made.stream, made.created


def run_demo(api_for: ApiFor, orgs: Sequence[tuple[str, str]],
             org_keys: Sequence[X25519PrivateKey], *, stream_name: str = "demo-sensors",
             count: int = 3, settle: Settle = None) -> DemoRun:
    """Write ``count`` records to the demo stream as ``orgs[0]``'s producer and read them
    back. ``orgs``: ``(name, msp_id)`` of every organisation (the first writes and reads);
    ``org_keys``: the first organisation's private keys, current first."""
    first, msp_ids = orgs[0][0], [m for _, m in orgs]
    with api_for(f"{first}/admin") as admin:
        stream, created = demo_stream(admin, stream_name, msp_ids, settle)
    with api_for(f"{first}/analyst") as analyst:
        try:
            data_keys = open_data_keys(analyst, stream_name,
                                       "ledgerlake demo: write and read back", org_keys)
        except DecryptionError:
            raise LedgerlakeError(f"stream {stream_name!r} was created for another "
                                  f"{msp_ids[0]} key than this network's; use --stream NEW") \
                from None
        data_key = data_keys[stream.epoch]
        last = max(analyst.items(analyst.list_batches, stream_name, source=SOURCE),
                   key=lambda b: b.seq, default=None)
    now = time.time_ns()
    rows = [{"sensor": f"t{i + 1}", "temperature_c": round(random.uniform(18, 26), 2),
             "ts": now - (count - 1 - i) * 10**9} for i in range(count)]  # one a second
    sealed = seal_batch(stream=stream_name, source=SOURCE, seq=last.seq + 1 if last else 1,
                        prev_hash=last.id if last else "", schema=stream.schema, rows=rows,
                        data_key=data_key, key_epoch=stream.epoch)
    started = time.monotonic()
    with api_for(f"{first}/producer") as producer:
        receipt = producer.submit_batch(sealed, send_plaintext=True,
                                        endorsing_organizations=sorted(msp_ids))
    commit_seconds = time.monotonic() - started
    with api_for(f"{first}/analyst") as analyst:
        stored = analyst.get_batch(stream_name, receipt.id)
    read = stored.open(data_key, stream.schema)
    if read != rows:
        raise LedgerlakeError(f"batch {receipt.id} read back differs from what was written")
    return DemoRun(stream, created, receipt, rows, read, stored, commit_seconds)
