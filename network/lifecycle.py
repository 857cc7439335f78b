"""Chaincode-as-a-service lifecycle: package, install, approve, commit, upgrade.

The package holds no code, only ``connection.json`` and a digest of the chaincode's Python
sources; it is written reproducibly (fixed mtimes, owners and gzip header), so the same
sources give the same package id and a changed chaincode gives a new one. ``deploy`` is
idempotent: it commits the next sequence only when the committed version differs.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import ledgerlake.chaincode
import ledgerlake.records
from ledgerlake.errors import NetworkError
from ledgerlake.network.layout import ORDERER_ORG, Layout, Node
from ledgerlake.network.peercli import peer_env, run_peer
from ledgerlake.network.toolchain import Toolchain


@dataclass(frozen=True)
class Package:
    path: Path
    label: str
    package_id: str
    version: str  # the chaincode source digest, used as the definition's version


def source_digest(folder: Path | None = None) -> str:
    """SHA-256 over the chaincode's Python sources (names and contents), including the
    shared record rules (``ledgerlake/records.py``) it enforces."""
    folder = folder or Path(ledgerlake.chaincode.__file__).parent
    files = [(p.relative_to(folder).as_posix(), p) for p in folder.rglob("*.py")
             if "__pycache__" not in p.parts]
    if folder == Path(ledgerlake.chaincode.__file__).parent:
        files.append(("records.py", Path(ledgerlake.records.__file__)))
    h = hashlib.sha256()
    for name, path in sorted(files):
        h.update(name.encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def _tar_gz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name in sorted(files):
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(files[name]), 0, 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(files[name]))
    return raw.getvalue()


def build_package(layout: Layout, digest: str | None = None) -> Package:
    """Write the ccaas package for the current chaincode sources; same sources, same id."""
    digest = digest or source_digest()
    version = digest[:16]
    label = f"{layout.spec.chaincode}_{version}"
    connection = {"address": "set-by-the-peer-builder", "dial_timeout": "10s",
                  "tls_required": True}
    code = _tar_gz({"connection.json": json.dumps(connection, sort_keys=True).encode(),
                    "chaincode.sha256": f"{digest}\n".encode()})
    metadata = json.dumps({"type": "ccaas", "label": label}, sort_keys=True).encode()
    package = _tar_gz({"metadata.json": metadata, "code.tar.gz": code})
    path = layout.chaincode_dir / f"{label}.tgz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(package)
    package_id = f"{label}:{hashlib.sha256(package).hexdigest()}"
    return Package(path, label, package_id, version)


def _orderer_args(layout: Layout) -> list[str]:
    orderer = layout.orderers[0]
    return ["-o", orderer.address, "--tls", "--cafile", str(layout.ca_cert(ORDERER_ORG))]


def committed(layout: Layout, chain: Toolchain) -> dict | None:
    """The committed definition (sequence, version, …) or None if there is none.

    Lists every definition on the channel (an empty list before the first commit) and picks
    ours by name, so "not committed yet" is an answer, not an error text to recognise."""
    peer = layout.peers[0]
    out = run_peer(chain, ["lifecycle", "chaincode", "querycommitted", "--channelID",
                           layout.spec.channel, "--output", "json"],
                   peer_env(layout, chain, peer), what="querying the committed chaincode")
    return pick_definition(out, layout.spec.chaincode)


def pick_definition(listing: str, name: str) -> dict | None:
    """The definition named ``name`` in querycommitted's JSON listing, or None."""
    try:
        definitions = json.loads(listing or "{}").get("chaincode_definitions") or []
    except (ValueError, AttributeError):
        raise NetworkError(f"querycommitted answered something that is not its JSON listing: "
                           f"{listing[:200]!r}") from None
    return next((d for d in definitions if d.get("name") == name), None)


def install(layout: Layout, chain: Toolchain, package: Package, peer: Node) -> None:
    env = peer_env(layout, chain, peer)
    installed = json.loads(run_peer(chain, ["lifecycle", "chaincode", "queryinstalled",
                                            "--output", "json"], env,
                                    what=f"listing chaincode on {peer.name}") or "{}")
    ids = {c["package_id"] for c in installed.get("installed_chaincodes", [])}
    if package.package_id not in ids:
        run_peer(chain, ["lifecycle", "chaincode", "install", str(package.path)], env,
                 what=f"installing {package.label} on {peer.name}")


def approve_and_commit(layout: Layout, chain: Toolchain, package: Package, sequence: int) -> None:
    spec = layout.spec
    definition = ["--channelID", spec.channel, "--name", spec.chaincode, "--version",
                  package.version, "--sequence", str(sequence), "--signature-policy",
                  spec.policy]
    for org in layout.orgs:
        peer = layout.peers_of(org)[0]
        run_peer(chain, ["lifecycle", "chaincode", "approveformyorg", *_orderer_args(layout),
                         *definition, "--package-id", package.package_id, "--waitForEvent"],
                 peer_env(layout, chain, peer), what=f"approving the chaincode for {org.name}")
    targets: list[str] = []
    for org in layout.orgs:
        peer = layout.peers_of(org)[0]
        targets += ["--peerAddresses", peer.address, "--tlsRootCertFiles",
                    str(layout.ca_cert(org))]
    run_peer(chain, ["lifecycle", "chaincode", "commit", *_orderer_args(layout), *definition,
                     *targets, "--waitForEvent"],
             peer_env(layout, chain, layout.peers[0]), what="committing the chaincode")
