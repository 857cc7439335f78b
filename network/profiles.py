"""The Fabric common connection profiles of a local network, one per peer organisation.

A profile is what Fabric's SDKs (and ``ledgerlake.client``) read to reach a network, so
clients never read the network's own files. Each lists every organisation's peers (a
client may need endorsers anywhere) and CAs, with TLS roots inline so it can be copied
elsewhere alone. The TLS certificates name each node's address (127.0.0.1 unless the spec
gives it its own) and localhost, so no ``ssl-target-name-override`` is needed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ledgerlake.network.layout import Layout
from ledgerlake.network.spec import OrgSpec

PROFILE_VERSION = "1.0.0"


def connection_profile(layout: Layout, org: OrgSpec, ca_names: dict[str, str]) -> dict:
    """The profile of ``org`` as a mapping; ``ca_names`` maps CA node names to the name
    each CA server reports (empty for a server's default CA)."""
    orgs, peers, cas = {}, {}, {}
    for other in layout.orgs:
        root = layout.ca_cert(other).read_text()
        ca = layout.ca_of(other)
        orgs[other.name] = {"mspid": other.msp_id,
                            "peers": [p.name for p in layout.peers_of(other)],
                            "certificateAuthorities": [ca.name]}
        for peer in layout.peers_of(other):
            peers[peer.name] = {"url": f"grpcs://{peer.address}", "tlsCACerts": {"pem": root}}
        cas[ca.name] = {"url": f"https://{ca.at('api')}",
                        "caName": ca_names.get(ca.name, ""), "tlsCACerts": {"pem": [root]}}
    return {
        "name": f"{layout.spec.channel}-{org.name}",
        "version": PROFILE_VERSION,
        "client": {"organization": org.name},
        "organizations": orgs,
        "peers": peers,
        "certificateAuthorities": cas,
    }


def write_profiles(layout: Layout, ca_names: dict[str, str]) -> list[Path]:
    """Write (atomically, replacing) the profile of every peer organisation."""
    written = []
    for org in layout.orgs:
        path = layout.profile_file(org)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(connection_profile(layout, org, ca_names), indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{org.name}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(path)
    return written
