"""The ledgerlake contract: streams, record batches, key grants, audited access, audit
trail and lineage anchors.

Access is decided from the certificate alone (MSP ID + the ``ledgerlake.role`` attribute
the CA put in it), never from arguments; a denial names the rule that failed. The rules
govern what the chaincode answers and writes: every channel member can still read blocks
(ciphertexts, public fields, wrapped keys) through the peers' Deliver service, which is why
payloads are encrypted and keys wrapped per reader organisation. Every
state-changing function writes one audit entry and emits one chaincode event. Keys are laid
out so that producers on different sources never write the same key.

State (composite keys; ``ts`` is a 20-digit nanosecond timestamp):

    stream      (id)                         the stream: owner, schema, writers, readers, epoch
    grant       (stream, epoch, msp)         the data key of that epoch wrapped for that org
    orgkey      (msp)                        an organisation's encryption public key
    batch       (stream, batch id)           a batch (ciphertext or pointer, commitments)
    head        (stream, source)             the source's last seq and batch id (its chain)
    bysource    (stream, source, seq)        batch id, in sequence order
    bytime      (stream, ts start, batch id) batch id, in time order
    audit       (tx id)                      the audit entry of a transaction
    audit~actor / audit~stream / audit~action (value, ts, tx id), audit~time (ts, tx id)
    ticket      (stream, tx id)              an OpenStream ticket (epochs, expiry, generation)
    lineage     (receipt id)                 an anchored lineage receipt

Every refusal is a ``ChaincodeError`` whose message starts with a stable code
(``ledgerlake.protocol.ErrorCode``): ``"CHAIN_GAP: chain of source …"``.
"""

from __future__ import annotations

from ledgerlake.chaincode.contract.common import FUNCTIONS
from ledgerlake.chaincode.contract import (  # noqa: F401  (each registers its functions)
    access, audit, batches, lineage, orgkeys, streams,
)

__all__ = ["FUNCTIONS"]
