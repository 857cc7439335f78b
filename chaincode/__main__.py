"""Run the ledgerlake chaincode server: ``python -m ledgerlake.chaincode``.

Reads ``CHAINCODE_ID`` (the package id the peer expects), ``CHAINCODE_SERVER_ADDRESS`` and
the TLS pair from ``LEDGERLAKE_CHAINCODE_TLS_CERT``/``_KEY`` and, for mutual TLS, the root
that signs the peers' client certificates from ``LEDGERLAKE_CHAINCODE_TLS_CLIENT_ROOT``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from ledgerlake.chaincode import contract, diagnostics
from ledgerlake.chaincode.runtime import serve


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    cc_id = os.environ.get("CHAINCODE_ID")
    address = os.environ.get("CHAINCODE_SERVER_ADDRESS")
    if not cc_id or not address:
        print("error: CHAINCODE_ID and CHAINCODE_SERVER_ADDRESS must be set", file=sys.stderr)
        return 2
    cert = os.environ.get("LEDGERLAKE_CHAINCODE_TLS_CERT")
    key = os.environ.get("LEDGERLAKE_CHAINCODE_TLS_KEY")
    client_root = os.environ.get("LEDGERLAKE_CHAINCODE_TLS_CLIENT_ROOT")

    async def run() -> None:
        task = asyncio.ensure_future(serve(
            cc_id, address, {**contract.FUNCTIONS, **diagnostics.FUNCTIONS},
            tls_cert=Path(cert).read_bytes() if cert else None,
            tls_key=Path(key).read_bytes() if key else None,
            client_root=Path(client_root).read_bytes() if client_root else None))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
