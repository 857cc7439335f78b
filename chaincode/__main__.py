"""Run the ledgerlake chaincode server: ``python -m ledgerlake.chaincode``.

Reads ``CHAINCODE_ID`` (the package id the peer expects), ``CHAINCODE_SERVER_ADDRESS``,
``LEDGERLAKE_CHAINCODE_MSPID`` (the organisation it endorses for: without it the server
refuses to start, since it could not tell whether it may see a stream's plaintext), the TLS
pair from ``LEDGERLAKE_CHAINCODE_TLS_CERT``/``_KEY`` and, for mutual TLS, the root that
signs the peers' client certificates from ``LEDGERLAKE_CHAINCODE_TLS_CLIENT_ROOT``.

Only contract functions are served. ``LEDGERLAKE_CHAINCODE_SELFTEST=1`` (set by a network
started with ``NetworkSpec(selftest=True)``) adds the network self-test functions of
``diagnostics.py``, which write unaudited state and so never run in production.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Mapping

from ledgerlake.chaincode import contract
from ledgerlake.chaincode.runtime import Handler, serve

SELFTEST_ENV = "LEDGERLAKE_CHAINCODE_SELFTEST"


def served_functions(environ: Mapping[str, str] = os.environ) -> dict[str, Handler]:
    """The function table the server answers: the contract, plus the self-test functions
    only when the network was started for self-tests."""
    functions: dict[str, Handler] = dict(contract.FUNCTIONS)
    if environ.get(SELFTEST_ENV) == "1":
        from ledgerlake.chaincode import diagnostics
        functions.update(diagnostics.FUNCTIONS)
    return functions


def main(environ: Mapping[str, str] = os.environ) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    cc_id = environ.get("CHAINCODE_ID")
    address = environ.get("CHAINCODE_SERVER_ADDRESS")
    if not cc_id or not address:
        print("error: CHAINCODE_ID and CHAINCODE_SERVER_ADDRESS must be set", file=sys.stderr)
        return 2
    own_msp_id = environ.get("LEDGERLAKE_CHAINCODE_MSPID", "")
    if not own_msp_id:
        print("error: LEDGERLAKE_CHAINCODE_MSPID must name the organisation this server "
              "endorses for (it decides who may see plaintext)", file=sys.stderr)
        return 2
    cert = environ.get("LEDGERLAKE_CHAINCODE_TLS_CERT")
    key = environ.get("LEDGERLAKE_CHAINCODE_TLS_KEY")
    client_root = environ.get("LEDGERLAKE_CHAINCODE_TLS_CLIENT_ROOT")
    functions = served_functions(environ)

    async def run() -> None:
        task = asyncio.ensure_future(serve(
            cc_id, address, functions, own_msp_id=own_msp_id,
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

    event_loop()(run())
    return 0


def event_loop():
    """``uvloop.run`` where uvloop is installed (each transaction is four messages on the
    peer's stream; uvloop cut the server's CPU per transaction by a third on a simulated
    stream without TLS, by about 5% on the network), else ``asyncio.run``."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


if __name__ == "__main__":
    sys.exit(main())
