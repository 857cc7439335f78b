"""Render ``configtx.yaml`` for the channel's genesis block from a layout.

There is no system channel: configtxgen writes the application channel's genesis block,
which the orderers join through the channel participation API. Anchor peers are part of
each organisation's definition, so no anchor-peer update transaction is needed.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ledgerlake.network.layout import ORDERER_ORG, Layout
from ledgerlake.network.spec import OrgSpec

PROFILE = "LedgerlakeChannel"

#: The channel capability per consensus. In Fabric v3 the channel's V3_0 capability is the
#: switch ``ConsensusTypeBFT()``: the peer's Gateway then broadcasts every envelope to all
#: orderers (a Raft channel would order each transaction once per orderer, the copies marked
#: DUPLICATE_TXID), and blocks are verified against the consenter set. Nothing else the
#: network uses needs V3_0 (orderer capability V2_0, application V2_5, channel
#: participation), so Raft channels take V2_0 and SmartBFT keeps V3_0.
CHANNEL_CAPABILITY = {"raft": "V2_0", "bft": "V3_0"}

#: Raft snapshot interval: small, so that every orderer takes its first snapshot from the
#: channel's first blocks (``up`` waits for it) and a restarted orderer never replays the
#: ConfChanges at the start of its Raft log. Replaying one deadlocks the pinned Fabric
#: (hyperledger/fabric#4199, fixed upstream by #4201 after our snapshot): Chain.apply
#: sends on the unbuffered WALSyncC for each ConfChange (etcdraft/chain.go:1183), while
#: Node.run, which serves WALSyncC (node.go:174), may already hold the next Ready and be
#: blocked handing it to applyC (node.go:156). The next Ready is there as soon as the other
#: orderers' messages arrive during the replay, i.e. under load; the log then ends at
#: "switched to configuration voters=()" or "voters=(1)" and the orderer never applies
#: another block. With a snapshot the ConfState comes from the snapshot and no ConfChange
#: is replayed (ledgerlake never changes the consenter set). It also keeps the replay
#: before the first snapshot within one Raft Ready (MaxSizePerMsg = PreferredMaxBytes),
#: where the 16 MB default failed first.
RAFT_SNAPSHOT_INTERVAL = "16 KB"
PREFERRED_MAX_BYTES = "2 MB"


def _sig(rule: str) -> dict:
    return {"Type": "Signature", "Rule": rule}


def _meta(rule: str) -> dict:
    return {"Type": "ImplicitMeta", "Rule": rule}


def _org(layout: Layout, org: OrgSpec) -> dict:
    m = org.msp_id
    entry = {
        "Name": m, "ID": m, "MSPDir": str(layout.org_msp(org)),
        "Policies": {
            "Readers": _sig(f"OR('{m}.admin','{m}.peer','{m}.client','{m}.orderer')"),
            "Writers": _sig(f"OR('{m}.admin','{m}.client','{m}.orderer')"),
            "Admins": _sig(f"OR('{m}.admin')"),
            "Endorsement": _sig(f"OR('{m}.peer')"),
        },
    }
    if org is ORDERER_ORG:
        entry["OrdererEndpoints"] = [n.address for n in layout.orderers]
    else:
        peers = layout.peers_of(org)
        entry["AnchorPeers"] = [{"Host": peers[0].host, "Port": peers[0].ports["grpc"]}]
    return entry


def render(layout: Layout) -> dict:
    spec = layout.spec
    tls = [layout.node_dir(n) / "tls" / "server.crt" for n in layout.orderers]
    orderer: dict = {
        "OrdererType": "etcdraft" if spec.consensus == "raft" else "BFT",
        "BatchTimeout": spec.batch_timeout,
        "BatchSize": {"MaxMessageCount": spec.max_message_count,
                      "AbsoluteMaxBytes": "10 MB",
                      "PreferredMaxBytes": PREFERRED_MAX_BYTES},
        "Organizations": [_org(layout, ORDERER_ORG)],
        "Policies": {"Readers": _meta("ANY Readers"), "Writers": _meta("ANY Writers"),
                     "Admins": _meta("MAJORITY Admins"),
                     "BlockValidation": _meta("ANY Writers")},
        "Capabilities": {"V2_0": True},
    }
    if spec.consensus == "raft":
        orderer["EtcdRaft"] = {
            "Consenters": [
                {"Host": n.host, "Port": n.ports["grpc"], "ClientTLSCert": str(c),
                 "ServerTLSCert": str(c)} for n, c in zip(layout.orderers, tls)],
            "Options": {"TickInterval": "500ms", "ElectionTick": 10, "HeartbeatTick": 1,
                        "MaxInflightBlocks": 5, "SnapshotIntervalSize": RAFT_SNAPSHOT_INTERVAL},
        }
    else:
        orderer["ConsenterMapping"] = [
            {"ID": i + 1, "Host": n.host, "Port": n.ports["grpc"], "MSPID": ORDERER_ORG.msp_id,
             "Identity": str(layout.node_dir(n) / "msp" / "signcerts" / "cert.pem"),
             "ClientTLSCert": str(c), "ServerTLSCert": str(c)}
            for i, (n, c) in enumerate(zip(layout.orderers, tls))]
        orderer["SmartBFT"] = {
            "RequestBatchMaxCount": spec.max_message_count,
            "RequestBatchMaxBytes": 10 * 2**20,
            "RequestBatchMaxInterval": spec.batch_timeout,
            "IncomingMessageBufferSize": 200, "RequestPoolSize": 400,
            "RequestForwardTimeout": "2s", "RequestComplainTimeout": "20s",
            "RequestAutoRemoveTimeout": "3m", "ViewChangeResendInterval": "5s",
            "ViewChangeTimeout": "20s", "LeaderHeartbeatTimeout": "1m0s",
            "LeaderHeartbeatCount": 10, "CollectTimeout": "1s",
            "SyncOnStart": False, "SpeedUpViewChange": False,
        }
    application = {
        "Organizations": [_org(layout, o) for o in layout.orgs],
        "Policies": {"Readers": _meta("ANY Readers"), "Writers": _meta("ANY Writers"),
                     "Admins": _meta("MAJORITY Admins"),
                     "LifecycleEndorsement": _meta("MAJORITY Endorsement"),
                     "Endorsement": _meta("MAJORITY Endorsement")},
        "Capabilities": {"V2_5": True},
    }
    profile = {
        "Policies": {"Readers": _meta("ANY Readers"), "Writers": _meta("ANY Writers"),
                     "Admins": _meta("MAJORITY Admins")},
        "Capabilities": {CHANNEL_CAPABILITY[spec.consensus]: True},
        "Orderer": orderer,
        "Application": application,
    }
    return {"Profiles": {PROFILE: profile}}


def write(layout: Layout) -> Path:
    """Write ``config/configtx.yaml`` and return its folder (configtxgen's -configPath)."""
    layout.config_dir.mkdir(parents=True, exist_ok=True)
    path = layout.config_dir / "configtx.yaml"
    path.write_text(yaml.safe_dump(render(layout), sort_keys=False))
    return layout.config_dir
