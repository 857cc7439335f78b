#!/usr/bin/env python3
"""The peer's external builder for chaincode-as-a-service packages (stdlib only).

Installed as three programs, ``bin/detect``, ``bin/build`` and ``bin/release``, which the
peer runs at install time with a pruned environment (PATH plus LEDGERLAKE_CCAAS_CONFIG):

- detect SOURCE METADATA          exit 0 when metadata.json says type "ccaas"
- build SOURCE METADATA OUTPUT    connection.json from the package, overlaid with the
                                  peer's own LEDGERLAKE_CCAAS_CONFIG (address, TLS root)
- release BUILD RELEASE           puts it where the peer looks: chaincode/server/connection.json

One package (one package id) thus serves every organisation, each peer pointing at its own
organisation's chaincode server.
"""

import json
import os
import shutil
import sys

CONFIG_ENV = "LEDGERLAKE_CCAAS_CONFIG"


def detect(source, metadata):
    with open(os.path.join(metadata, "metadata.json")) as fh:
        return 0 if json.load(fh).get("type", "").lower() == "ccaas" else 1


def build(source, metadata, output):
    with open(os.path.join(source, "connection.json")) as fh:
        connection = json.load(fh)
    connection.update(json.loads(os.environ.get(CONFIG_ENV) or "{}"))
    if not connection.get("address"):
        print(f"connection.json has no address and {CONFIG_ENV} gives none", file=sys.stderr)
        return 1
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "connection.json"), "w") as fh:
        json.dump(connection, fh)
    meta_inf = os.path.join(source, "META-INF")
    if os.path.isdir(meta_inf):
        shutil.copytree(meta_inf, os.path.join(output, "META-INF"), dirs_exist_ok=True)
    return 0


def release(build_dir, release_dir):
    target = os.path.join(release_dir, "chaincode", "server")
    os.makedirs(target, exist_ok=True)
    shutil.copy(os.path.join(build_dir, "connection.json"), target)
    meta_inf = os.path.join(build_dir, "META-INF", "statedb")
    if os.path.isdir(meta_inf):
        shutil.copytree(meta_inf, os.path.join(release_dir, "statedb"), dirs_exist_ok=True)
    return 0


def main(argv):
    step = os.path.basename(argv[0])
    steps = {"detect": (detect, 2), "build": (build, 3), "release": (release, 2)}
    if step not in steps or len(argv) - 1 != steps[step][1]:
        print(f"usage: detect|build|release with the peer's arguments (got {argv})",
              file=sys.stderr)
        return 2
    return steps[step][0](*argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
