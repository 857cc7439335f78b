"""Reading the ledger itself through a peer's query system chaincode (qscc), over the
Gateway: a transaction by its id, the block holding it, a block by number, the chain's
height. Any channel member may read these (the channel's Readers policy).

Each read is a flow on the sans-IO core (``*_flow``), so it composes with other calls; the
plain functions run it on the network's gateway (an awaitable on an asyncio gateway).
"""

from __future__ import annotations

from dataclasses import dataclass

from fabric_protos.common import common_pb2, ledger_pb2
from fabric_protos.peer import transaction_pb2

from ledgerlake.client.blocks import Block, TransactionInfo, decode_block, decode_transaction
from ledgerlake.errors import LedgerlakeError

QSCC = "qscc"


@dataclass(frozen=True)
class ChainInfo:
    height: int  # number of blocks; the newest block is height - 1
    current_hash: bytes
    previous_hash: bytes


def _evaluate_flow(network, function: str, *args: str):
    proposal = network.get_contract(QSCC).new_proposal(function, [network.name, *args])
    return (yield from proposal.evaluate_flow())


def _parse(message_type, data: bytes, what: str):
    try:
        return message_type.FromString(data)
    except Exception as exc:  # protobuf's DecodeError and friends, from a peer's answer
        raise LedgerlakeError(f"qscc answered {what} with bytes that do not parse "
                              f"({type(exc).__name__})") from None


def transaction_by_id_flow(network, tx_id: str):
    data = yield from _evaluate_flow(network, "GetTransactionByID", tx_id)
    processed = _parse(transaction_pb2.ProcessedTransaction, data, f"transaction {tx_id}")
    return decode_transaction(-1, processed.transactionEnvelope.SerializeToString(),
                              processed.validationCode)


def block_by_tx_id_flow(network, tx_id: str):
    data = yield from _evaluate_flow(network, "GetBlockByTxID", tx_id)
    return decode_block(_parse(common_pb2.Block, data, f"the block of transaction {tx_id}"))


def block_by_number_flow(network, number: int):
    data = yield from _evaluate_flow(network, "GetBlockByNumber", str(int(number)))
    return decode_block(_parse(common_pb2.Block, data, f"block {number}"))


def chain_info_flow(network):
    data = yield from _evaluate_flow(network, "GetChainInfo")
    info = _parse(ledger_pb2.BlockchainInfo, data, "the chain info")
    return ChainInfo(info.height, info.currentBlockHash, info.previousBlockHash)


def transaction_by_id(network, tx_id: str) -> TransactionInfo:
    """The committed transaction ``tx_id`` (decoded; ``.validation_code``, ``.args``, …).
    EndorseError when the peer does not know it."""
    return network.gateway.run(transaction_by_id_flow(network, tx_id))


def block_by_tx_id(network, tx_id: str) -> Block:
    """The block that holds transaction ``tx_id``."""
    return network.gateway.run(block_by_tx_id_flow(network, tx_id))


def block_by_number(network, number: int) -> Block:
    return network.gateway.run(block_by_number_flow(network, number))


def chain_info(network) -> ChainInfo:
    return network.gateway.run(chain_info_flow(network))
