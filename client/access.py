"""Audited access to a stream's data keys, as the design requires: a submitted (and so
audited) ``OpenStream`` issues a ticket; only then are the organisation's wrapped keys
released by ``GetStreamKeys`` and unwrapped locally."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ledgerlake.client.encryption import unwrap_key
from ledgerlake.client.transaction import Proposal, submit_flow


def open_stream_flow(contract, stream: str, purpose: str, **scope: Any):
    request = json.dumps({"purpose": purpose, **scope})
    opened = json.loads((yield from submit_flow(
        contract.new_proposal("OpenStream", [stream, request]))))
    proposal: Proposal = contract.new_proposal("GetStreamKeys", [stream, opened["ticket"]])
    return json.loads((yield from proposal.evaluate_flow()))


def open_stream(contract, stream: str, purpose: str, **scope: Any):
    """Open ``stream`` for ``purpose`` (scope: epoch, block_from/to, time_from/to); returns
    ``{"wrapped_keys": {epoch: base64}, "ticket": tx_id, …}`` (an awaitable with an asyncio
    gateway). Raises EndorseError when the caller may not open the stream."""
    return contract.network.gateway.run(open_stream_flow(contract, stream, purpose, **scope))


def unwrap_keys(opened: dict, org_key: X25519PrivateKey) -> dict[int, bytes]:
    """The data keys, by epoch, from ``open_stream``'s answer, unwrapped with the
    organisation's private key; each is bound to the answer's stream, its epoch and the
    organisation. Raises DecryptionError naming the first key that does not unwrap."""
    return {int(epoch): unwrap_key(wrapped, org_key, stream=opened["stream"],
                                   epoch=int(epoch), msp_id=opened["msp_id"])
            for epoch, wrapped in opened["wrapped_keys"].items()}
