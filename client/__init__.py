"""The ledgerlake Fabric client: Gateway (sync and asyncio), identities and signing,
Fabric CA over REST, events with checkpoints, and block decoding.

    from ledgerlake.client import connect, load_profile, load_wallet

    profile = load_profile(".ledgerlake/profiles/Org1.json")   # any Fabric network's profile
    identity, signer = load_wallet(".ledgerlake/wallet/Org1/producer")
    with profile.endpoint().dial() as channel:
        gateway = connect(identity, signer, channel)
        contract = gateway.get_network("ledgerlake").get_contract("ledgerlake")
        contract.submit("put", ["k", "v"])

The client reads only connection profiles and wallets; it never imports the local
network's package, so the same code serves any Fabric network.
"""

from ledgerlake.client.api import AsyncLedgerlakeContract, LedgerlakeContract
from ledgerlake.client.blocks import Block, TransactionInfo, block_hash, decode_block, verify_chain
from ledgerlake.client.ca import CAClient, Enrollment, certificate_attributes
from ledgerlake.client.checkpoint import FileCheckpointer, InMemoryCheckpointer
from ledgerlake.client.connection import (
    CertificateAuthority,
    ConnectionProfile,
    Endpoint,
    Organization,
    from_profile,
    from_state_dir,
    load_local_profile,
    load_profile,
)
from ledgerlake.client.events import BlockEvents, ChaincodeEventMessage, ChaincodeEvents
from ledgerlake.client.gateway import (
    AsyncGateway,
    Contract,
    Gateway,
    Network,
    connect,
    connect_async,
)
from ledgerlake.client.identity import (
    Identity,
    load_wallet,
    signer_from_wallet,
    wallet_entries,
    write_wallet,
)
from ledgerlake.client.signing import Signer, signer_from_key, to_low_s
from ledgerlake.client.transaction import Commit, Proposal, Status, Transaction

__all__ = [
    "AsyncGateway", "AsyncLedgerlakeContract", "Block", "block_hash", "BlockEvents",
    "CAClient", "certificate_attributes", "CertificateAuthority", "ChaincodeEventMessage",
    "ChaincodeEvents", "Commit", "connect", "connect_async", "ConnectionProfile",
    "Contract", "decode_block", "Endpoint", "Enrollment", "FileCheckpointer",
    "from_profile", "from_state_dir", "Gateway", "Identity", "InMemoryCheckpointer",
    "LedgerlakeContract", "load_local_profile", "load_profile", "load_wallet", "Network",
    "Organization", "Proposal", "Signer", "signer_from_key", "signer_from_wallet", "Status",
    "to_low_s", "Transaction", "TransactionInfo", "verify_chain", "wallet_entries",
    "write_wallet",
]
