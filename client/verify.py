"""Checking what the ledger says, on the client: the chain, a batch, a record.

Nothing read from a peer is trusted until it is checked against what commits to it:

- **chain** (``verify_chain``): every block from genesis (or from block N) to the tip, read
  through a peer's Deliver service: its data hash, its link to the block before, its
  last-config index, and the orderers' signatures against the channel configuration in
  force (``ChannelConfig``: the genesis block's, replaced by each later config block's).
  Raft: at least one signature, by an orderer whose certificate chains to an orderer
  organisation's root CA and who is a consenter. SmartBFT: a quorum of distinct consenters.
  Either way every signature in the block must verify (a bad one means its metadata was
  changed). The genesis block carries no signature: it is the anchor, and its hash is
  reported so it can be compared with another peer's or the orderers'.
- **batch** (``verify_batch``): the batch header in world state against the SubmitBatch
  transaction that wrote it: the transaction is VALID, its first argument is the batch
  header and its recomputed id is the id asked for, its second argument (the ciphertext,
  unless the payload is off-chain) has the header's SHA-256 and size
  (``batches.checked_batch``), world state's header fields are the transaction's, the
  transaction is in its block, the block's data hash covers it, and the block's
  signatures meet the rule above under the configuration in force (``config_in_force``:
  each config block from genesis on checked under the one before).
- **record** (``verify_record``): a record's id is ``BATCH_ID:INDEX`` (``RecordId``; INDEX
  counts from 0 in the batch's order). The stream is opened (audited ``OpenStream``, then
  the organisation's wrapped data keys), the batch checked as above and decrypted, the
  record's commitment
  ``SHA-256(salt ‖ canonical record)`` recomputed, and its Merkle path (``RecordProof``)
  walked up to the batch's Merkle root; ``check_record_proof`` checks such a path without
  any key.

A failed check raises ``IntegrityError`` with ``block_number`` (when a block is at fault)
and ``check`` naming it: ``data_hash``, ``previous_hash``, ``number``, ``last_config``,
``signatures``, ``config``, ``genesis`` for blocks; ``transaction``, ``batch_id``,
``payload_sha256``, ``batch_header`` for a batch; ``merkle_proof`` for a record. Batch and
record checks are flows on the sans-IO core (``*_flow``; sync or asyncio gateway); the
chain check reads a Deliver stream (sync). Validation codes (the peer's own verdict on
each transaction) are not covered by any hash or signature in Fabric; a batch check reads
the gateway peer's.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from fabric_protos.common import common_pb2, configtx_pb2
from fabric_protos.common import configuration_pb2 as channel_config_pb2
from fabric_protos.msp import identities_pb2, msp_config_pb2
from fabric_protos.orderer import configuration_pb2 as orderer_config_pb2
from fabric_protos.orderer.etcdraft import configuration_pb2 as etcdraft_pb2

from ledgerlake import records
from ledgerlake.client.batches import SealedBatch, batch_from_transaction, checked_batch, \
    open_batch_verified
from ledgerlake.client.blocks import Block, TransactionInfo, data_hash, header_bytes
from ledgerlake.client.signing import P256_ORDER
from ledgerlake.errors import ConfigError, IntegrityError, LedgerlakeError, RecordError
from ledgerlake.protocol import Function

#: ``progress(done, total)`` after each block checked (total: blocks to check).
Progress = Callable[[int, int], None]


# -- the channel configuration: who may sign blocks ---------------------------------------
@dataclass(frozen=True)
class OrdererOrg:
    """An orderer organisation's MSP as the channel configuration defines it."""

    msp_id: str
    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    tls_roots: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    orderer_ou: str = ""  # the OU an orderer's certificate carries when NodeOUs are on


@dataclass(frozen=True)
class Consenter:
    """One member of the consenter set. SmartBFT names its signing identity and numeric id;
    Raft names only TLS certificates (``id`` 0, ``identity`` empty)."""

    host: str
    port: int
    tls_certs: tuple[x509.Certificate, ...]
    id: int = 0
    msp_id: str = ""
    identity: bytes = b""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, eq=False)  # compared and hashed by identity (it keys a cache)
class ChannelConfig:
    """What block signatures are checked against, from one config block."""

    block_number: int
    consensus: str  # ConsensusType.type: "etcdraft" or "BFT"
    consenters: tuple[Consenter, ...]
    orderer_orgs: Mapping[str, OrdererOrg]

    @property
    def bft(self) -> bool:
        return self.consensus.upper() == "BFT"

    @property
    def quorum(self) -> int:
        """Distinct consenters whose signatures a block needs. SmartBFT: Fabric's
        ``policies.ComputeBFTQuorum(n, f)`` = ceil((n + f + 1) / 2) with f = (n - 1) // 3, the
        ``BlockValidation`` policy its orderers write (common/policies/bft.go,
        ``EncodeBFTBlockVerificationPolicy``; checked by orderer/consensus/smartbft/
        configverifier.go). Raft: one."""
        if not self.bft:
            return 1
        n = len(self.consenters)
        f = (n - 1) // 3
        return math.ceil((n + f + 1) / 2)

    @property
    def rule(self) -> str:
        """What each block's signatures must show, in words."""
        if self.bft:
            return f"a quorum of {self.quorum} of {len(self.consenters)} SmartBFT consenters"
        return "a Raft consenter's signature"

    @classmethod
    def from_block(cls, block: Block) -> "ChannelConfig":
        """The configuration a config block sets; IntegrityError(check="config") when the
        block is not one or does not parse."""
        if not is_config_block(block) or block.raw is None:
            raise IntegrityError(f"block {block.number} is not a config block",
                                 block_number=block.number, check="config")
        try:
            envelope = common_pb2.Envelope.FromString(block.raw.data.data[0])
            payload = common_pb2.Payload.FromString(envelope.payload)
            config = configtx_pb2.ConfigEnvelope.FromString(payload.data).config
            return cls._from_group(block.number, config.channel_group)
        except IntegrityError:
            raise
        except Exception as exc:  # protobuf and X.509 parse errors, from a peer's bytes
            raise IntegrityError(f"block {block.number}: its channel configuration does not "
                                 f"parse ({type(exc).__name__}: {exc})",
                                 block_number=block.number, check="config") from None

    @classmethod
    def _from_group(cls, number: int, channel_group) -> "ChannelConfig":
        orderer = channel_group.groups["Orderer"]
        consensus = orderer_config_pb2.ConsensusType.FromString(
            orderer.values["ConsensusType"].value)
        orgs = {}
        for group in orderer.groups.values():
            org = _orderer_org(group.values["MSP"].value)
            orgs[org.msp_id] = org
        if consensus.type.upper() == "BFT":
            mapping = channel_config_pb2.Orderers.FromString(orderer.values["Orderers"].value)
            consenters = tuple(
                Consenter(c.host, c.port, _certs((c.client_tls_cert, c.server_tls_cert)), c.id,
                          c.msp_id, c.identity) for c in mapping.consenter_mapping)
        elif consensus.type == "etcdraft":
            metadata = etcdraft_pb2.ConfigMetadata.FromString(consensus.metadata)
            consenters = tuple(Consenter(c.host, c.port,
                                         _certs((c.client_tls_cert, c.server_tls_cert)))
                               for c in metadata.consenters)
        else:
            raise IntegrityError(f"block {number}: consensus type {consensus.type!r} is "
                                 f"neither etcdraft nor BFT", block_number=number, check="config")
        if not consenters:
            raise IntegrityError(f"block {number}: the configuration names no consenter",
                                 block_number=number, check="config")
        return cls(number, consensus.type, consenters, orgs)


def _certs(pems: Iterable[bytes]) -> tuple[x509.Certificate, ...]:
    return tuple(_certificate(pem) for pem in pems if pem)


@lru_cache(maxsize=256)
def _certificate(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def _orderer_org(msp_value: bytes) -> OrdererOrg:
    msp = msp_config_pb2.MSPConfig.FromString(msp_value)
    conf = msp_config_pb2.FabricMSPConfig.FromString(msp.config)
    ous = conf.fabric_node_ous
    return OrdererOrg(
        conf.name, _certs(conf.root_certs), _certs(conf.intermediate_certs),
        _certs((*conf.tls_root_certs, *conf.tls_intermediate_certs)),
        tuple(x509.load_pem_x509_crl(c) for c in conf.revocation_list),
        ous.orderer_ou_identifier.organizational_unit_identifier if ous.enable else "")


def is_config_block(block: Block) -> bool:
    return len(block.transactions) == 1 and block.transactions[0].type == "CONFIG"


# -- identities and signatures ------------------------------------------------------------
def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _chains_to(cert: x509.Certificate, roots: Iterable[x509.Certificate],
               intermediates: Iterable[x509.Certificate] = ()) -> bool:
    """Whether ``cert`` chains up to one of ``roots`` (through ``intermediates``). Validity
    dates are not checked, as Fabric's MSP does not (a block stays valid after its signer's
    certificate expires)."""
    roots, intermediates = tuple(roots), tuple(intermediates)
    current = cert
    for _ in range(8):  # a chain deeper than this is not an MSP's
        if any(_issued_by(current, root) for root in roots):
            return True
        parents = [i for i in intermediates if i is not current and _issued_by(current, i)]
        if not parents:
            return False
        current = parents[0]
    return False


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _signer_problem(cert: x509.Certificate, msp_id: str, config: ChannelConfig) -> str:
    """Why ``cert`` of ``msp_id`` may not sign blocks, or "" when it may: an orderer
    organisation's member (chain to its root CA, not revoked, the orderer OU when NodeOUs
    are on)."""
    org = config.orderer_orgs.get(msp_id)
    if org is None:
        return f"{msp_id} is not an orderer organisation"
    if not _chains_to(cert, org.roots, org.intermediates):
        return f"its certificate does not chain to {msp_id}'s root CA"
    for crl in org.crls:
        if crl.issuer == cert.issuer and \
                crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
            return f"its certificate is revoked by {msp_id}"
    if org.orderer_ou:
        ous = [a.value for a in cert.subject.get_attributes_for_oid(
            NameOID.ORGANIZATIONAL_UNIT_NAME)]
        if org.orderer_ou not in ous:
            return f"its certificate is not an orderer's (OU {org.orderer_ou!r})"
    return ""


def _raft_consenter(cert: x509.Certificate, msp_id: str,
                    config: ChannelConfig) -> Consenter | None:
    """The Raft consenter ``cert`` belongs to. Raft's consenter set names TLS certificates
    only, so the signer is the consenter whose TLS certificate has the signing
    certificate's subject and was issued by the same organisation (its CA issues one
    enrollment id's certificates under that id)."""
    org = config.orderer_orgs[msp_id]
    tls_roots = (*org.tls_roots, *org.roots)
    for consenter in config.consenters:
        for tls in consenter.tls_certs:
            if tls.subject == cert.subject and _chains_to(tls, tls_roots, org.intermediates):
                return consenter
    return None


@lru_cache(maxsize=64)
def _signer(config: ChannelConfig, msp_id: str, pem: bytes) -> tuple[str, Consenter | None]:
    """``(problem, consenter)`` for a signing certificate: why it may not sign blocks under
    ``config`` (or ""), and the consenter it is. Cached: a chain repeats a few signers."""
    cert = _certificate(pem)
    problem = _signer_problem(cert, msp_id, config)
    if problem:
        return problem, None
    consenter = _raft_consenter(cert, msp_id, config) if not config.bft else next(
        (c for c in config.consenters if c.msp_id == msp_id and c.identity == pem), None)
    if consenter is None:
        return f"not a consenter of config block {config.block_number}", None
    return "", consenter


def _verifies(cert: x509.Certificate, signature: bytes, message: bytes) -> bool:
    """ECDSA (SHA-256) with Fabric's low-S rule."""
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    try:
        _, s = decode_dss_signature(signature)
        if key.curve.name == "secp256r1" and s > P256_ORDER // 2:
            return False
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        return True
    except (ValueError, InvalidSignature):
        return False


def _signer_name(cert: x509.Certificate, msp_id: str, consenter: Consenter) -> str:
    return f"{_common_name(cert)} ({msp_id}, {consenter.address})"


def check_block_signatures(block: Block, config: ChannelConfig) -> tuple[str, ...]:
    """Check the orderers' signatures on ``block`` against ``config``; return who signed
    (one name per distinct consenter). Each signature is ECDSA over the signature
    metadata's value ‖ the signer's signature header (Raft) or identifier header
    (SmartBFT) ‖ the block header's bytes, as Fabric's ``protoutil.BlockSignatureVerifier``
    builds it. Raises IntegrityError(check="signatures")."""
    number = block.number

    def fail(reason: str) -> IntegrityError:
        return IntegrityError(f"block {number}: orderer signatures: {reason}",
                              block_number=number, check="signatures")

    raw = block.raw
    if raw is None:
        raise fail("the block's raw bytes are needed")
    entries = raw.metadata.metadata
    if len(entries) <= common_pb2.SIGNATURES or not entries[common_pb2.SIGNATURES]:
        raise fail("the block is not signed")
    try:
        metadata = common_pb2.Metadata.FromString(entries[common_pb2.SIGNATURES])
    except Exception:  # protobuf DecodeError, from a peer's bytes
        raise fail("the signature metadata does not parse") from None
    header = header_bytes(raw.header.number, raw.header.previous_hash, raw.header.data_hash)
    signers: dict[str, None] = {}
    for i, entry in enumerate(metadata.signatures):
        what = f"signature {i}"
        try:
            if entry.signature_header:
                signed_by = entry.signature_header
                creator = identities_pb2.SerializedIdentity.FromString(
                    common_pb2.SignatureHeader.FromString(entry.signature_header).creator)
                msp_id, pem = creator.mspid, creator.id_bytes
                consenter = None
            elif entry.identifier_header and config.bft:
                signed_by = entry.identifier_header
                ident = common_pb2.IdentifierHeader.FromString(entry.identifier_header).identifier
                consenter = next((c for c in config.consenters if c.id == ident), None)
                if consenter is None:
                    raise fail(f"{what} names consenter id {ident}, which is not in the "
                               f"consenter set of config block {config.block_number}")
                msp_id, pem = consenter.msp_id, consenter.identity
            else:
                raise fail(f"{what} names no signer")
            cert = _certificate(pem)
        except IntegrityError:
            raise
        except Exception as exc:  # protobuf / X.509 parse errors
            raise fail(f"{what}: its signer does not parse ({type(exc).__name__})") from None
        problem, member = _signer(config, msp_id, pem)
        if problem:
            raise fail(f"{what} by {_common_name(cert)} ({msp_id}): {problem}")
        consenter = consenter or member
        if not _verifies(cert, entry.signature, metadata.value + signed_by + header):
            raise fail(f"{what} by {_signer_name(cert, msp_id, consenter)} does not verify")
        signers[_signer_name(cert, msp_id, consenter)] = None
    if len(signers) < config.quorum:
        raise fail(f"{len(signers)} consenter(s) signed; the block needs {config.rule}")
    return tuple(signers)


# -- the chain ----------------------------------------------------------------------------
@dataclass
class ChainReport:
    """What ``verify_chain`` checked."""

    first: int = -1
    last: int = -1
    tip_hash: str = ""
    genesis_hash: str = ""  # when checked from genesis: the anchor, to compare elsewhere
    transactions: int = 0
    signatures: dict[str, int] = field(default_factory=dict)  # signer -> blocks signed
    config_blocks: list[int] = field(default_factory=list)
    consensus: str = ""
    rule: str = ""  # what the signatures had to show (under the last configuration)
    seconds: float = 0.0

    @property
    def blocks(self) -> int:
        return self.last - self.first + 1 if self.last >= self.first >= 0 else 0

    @property
    def blocks_per_second(self) -> float:
        return self.blocks / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict:
        return {"first": self.first, "last": self.last, "blocks": self.blocks,
                "transactions": self.transactions, "tip_hash": self.tip_hash,
                "genesis_hash": self.genesis_hash, "consensus": self.consensus,
                "rule": self.rule,
                "config_blocks": list(self.config_blocks),
                "signatures": dict(self.signatures), "seconds": round(self.seconds, 3),
                "blocks_per_second": round(self.blocks_per_second, 1)}


class ChainVerifier:
    """Checks blocks one after another (``add``), keeping the configuration in force.

    Start from the genesis block (no ``config``), or from any block with the configuration
    in force there and, to check the link, the block before it (``previous``)."""

    def __init__(self, config: ChannelConfig | None = None, previous: Block | None = None,
                 *, genesis_hash: str | None = None):
        self.config = config
        self.previous = previous
        self.genesis_hash = genesis_hash  # the anchor, when known from elsewhere (hex)
        self.report = ChainReport()
        if config is not None:
            self.report.consensus, self.report.rule = config.consensus, config.rule

    def add(self, block: Block) -> None:
        number = block.number
        report = self.report
        if block.raw is not None and data_hash(block.raw) != block.data_hash:
            raise IntegrityError(f"block {number}: data hash does not match its data",
                                 block_number=number, check="data_hash")
        previous = self.previous
        if previous is not None:
            if number != previous.number + 1:
                raise IntegrityError(f"block {number} follows block {previous.number}",
                                     block_number=number, check="number")
            if block.previous_hash != previous.hash:
                raise IntegrityError(f"block {number}: previous hash does not match the hash "
                                     f"of block {previous.number}",
                                     block_number=number, check="previous_hash")
        if self.config is None:
            if number != 0:
                raise ConfigError(f"checking from block {number} needs the configuration "
                                  f"in force there")
            if self.genesis_hash is not None and block.hash.hex() != self.genesis_hash.lower():
                raise IntegrityError(f"block 0: its hash {block.hash.hex()} is not the genesis "
                                     f"hash {self.genesis_hash} it was to be", block_number=0,
                                     check="genesis")
            self.config = ChannelConfig.from_block(block)
            report.genesis_hash = block.hash.hex()
            report.consensus, report.rule = self.config.consensus, self.config.rule
            report.config_blocks.append(0)
        else:
            for signer in check_block_signatures(block, self.config):
                report.signatures[signer] = report.signatures.get(signer, 0) + 1
            require_last_config(block, self.config)
            if is_config_block(block):
                self.config = ChannelConfig.from_block(block)
                report.config_blocks.append(number)
                report.consensus, report.rule = self.config.consensus, self.config.rule
        if report.first < 0:
            report.first = number
        report.last = number
        report.tip_hash = block.hash.hex()
        report.transactions += len(block.transactions)
        self.previous = block


def require_last_config(block: Block, config: ChannelConfig) -> None:
    """A block checked under ``config`` names that configuration by its last-config index
    (signed with the block), or itself when it is a config block: otherwise the
    configuration in force is not the one used (a peer hid or swapped a config block, or an
    orderer wrote the index wrong). Raises IntegrityError(check="last_config")."""
    expected = block.number if is_config_block(block) else config.block_number
    if block.last_config != expected:
        raise IntegrityError(f"block {block.number}: its last-config index is "
                             f"{block.last_config}, not {expected}",
                             block_number=block.number, check="last_config")


def config_in_force_flow(network, number: int, block: Block | None = None):
    """The configuration that block ``number``'s signatures are checked against, trusted
    through every config block from genesis on: genesis gives the first, and each later
    config block is checked (data hash, signatures) under the one before it. Returns it
    with the config blocks read. The walk starts from the block's own last-config index
    (``block``, or read from the peer), which its signatures cover; the caller checks them
    under the configuration returned and ``require_last_config``. Earlier config blocks
    are found by the indexes a peer reports; a peer hiding one can only make a good block
    fail, or pass under a configuration a hidden config block replaced before the one the
    block names (``verify_chain`` reads them all)."""
    from ledgerlake.client.qscc import block_by_number_flow

    def last_config(n: int):
        if n < 1:
            return 0
        return (yield from block_by_number_flow(network, n)).last_config

    if number < 1:
        raise ConfigError("the genesis block is the anchor: no configuration signs it")
    if block is None:
        block = yield from block_by_number_flow(network, number)
    if is_config_block(block):  # signed under the configuration before it
        index = yield from last_config(number - 1)
    else:
        index = block.last_config
    if not 0 <= index < number:
        raise IntegrityError(f"block {number}: its last-config index is {index}, not an "
                             f"earlier block", block_number=number, check="last_config")
    numbers = []
    while True:
        numbers.append(index)
        if index == 0:
            break
        index = yield from last_config(index - 1)
    numbers.reverse()
    config: ChannelConfig | None = None
    for index in numbers:
        found = yield from block_by_number_flow(network, index)
        if found.number != index:
            raise IntegrityError(f"asked for block {index}, the peer answered block "
                                 f"{found.number}", block_number=index, check="number")
        if data_hash(found.raw) != found.data_hash:
            raise IntegrityError(f"block {index}: data hash does not match its data",
                                 block_number=index, check="data_hash")
        if config is not None:
            check_block_signatures(found, config)
        config = ChannelConfig.from_block(found)
    return config, tuple(numbers)


def config_in_force(network, number: int) -> tuple[ChannelConfig, tuple[int, ...]]:
    """``config_in_force_flow`` run by the network's gateway."""
    return network.gateway.run(config_in_force_flow(network, number))


def verify_chain(network, *, start: int = 0, progress: Progress | None = None,
                 genesis_hash: str | None = None) -> ChainReport:
    """Check every block from ``start`` (default: genesis) to the tip, read through the
    gateway peer's Deliver service; see the module's docstring for what is checked.
    ``genesis_hash`` (hex) pins the anchor: the genesis block must hash to it (checking
    from genesis only). Raises IntegrityError at the first block that fails, naming it and
    the check."""
    from ledgerlake.client.qscc import block_by_number, chain_info

    if genesis_hash is not None and (start > 0 or not re.fullmatch(r"[0-9a-fA-F]{64}",
                                                                   genesis_hash)):
        raise ConfigError("--genesis-hash is 64 hex digits and needs the check to start at "
                          "genesis (no --from)")
    began = time.monotonic()
    tip = chain_info(network).height - 1
    if not 0 <= start <= tip:
        raise ConfigError(f"--from must be a block number from 0 to the tip {tip}, not {start}")
    verifier = ChainVerifier(genesis_hash=genesis_hash)
    if start > 0:
        config, config_blocks = config_in_force(network, start)
        verifier = ChainVerifier(config, block_by_number(network, start - 1))
        verifier.report.config_blocks.extend(config_blocks)
    total = tip - start + 1
    with network.block_events(start_block=start) as blocks:
        for block in blocks:
            verifier.add(block)
            if progress is not None:
                progress(block.number - start + 1, total)
            if block.number >= tip:
                break
    verifier.report.seconds = time.monotonic() - began
    return verifier.report


# -- batches ------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchCheck:
    """A batch checked against its transaction, block and the orderers' signatures."""

    stream: str
    batch_id: str
    tx_id: str
    block_number: int
    tx_index: int
    block_hash: str
    signers: tuple[str, ...]
    config_blocks: tuple[int, ...]
    batch: Mapping[str, Any] = field(repr=False)  # the batch as its transaction holds it

    def to_json(self) -> dict:
        return {"stream": self.stream, "batch_id": self.batch_id, "tx_id": self.tx_id,
                "block": self.block_number, "tx_index": self.tx_index,
                "block_hash": self.block_hash, "signers": list(self.signers),
                "config_blocks": list(self.config_blocks)}


def _submitted_batch(tx: TransactionInfo, batch_id: str,
                     schema: records.Schema | None = None) -> dict:
    """The batch a SubmitBatch transaction carries (``batches.batch_from_transaction``):
    its header, checked for shape and, normalised as the contract did (with the stream's
    ``schema`` when the batch is of its version), to hash to ``batch_id``, with its
    ciphertext (absent when off-chain) checked against the header's digest
    (``batches.checked_batch``)."""
    if tx.function != Function.SUBMIT_BATCH.value:
        raise IntegrityError(f"transaction {tx.tx_id} is {tx.function or tx.type!r}, not a "
                             f"SubmitBatch", check="transaction")
    try:
        sent = batch_from_transaction(tx)
        if schema is not None and sent.get("schema_version") != schema.version:
            schema = None  # a batch of an earlier schema: its header integers still normalise
        header = records.normalised_batch(
            {k: sent[k] for k in (*records.BATCH_FIELDS, "id") if k in sent}, schema)
        if records.batch_id(header) != batch_id:
            raise IntegrityError(f"batch {batch_id}: the batch in transaction {tx.tx_id} "
                                 f"hashes to {records.batch_id(header)} (changed or swapped)",
                                 check="batch_id")
        payload = sent.get("payload")
        if "ciphertext" not in sent and isinstance(payload, dict) and "uri" in payload:
            # off-chain: the header's digest binds it; a reader fetches it from the URI
            return {**records.validate_batch_shape(header, schema), "tx_id": tx.tx_id}
        header, ciphertext = checked_batch(sent, schema=schema)
    except RecordError as exc:
        raise IntegrityError(f"transaction {tx.tx_id} does not hold a well-formed batch: "
                             f"{exc}", check="batch_id") from None
    return {**header, "ciphertext": ciphertext, "tx_id": tx.tx_id}


def verify_batch_against_transaction(header: Mapping[str, Any], batch_id: str,
                                     tx: TransactionInfo,
                                     schema: records.Schema | None = None) -> dict:
    """The pure part of a batch check: the world-state ``header`` (GetBatch's answer) of
    ``batch_id`` against the transaction ``tx`` found in its block. Returns the batch the
    transaction holds: its header, ``"tx_id"`` and ``"ciphertext"`` (bytes, checked against
    the header's digest; absent when the payload is off-chain). ``schema``: the stream's,
    which the contract normalised the batch with before checking its id. Raises
    IntegrityError(check="transaction" | "batch_id" | "payload_sha256" | "batch_header")."""
    if tx.tx_id != header.get("tx_id"):
        raise IntegrityError(f"batch {batch_id}: world state names transaction "
                             f"{header.get('tx_id')}, the block holds {tx.tx_id}",
                             check="transaction")
    if not tx.valid:
        raise IntegrityError(f"transaction {tx.tx_id} of batch {batch_id} is "
                             f"{tx.validation_code_name}, not VALID", check="transaction")
    batch = _submitted_batch(tx, batch_id, schema)
    if header.get("id") != batch_id:
        raise IntegrityError(f"batch {batch_id}: world state answered batch {header.get('id')}",
                             check="batch_header")
    for name in records.BATCH_FIELDS:
        if name not in header:
            raise IntegrityError(f"batch {batch_id}: world state's batch lacks {name}",
                                 check="batch_header")
        if _normal(header[name], name) != _normal(batch[name], name) and \
                records.canonical(header[name]) != records.canonical(batch[name]):
            raise IntegrityError(f"batch {batch_id}: world state's {name} differs from its "
                                 f"transaction's", check="batch_header")
    producer = header.get("producer") or {}
    creator = tx.creator
    if (producer.get("msp_id"), producer.get("id")) != (creator.msp_id, creator.enrollment_id):
        raise IntegrityError(f"batch {batch_id}: world state's producer "
                             f"{producer.get('msp_id')}/{producer.get('id')} is not the "
                             f"transaction's creator {creator.msp_id}/{creator.enrollment_id}",
                             check="batch_header")
    return batch


def _normal(value: Any, name: str) -> Any:
    """A header field in one form: integers may arrive as decimal strings (the record
    format's integer rule; a field holding them, e.g. public, compares in canonical form)."""
    if name in records.BATCH_INTEGERS and isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def verify_batch_flow(api, stream: str, batch_id: str):
    """Check batch ``batch_id`` of ``stream`` (``api``: a ``LedgerlakeContract`` whose
    identity may read the batch) against its transaction, its block and the orderers'
    signatures; returns a ``BatchCheck``. Raises IntegrityError naming what failed."""
    from ledgerlake.client.qscc import block_by_tx_id_flow

    network = api.contract.network
    # the header alone: the ciphertext is read from the block below, by the checks here
    header = (yield from api.flows.get_batch(stream, batch_id, payload=False)).raw
    if header.get("stream") != stream:
        raise IntegrityError(f"batch {batch_id}: world state answered a batch of stream "
                             f"{header.get('stream')!r}", check="batch_header")
    tx_id = header.get("tx_id", "")
    try:
        block = yield from block_by_tx_id_flow(network, tx_id)
    except LedgerlakeError as exc:
        raise IntegrityError(f"batch {batch_id}: its transaction {tx_id} is not on the peer's "
                             f"ledger ({exc})", check="transaction") from None
    tx = next((t for t in block.transactions if t.tx_id == tx_id), None)
    if tx is None:
        raise IntegrityError(f"block {block.number} does not hold transaction {tx_id} of "
                             f"batch {batch_id}", block_number=block.number, check="transaction")
    schema = (yield from api.flows.get_stream(stream)).schema
    batch = verify_batch_against_transaction(header, batch_id, tx, schema)
    if data_hash(block.raw) != block.data_hash:
        raise IntegrityError(f"block {block.number}: data hash does not match its data",
                             block_number=block.number, check="data_hash")
    if block.number == 0:
        raise IntegrityError(f"batch {batch_id} cannot be in the genesis block",
                             block_number=0, check="transaction")
    config, config_blocks = yield from config_in_force_flow(network, block.number, block)
    signers = check_block_signatures(block, config)
    require_last_config(block, config)
    return BatchCheck(stream, batch_id, tx_id, block.number, tx.index, block.hash.hex(),
                      signers, config_blocks, batch)


def verify_batch(api, stream: str, batch_id: str) -> BatchCheck:
    """``verify_batch_flow`` run by the api's gateway (an awaitable when it is async)."""
    return api.run(verify_batch_flow(api, stream, batch_id))


# -- records ------------------------------------------------------------------------------
_RECORD_ID = re.compile(r"([0-9a-f]{64}):(0|[1-9][0-9]{0,5})")


@dataclass(frozen=True)
class RecordId:
    """A record's id: its batch's id and its 0-based index in the batch, ``BATCH_ID:INDEX``."""

    batch_id: str
    index: int

    @classmethod
    def parse(cls, text: str) -> "RecordId":
        match = _RECORD_ID.fullmatch(text.strip())
        if match is None:
            raise ConfigError(f"a record id is BATCH_ID:INDEX (64 lower-case hex digits, a "
                              f"colon, the record's 0-based index), not {text!r}")
        return cls(match[1], int(match[2]))

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.index}"


@dataclass(frozen=True)
class RecordProof:
    """A record's inclusion proof: the record and its salt, its commitment (the leaf), the
    sibling hashes from the leaf up to the batch's Merkle root, each with its side."""

    record_id: RecordId
    record: dict
    salt: str  # hex
    leaf: str  # hex commitment
    path: tuple[tuple[str, str], ...]  # ("left" | "right", hex sibling)
    merkle_root: str

    def to_json(self) -> dict:
        return {"record_id": str(self.record_id), "record": self.record, "salt": self.salt,
                "leaf": self.leaf, "path": [{"side": s, "hash": h} for s, h in self.path],
                "merkle_root": self.merkle_root}

    @classmethod
    def from_json(cls, doc: Any, what: str = "the proof") -> "RecordProof":
        """A proof as ``to_json`` writes it; ConfigError naming the first field that is not
        as it should be."""
        def need(ok: bool, field_: str, form: str) -> None:
            if not ok:
                raise ConfigError(f"{what}: {field_} must be {form}")

        need(isinstance(doc, dict), "it", "a JSON object")
        need(isinstance(doc.get("record_id"), str), "record_id", "BATCH_ID:INDEX")
        rid = RecordId.parse(doc["record_id"])
        need(isinstance(doc.get("record"), dict), "record", "a JSON object")
        need(isinstance(doc.get("salt"), str) and bool(records.SALT_HEX.fullmatch(doc["salt"])),
             "salt", "32 lower-case hex digits")
        for name in ("leaf", "merkle_root"):
            need(isinstance(doc.get(name), str) and bool(records.HEX64.fullmatch(doc[name])),
                 name, "64 lower-case hex digits")
        path = doc.get("path")
        need(isinstance(path, list) and len(path) <= 64, "path", "a list of steps")
        for i, step in enumerate(path):
            need(isinstance(step, dict) and step.get("side") in ("left", "right") and
                 isinstance(step.get("hash"), str) and bool(records.HEX64.fullmatch(step["hash"])),
                 f"path[{i}]", '{"side": "left" | "right", "hash": 64 hex digits}')
        return cls(rid, doc["record"], doc["salt"], doc["leaf"],
                   tuple((step["side"], step["hash"]) for step in path), doc["merkle_root"])


def path_sides(index: int, count: int) -> tuple[str, ...]:
    """The sides of the siblings on the path of leaf ``index`` among ``count`` (the tree of
    ``records.merkle_root``: an odd last node is carried up, so it has no sibling on that
    level). A proof whose sides differ is the proof of another position."""
    sides, i, width = [], index, count
    while width > 1:
        if i ^ 1 < width:
            sides.append("left" if i ^ 1 < i else "right")
        i, width = i // 2, (width + 1) // 2
    return tuple(sides)


def check_record_proof(proof: RecordProof) -> None:
    """Recompute the record's commitment from its record and salt and walk its path to
    the Merkle root; IntegrityError(check="merkle_proof") naming the record otherwise."""
    rid = proof.record_id
    leaf = records.commitment(bytes.fromhex(proof.salt), proof.record)
    if leaf.hex() != proof.leaf:
        raise IntegrityError(f"record {rid}: its commitment is not SHA-256(salt ‖ record)",
                             check="merkle_proof")
    path = [(side, bytes.fromhex(h)) for side, h in proof.path]
    if not records.verify_proof(leaf, path, bytes.fromhex(proof.merkle_root)):
        raise IntegrityError(f"record {rid}: its Merkle path does not lead to the batch's "
                             f"root {proof.merkle_root}", check="merkle_proof")


def prove_record(schema: records.Schema, batch: Mapping[str, Any], data_key: bytes,
                 index: int, *, ciphertext: bytes | None = None) -> RecordProof:
    """The inclusion proof of record ``index`` of ``batch`` (as its transaction holds it:
    the header with its ``"ciphertext"``, or a ``SealedBatch``; ``ciphertext`` for one read
    from an off-chain payload's URI), decrypted with the stream's ``data_key`` and opened by
    ``batches.open_batch_verified``; checked before it is returned."""
    header = batch.batch if isinstance(batch, SealedBatch) else batch
    batch_id = header["id"]
    rid = RecordId(batch_id, index)
    opened = open_batch_verified(schema, batch, data_key, ciphertext=ciphertext)
    if not 0 <= index < len(opened.records):
        raise ConfigError(f"record {rid}: batch {batch_id} holds records 0 to "
                          f"{len(opened.records) - 1}")
    leaves = opened.commitments
    path = tuple((side, h.hex()) for side, h in records.merkle_proof(leaves, index))
    proof = RecordProof(rid, opened.records[index], opened.salts[index], leaves[index].hex(),
                        path, header["merkle_root"])
    check_record_proof(proof)
    return proof


@dataclass(frozen=True)
class RecordCheck:
    proof: RecordProof
    batch: BatchCheck

    def to_json(self) -> dict:
        return {"record_id": str(self.proof.record_id), "proof": self.proof.to_json(),
                "batch": self.batch.to_json()}


def verify_record_flow(api, stream: str, record_id: str | RecordId, org_key, *,
                       purpose: str = "ledgerlake verify record"):
    """Check one record from its Merkle path up to the orderers' signatures; returns a
    ``RecordCheck``. The stream is opened first (``api`` must be an analyst of a reader
    organisation; the opening is audited with ``purpose``; ``org_key`` is the
    organisation's X25519 private key), then the batch is checked as ``verify_batch_flow``
    does, decrypted, and the record proven to be in the batch's Merkle root."""
    rid = record_id if isinstance(record_id, RecordId) else RecordId.parse(record_id)
    ticket = yield from api.flows.open_stream(stream, purpose)  # a non-reader is refused here
    keys = (yield from api.flows.get_stream_keys(stream, ticket)).unwrap(org_key)
    checked = yield from verify_batch_flow(api, stream, rid.batch_id)
    definition = yield from api.flows.get_stream(stream)
    epoch = int(checked.batch["key_epoch"])
    if epoch not in keys:
        raise ConfigError(f"stream {stream!r}: no data key of epoch {epoch} for this "
                          f"organisation (shredded, or granted later)")
    proof = prove_record(definition.schema, checked.batch, keys[epoch], rid.index)
    return RecordCheck(proof, checked)


def verify_proof_flow(api, stream: str, proof: RecordProof):
    """Check a record's inclusion proof without any key (e.g. one an analyst exported with
    ``verify record --json``): its commitment and path, that the path is the one of its
    position in a batch of that size, and that its root is the root of the batch, itself
    checked as ``verify_batch_flow`` does. Returns a ``RecordCheck``."""
    check_record_proof(proof)
    rid = proof.record_id
    checked = yield from verify_batch_flow(api, stream, rid.batch_id)
    batch = checked.batch
    if proof.merkle_root != batch["merkle_root"]:
        raise IntegrityError(f"record {rid}: the proof leads to root {proof.merkle_root}, not "
                             f"to batch {rid.batch_id}'s {batch['merkle_root']}",
                             check="merkle_proof")
    count = int(batch["record_count"])
    if not 0 <= rid.index < count or \
            tuple(side for side, _ in proof.path) != path_sides(rid.index, count):
        raise IntegrityError(f"record {rid}: the path is not the one of record {rid.index} of "
                             f"a batch of {count} records", check="merkle_proof")
    return RecordCheck(proof, checked)


def verify_proof(api, stream: str, proof: RecordProof) -> RecordCheck:
    """``verify_proof_flow`` run by the api's gateway (an awaitable when it is async)."""
    return api.run(verify_proof_flow(api, stream, proof))


def verify_record(api, stream: str, record_id: str | RecordId, org_key, *,
                  purpose: str = "ledgerlake verify record") -> RecordCheck:
    """``verify_record_flow`` run by the api's gateway (an awaitable when it is async)."""
    return api.run(verify_record_flow(api, stream, record_id, org_key, purpose=purpose))


__all__ = [
    "BatchCheck", "ChainReport", "ChainVerifier", "ChannelConfig", "Consenter", "OrdererOrg",
    "RecordCheck", "RecordId", "RecordProof", "check_block_signatures",
    "check_record_proof", "config_in_force", "config_in_force_flow", "is_config_block",
    "path_sides", "prove_record", "require_last_config", "verify_batch", "verify_batch_flow",
    "verify_chain", "verify_batch_against_transaction", "verify_proof", "verify_proof_flow",
    "verify_record", "verify_record_flow",
]
