"""ledgerlake: a Hyperledger Fabric network as a trustworthy source for big-data analytics.

Subpackages: ``ledgerlake.network`` (a local Fabric network of native processes),
``ledgerlake.chaincode`` (the contract and its runtime), ``ledgerlake.client`` (Fabric CA
and, next, the Gateway client) and ``ledgerlake.analytics`` (ledger → Parquet → Dask).
"""

from ledgerlake.errors import LedgerlakeError

__version__ = "0.1.0"
__all__ = ["LedgerlakeError", "__version__"]
