"""The ledgerlake Fabric client: Gateway (sync and asyncio), identities and signing,
Fabric CA over REST, events with checkpoints, and block decoding.

    from ledgerlake.client import Identity, connect, from_state_dir, signer_from_wallet

    endpoint = from_state_dir(".ledgerlake", org="Org1")
    with endpoint.dial() as channel:
        gateway = connect(Identity.from_wallet(wallet), signer_from_wallet(wallet), channel)
        contract = gateway.get_network("ledgerlake").get_contract("ledgerlake")
        contract.submit("put", ["k", "v"])
"""

from ledgerlake.client.blocks import Block, TransactionInfo, block_hash, decode_block, verify_chain
from ledgerlake.client.ca import CAClient, Enrollment, certificate_attributes
from ledgerlake.client.checkpoint import FileCheckpointer, InMemoryCheckpointer
from ledgerlake.client.connection import Endpoint, from_profile, from_state_dir
from ledgerlake.client.events import BlockEvents, ChaincodeEventMessage, ChaincodeEvents
from ledgerlake.client.gateway import (
    AsyncGateway,
    Contract,
    Gateway,
    Network,
    connect,
    connect_async,
)
from ledgerlake.client.identity import Identity, signer_from_wallet
from ledgerlake.client.signing import Signer, signer_from_key, to_low_s
from ledgerlake.client.transaction import Commit, Proposal, Status, Transaction

__all__ = [
    "AsyncGateway", "Block", "BlockEvents", "CAClient", "ChaincodeEventMessage",
    "ChaincodeEvents", "Commit", "Contract", "Endpoint", "Enrollment", "FileCheckpointer",
    "Gateway", "Identity", "InMemoryCheckpointer", "Network", "Proposal", "Signer", "Status",
    "Transaction", "TransactionInfo", "block_hash", "certificate_attributes", "connect",
    "connect_async", "decode_block", "from_profile", "from_state_dir", "signer_from_key",
    "signer_from_wallet", "to_low_s", "verify_chain",
]
