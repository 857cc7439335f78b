"""The pinned Fabric toolchain: the one place that says which binaries ledgerlake runs.

The design asks for Fabric v3.1.5 (commit 86c1172b…). The Go module proxy reachable from
this project's machines answers ``403 This module version is not available`` for that
commit (and for every Fabric commit after 2022 we tried), so the installer pins the newest
Fabric commit the proxy does serve: a v3.0.0 development snapshot of ``main`` from
2023-04-05 that already has the Gateway, the channel participation API, external
builders (chaincode-as-a-service), Raft and SmartBFT. Switching to v3.1.5 is a change of
``FABRIC_MODULE_VERSION``, ``FABRIC_COMMIT`` and ``FABRIC_VERSION`` here once the proxy serves it.
"""

from __future__ import annotations

#: What the design asks for; kept here so the gap is visible in one place.
FABRIC_TARGET_VERSION = "3.1.5"
FABRIC_TARGET_COMMIT = "86c1172bec37e6590c6b1ae6f847833df48d65fc"

#: What is installed: module path, Go pseudo-version (by commit), and the version string
#: stamped into the binaries (``peer version``).
FABRIC_MODULE = "github.com/hyperledger/fabric"
FABRIC_MODULE_VERSION = "v1.4.0-rc1.0.20230405174026-695dd57e01c2"
FABRIC_COMMIT = "695dd57e01c285a43eb297b6744c156d7bb4baea"
FABRIC_VERSION = "3.0.0-dev+695dd57e"
FABRIC_COMMANDS = ("peer", "orderer", "configtxgen", "configtxlator", "osnadmin")

FABRIC_CA_MODULE = "github.com/hyperledger/fabric-ca"
FABRIC_CA_VERSION = "v1.5.21"
FABRIC_CA_COMMANDS = ("fabric-ca-server",)

#: The oldest Go that builds both modules (fabric-ca v1.5.21 declares ``go 1.25.0``).
MIN_GO = (1, 25)


def pins() -> dict[str, str]:
    """The versions an installed toolchain must match, as recorded in ``versions.json``."""
    return {
        "fabric_module_version": FABRIC_MODULE_VERSION,
        "fabric_commit": FABRIC_COMMIT,
        "fabric_version": FABRIC_VERSION,
        "fabric_ca_version": FABRIC_CA_VERSION,
    }
