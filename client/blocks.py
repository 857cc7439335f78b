"""Decoding Fabric blocks into typed objects, and the block hash chain.

``decode_block`` turns a ``common.Block`` into a ``Block`` with its header, each
transaction (id, channel, type, creator, timestamp, validation code, chaincode call,
read/write sets, chaincode event) and its metadata (orderer signatures, last config).
``block_hash`` computes a header's hash exactly as Fabric does (SHA-256 of the ASN.1 DER
sequence of number, previous hash and data hash), so ``verify_chain`` can check that each
block's ``previous_hash`` is the hash of the block before it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass, field
from typing import Iterable

from fabric_protos.common import common_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)

from ledgerlake.errors import IntegrityError
from ledgerlake.protocol import Creator


@dataclass(frozen=True)
class Read:
    key: str
    version: tuple[int, int] | None  # (block number, tx number) of the value read; None if absent


@dataclass(frozen=True)
class Write:
    key: str
    value: bytes
    is_delete: bool


@dataclass(frozen=True)
class NamespaceRWSet:
    namespace: str
    reads: tuple[Read, ...]
    writes: tuple[Write, ...]


@dataclass(frozen=True)
class ChaincodeEvent:
    chaincode_id: str
    tx_id: str
    event_name: str
    payload: bytes


@dataclass(frozen=True)
class TransactionInfo:
    index: int
    tx_id: str
    channel_id: str
    type: str  # HeaderType name: ENDORSER_TRANSACTION, CONFIG, …
    creator: Creator
    timestamp: dt.datetime
    validation_code: int
    chaincode: str = ""
    function: str = ""
    args: tuple[bytes, ...] = ()
    rwsets: tuple[NamespaceRWSet, ...] = ()
    event: ChaincodeEvent | None = None
    decode_error: str = ""  # set when the envelope could not be decoded (the block still is)

    @property
    def validation_code_name(self) -> str:
        try:
            return transaction_pb2.TxValidationCode.Name(self.validation_code)
        except ValueError:
            return str(self.validation_code)

    @property
    def valid(self) -> bool:
        return self.validation_code == transaction_pb2.VALID


@dataclass(frozen=True)
class OrdererSignature:
    creator: Creator | None  # None when the signer is named by a consenter id (BFT)
    consenter_id: int
    signature: bytes


@dataclass(frozen=True)
class Block:
    number: int
    previous_hash: bytes
    data_hash: bytes
    transactions: tuple[TransactionInfo, ...]
    signatures: tuple[OrdererSignature, ...] = ()
    last_config: int = 0  # -1: the signature metadata does not parse
    raw: common_pb2.Block | None = field(default=None, repr=False, compare=False)

    @property
    def hash(self) -> bytes:
        return block_hash(self.number, self.previous_hash, self.data_hash)


# -- hashes -------------------------------------------------------------------------------
def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def _der_uint(n: int) -> bytes:
    body = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    if body[0] & 0x80:
        body = b"\x00" + body
    return _der(0x02, body)


def header_bytes(number: int, previous_hash: bytes, data_hash: bytes) -> bytes:
    """A block header as Fabric hashes and the orderers sign it
    (``protoutil.BlockHeaderBytes``: the ASN.1 DER sequence of number, previous hash and
    data hash)."""
    return _der(0x30, _der_uint(number) + _der(0x04, previous_hash) + _der(0x04, data_hash))


def block_hash(number: int, previous_hash: bytes, data_hash: bytes) -> bytes:
    """Fabric's block header hash (``protoutil.BlockHeaderHash``)."""
    return hashlib.sha256(header_bytes(number, previous_hash, data_hash)).digest()


def header_hash(header: common_pb2.BlockHeader) -> bytes:
    return block_hash(header.number, header.previous_hash, header.data_hash)


def data_hash(block: common_pb2.Block) -> bytes:
    """SHA-256 over the concatenated envelopes: what the header's data_hash must equal."""
    return hashlib.sha256(b"".join(block.data.data)).digest()


def verify_chain(blocks: Iterable[Block]) -> None:
    """Raise IntegrityError at the first block whose data hash, numbering or previous hash
    does not match; the error names the block (``block_number``) and the ``check``."""
    previous: Block | None = None
    for block in blocks:
        if block.raw is not None and data_hash(block.raw) != block.data_hash:
            raise IntegrityError(f"block {block.number}: data hash does not match its data",
                                 block_number=block.number, check="data_hash")
        if previous is not None:
            if block.number != previous.number + 1:
                raise IntegrityError(f"block {block.number} follows block {previous.number}",
                                     block_number=block.number, check="number")
            if block.previous_hash != previous.hash:
                raise IntegrityError(f"block {block.number}: previous hash does not match the "
                                     f"hash of block {previous.number}",
                                     block_number=block.number, check="previous_hash")
        previous = block


# -- decoding -----------------------------------------------------------------------------
@functools.lru_cache(maxsize=1024)
def _identity(msp_id: str, certificate: bytes) -> Creator:
    """The one creator type (MSP ID, certificate, its CA attributes, enrollment id); a
    ledger repeats a few identities, so each certificate is parsed once."""
    return Creator.from_certificate(msp_id, certificate)


def _creator(raw: bytes) -> Creator:
    sid = identities_pb2.SerializedIdentity.FromString(raw)
    return _identity(sid.mspid, sid.id_bytes)


def _rwsets(results: bytes) -> tuple[NamespaceRWSet, ...]:
    tx_rwset = rwset_pb2.TxReadWriteSet.FromString(results)
    out = []
    for ns in tx_rwset.ns_rwset:
        kv = kv_rwset_pb2.KVRWSet.FromString(ns.rwset)
        reads = tuple(Read(r.key, (r.version.block_num, r.version.tx_num)
                           if r.HasField("version") else None) for r in kv.reads)
        writes = tuple(Write(w.key, w.value, w.is_delete) for w in kv.writes)
        out.append(NamespaceRWSet(ns.namespace, reads, writes))
    return tuple(out)


def _endorser_details(data: bytes) -> dict:
    tx = transaction_pb2.Transaction.FromString(data)
    if not tx.actions:
        return {}
    cap = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    ccpp = proposal_pb2.ChaincodeProposalPayload.FromString(cap.chaincode_proposal_payload)
    spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(ccpp.input)
    prp = proposal_response_pb2.ProposalResponsePayload.FromString(
        cap.action.proposal_response_payload)
    action = proposal_pb2.ChaincodeAction.FromString(prp.extension)
    args = tuple(spec.chaincode_spec.input.args)
    event = None
    if action.events:
        ev = chaincode_event_pb2.ChaincodeEvent.FromString(action.events)
        event = ChaincodeEvent(ev.chaincode_id, ev.tx_id, ev.event_name, ev.payload)
    return {"chaincode": action.chaincode_id.name or spec.chaincode_spec.chaincode_id.name,
            "function": args[0].decode(errors="replace") if args else "",
            "args": args[1:], "rwsets": _rwsets(action.results), "event": event}


#: What a transaction without a validation flag is (e.g. a block straight from an orderer).
NOT_VALIDATED = transaction_pb2.NOT_VALIDATED
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _timestamp(seconds: int, nanos: int) -> dt.datetime:
    """The header time; a client may put any value there, so clamp to what datetime holds."""
    try:
        return _EPOCH + dt.timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        return dt.datetime.max.replace(tzinfo=dt.timezone.utc) if seconds > 0 else _EPOCH


def _type_name(value: int) -> str:
    try:
        return common_pb2.HeaderType.Name(value)
    except ValueError:
        return str(value)


def decode_transaction(index: int, envelope_bytes: bytes, validation_code: int
                       ) -> TransactionInfo:
    """Decode one envelope. Anything a client could have put in a block that does not parse
    is reported in ``decode_error``, never raised: one bad transaction must not stop a
    listener (the ordering service does not parse endorser payloads)."""
    tx_id = channel_id = ""
    type_name, creator, ts = "", Creator("", b"", {}, ""), _EPOCH
    try:
        envelope = common_pb2.Envelope.FromString(envelope_bytes)
        payload = common_pb2.Payload.FromString(envelope.payload)
        ch = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        sh = common_pb2.SignatureHeader.FromString(payload.header.signature_header)
        tx_id, channel_id, type_name = ch.tx_id, ch.channel_id, _type_name(ch.type)
        creator = _creator(sh.creator) if sh.creator else creator
        ts = _timestamp(ch.timestamp.seconds, ch.timestamp.nanos)
        details = _endorser_details(payload.data) if ch.type == common_pb2.ENDORSER_TRANSACTION \
            else {}
    except Exception as exc:  # protobuf DecodeError and friends, from untrusted bytes
        return TransactionInfo(index, tx_id, channel_id, type_name, creator, ts,
                               validation_code, decode_error=f"{type(exc).__name__}: {exc}")
    return TransactionInfo(index, tx_id, channel_id, type_name, creator, ts, validation_code,
                           **details)


def _signatures(block: common_pb2.Block) -> tuple[tuple[OrdererSignature, ...], int]:
    """The orderers' signatures and the last-config index; ``((), -1)`` when the signature
    metadata does not parse (changed bytes: ``client.verify`` names it, decoding goes on)."""
    entries = block.metadata.metadata
    if len(entries) <= common_pb2.SIGNATURES or not entries[common_pb2.SIGNATURES]:
        return (), 0
    try:
        return _parse_signatures(entries[common_pb2.SIGNATURES])
    except Exception:  # protobuf DecodeError, X.509 errors: from untrusted bytes
        return (), -1


def _parse_signatures(entry: bytes) -> tuple[tuple[OrdererSignature, ...], int]:
    meta = common_pb2.Metadata.FromString(entry)
    last_config = common_pb2.OrdererBlockMetadata.FromString(meta.value).last_config.index \
        if meta.value else 0
    sigs = []
    for s in meta.signatures:
        creator, consenter = None, 0
        if s.signature_header:
            creator = _creator(common_pb2.SignatureHeader.FromString(s.signature_header).creator)
        if s.identifier_header:
            consenter = common_pb2.IdentifierHeader.FromString(s.identifier_header).identifier
        sigs.append(OrdererSignature(creator, consenter, s.signature))
    return tuple(sigs), last_config


def decode_block(block: common_pb2.Block | bytes) -> Block:
    """Decode a block (message or serialized bytes)."""
    if isinstance(block, (bytes, bytearray)):
        block = common_pb2.Block.FromString(block)
    entries = block.metadata.metadata
    flags = entries[common_pb2.TRANSACTIONS_FILTER] if len(entries) > 2 else b""
    txs = tuple(decode_transaction(i, data, flags[i] if i < len(flags) else NOT_VALIDATED)
                for i, data in enumerate(block.data.data))
    signatures, last_config = _signatures(block)
    return Block(block.header.number, block.header.previous_hash, block.header.data_hash, txs,
                 signatures, last_config, block)
