"""The one error tree of ledgerlake.

Every error a user can cause or act on is a ``LedgerlakeError``; the CLI prints
``ErrorName: message`` on one line for these and exits 1, and never a traceback.

    LedgerlakeError
    ├── ConfigError          bad spec, option, or environment value (names the field)
    ├── RecordError          a record, batch, schema or JSON input breaks the record format's
    │                        rules (names the rule; also a ValueError)
    ├── IntegrityError       data does not match the hash or signature that commits to it
    │                        (names the block and the check: data hash, previous hash,
    │                        numbering, orderer signatures, ...; see the class)
    ├── DecryptionError      a ciphertext or wrapped key did not decrypt (names what; never the
    │                        crypto library's own exception)
    ├── ToolchainError       Go / gcc missing or too old, module proxy unreachable
    ├── CAError              the Fabric CA refused or failed a request
    ├── SourceError          an ingestion source (database, HTTP API, MQTT broker) failed
    │                        while reading (names the source and what failed; no secrets)
    ├── GatewayError         a Gateway call failed (transaction id, gRPC code, per-node details)
    │   ├── EndorseError     endorsement (or evaluation) failed
    │   ├── SubmitError      the orderer did not accept the transaction
    │   └── CommitStatusError  the commit status could not be read
    ├── CommitError          the transaction committed as invalid (validation code)
    └── NetworkError         the local Fabric network could not do what was asked
        ├── PortInUseError   a listener port is taken (names the port and the process)
        ├── NodeFailedError  a node process died or never became healthy (carries its log tail)
        └── NotRunningError  the command needs a running network and there is none
"""

from __future__ import annotations

from dataclasses import dataclass


class LedgerlakeError(Exception):
    """Base class of every error ledgerlake raises on purpose."""


class ConfigError(LedgerlakeError, ValueError):
    """A configuration value (spec field, option, environment variable) is invalid."""


class RecordError(LedgerlakeError, ValueError):
    """A record, batch, schema or JSON input breaks the format's rules (the message names
    the rule). ``ledgerlake.records.RecordError`` is this class."""


class IntegrityError(LedgerlakeError):
    """Data does not match the hash or signature that commits to it. ``block_number`` names
    the block (when one is at fault) and ``check`` what failed: ``"data_hash"`` (the header's
    data hash is not the hash of the block's data), ``"previous_hash"`` (the header does not
    name the hash of the block before), ``"number"`` (blocks are not consecutive),
    ``"signatures"`` (the orderers' signatures do not meet the channel configuration),
    ``"last_config"``, ``"config"`` (a config block's content); for a batch
    ``"transaction"``, ``"batch_id"``, ``"batch_header"``; for a record ``"merkle_proof"``
    (``ledgerlake.client.verify``)."""

    def __init__(self, message: str, *, block_number: int | None = None, check: str = ""):
        super().__init__(message)
        self.block_number = block_number
        self.check = check


class DecryptionError(LedgerlakeError):
    """A ciphertext or a wrapped key did not decrypt: wrong key, tampered data, data moved to
    another context (stream, source, seq, epoch, organisation), bad base64 or a wrong length.
    ``what`` names the thing that did not decrypt."""

    def __init__(self, what: str, reason: str):
        super().__init__(f"{what} did not decrypt: {reason}")
        self.what = what
        self.reason = reason


class ToolchainError(LedgerlakeError):
    """The Fabric toolchain cannot be installed or found."""


class CAError(LedgerlakeError):
    """A Fabric CA request failed; ``code`` is the CA's error code when it gave one."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class SourceError(LedgerlakeError):
    """An ingestion source failed while reading: the database went away, the HTTP API kept
    answering 5xx or refused the request, the MQTT broker could not be reached. The message
    names the source (never its password or auth header) and what to do."""


@dataclass(frozen=True)
class ErrorDetail:
    """One node's part of a Gateway error: its address, MSP ID and message."""

    address: str
    msp_id: str
    message: str


class GatewayError(LedgerlakeError):
    """A Gateway call failed. Carries the transaction id, the gRPC status code and one
    ``ErrorDetail`` per peer or orderer that the Gateway reported."""

    def __init__(self, message: str, *, transaction_id: str = "", code=None,
                 details: tuple[ErrorDetail, ...] = ()):
        text = message
        if details:
            text += " [" + "; ".join(f"{d.address} ({d.msp_id}): {d.message}"
                                     for d in details) + "]"
        super().__init__(text)
        self.message = message
        self.transaction_id = transaction_id
        self.code = code
        self.details = tuple(details)

    @property
    def error_code(self):
        """The contract's stable ``ErrorCode`` in the peers' details or the message, or None
        (e.g. for a gRPC failure that never reached the chaincode)."""
        from ledgerlake.protocol import error_code
        for text in (*(d.message for d in self.details), self.message):
            code = error_code(text)
            if code is not None:
                return code
        return None


class EndorseError(GatewayError):
    """Endorsing (or evaluating) the proposal failed."""


class SubmitError(GatewayError):
    """The ordering service did not accept the endorsed transaction."""


class CommitStatusError(GatewayError):
    """The transaction's commit status could not be obtained."""


class CommitError(LedgerlakeError):
    """The transaction was committed but marked invalid (e.g. MVCC_READ_CONFLICT)."""

    def __init__(self, transaction_id: str, validation_code: int, block_number: int):
        from fabric_protos.peer.transaction_pb2 import TxValidationCode

        self.transaction_id = transaction_id
        self.validation_code = validation_code
        self.code_name = TxValidationCode.Name(validation_code)
        self.block_number = block_number
        super().__init__(f"transaction {transaction_id} committed as invalid in block "
                         f"{block_number}: {self.code_name} ({validation_code})")


class NetworkError(LedgerlakeError):
    """The local network could not do what was asked."""


class PortInUseError(NetworkError):
    """A port the network needs is already taken."""

    def __init__(self, port: int, owner: str | None, node: str):
        who = f" by {owner}" if owner else " by another process"
        super().__init__(
            f"port {port} needed by {node} is taken{who}; stop it or choose another "
            f"--base-port"
        )
        self.port = port
        self.owner = owner
        self.node = node


class NodeFailedError(NetworkError):
    """A node died or did not become healthy; ``log_tail`` holds the end of its log."""

    def __init__(self, node: str, reason: str, log_tail: str = ""):
        super().__init__(f"{node} {reason}")
        self.node = node
        self.log_tail = log_tail


class NotRunningError(NetworkError):
    """The command needs a running network."""
