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

#: Each public name's module: imported on first use (PEP 562), so a process that needs one
#: module (a sync's pool worker: ``batches``, ``encryption``) does not import gRPC and the
#: rest of the client with it
_EXPORTS = {
    "AsyncLedgerlakeContract": "ledgerlake.client.api",
    "LedgerlakeContract": "ledgerlake.client.api",
    "Block": "ledgerlake.client.blocks",
    "TransactionInfo": "ledgerlake.client.blocks",
    "block_hash": "ledgerlake.client.blocks",
    "decode_block": "ledgerlake.client.blocks",
    "verify_chain": "ledgerlake.client.blocks",
    "CAClient": "ledgerlake.client.ca",
    "Enrollment": "ledgerlake.client.ca",
    "certificate_attributes": "ledgerlake.client.ca",
    "FileCheckpointer": "ledgerlake.client.checkpoint",
    "InMemoryCheckpointer": "ledgerlake.client.checkpoint",
    "CertificateAuthority": "ledgerlake.client.connection",
    "ConnectionProfile": "ledgerlake.client.connection",
    "Endpoint": "ledgerlake.client.connection",
    "Organization": "ledgerlake.client.connection",
    "from_profile": "ledgerlake.client.connection",
    "from_state_dir": "ledgerlake.client.connection",
    "load_local_profile": "ledgerlake.client.connection",
    "load_profile": "ledgerlake.client.connection",
    "BlockEvents": "ledgerlake.client.events",
    "ChaincodeEventMessage": "ledgerlake.client.events",
    "ChaincodeEvents": "ledgerlake.client.events",
    "AsyncGateway": "ledgerlake.client.gateway",
    "Contract": "ledgerlake.client.gateway",
    "Gateway": "ledgerlake.client.gateway",
    "Network": "ledgerlake.client.gateway",
    "connect": "ledgerlake.client.gateway",
    "connect_async": "ledgerlake.client.gateway",
    "Identity": "ledgerlake.client.identity",
    "load_wallet": "ledgerlake.client.identity",
    "signer_from_wallet": "ledgerlake.client.identity",
    "wallet_entries": "ledgerlake.client.identity",
    "write_wallet": "ledgerlake.client.identity",
    "Signer": "ledgerlake.client.signing",
    "signer_from_key": "ledgerlake.client.signing",
    "to_low_s": "ledgerlake.client.signing",
    "Commit": "ledgerlake.client.transaction",
    "Proposal": "ledgerlake.client.transaction",
    "Status": "ledgerlake.client.transaction",
    "Transaction": "ledgerlake.client.transaction",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


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
