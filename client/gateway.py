"""Gateway → Network → Contract: the entry points of the client.

    gateway = connect(identity, signer, channel)            # a grpc.Channel you own
    contract = gateway.get_network("ledgerlake").get_contract("ledgerlake")
    contract.submit("put", ["k", "v"])                      # endorse, submit, wait for commit
    contract.evaluate("get", ["k"])                         # query one peer

``connect_async`` gives the same objects over a ``grpc.aio.Channel``; then every method
that does I/O returns an awaitable. Getting a network or a contract does no I/O, and
closing a Gateway never closes the caller's channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import grpc

from ledgerlake.client import proposal as build
from ledgerlake.client.commits import CommitWatchers
from ledgerlake.client.identity import Identity
from ledgerlake.client.rpc import (
    DEFAULT_MAX_IN_FLIGHT,
    Backoff,
    Flow,
    Stubs,
    run_async,
    run_sync,
)
from ledgerlake.client.signing import Signer
from ledgerlake.client.transaction import Proposal, submit_async_flow, submit_flow
from ledgerlake.errors import ConfigError

DEFAULT_TIMEOUTS = {"evaluate": 30.0, "endorse": 30.0, "submit": 10.0, "commit_status": 60.0}


class Gateway:
    """A connection to a Fabric Gateway peer as one identity (blocking calls).

    Parameters
    ----------
    identity:
        Who signs (MSP ID + certificate).
    signer:
        ``signer(message) -> signature``; None for off-line signing only.
    channel:
        A ``grpc.Channel`` to the gateway peer, owned by the caller.
    timeouts:
        Per-step defaults in seconds: evaluate, endorse, submit, commit_status.
    max_in_flight:
        Gateway RPCs this object keeps open at most (default 256); more wait their turn, so a
        busy caller does not run into the peer's own limit (500 over all its clients).
        None: no bound.
    backoff:
        How a step the peer refuses as busy (RESOURCE_EXHAUSTED) is repeated; None: never.
    commit_events:
        asyncio gateways only: learn commit statuses from one filtered block stream per
        channel rather than one signed CommitStatus RPC per transaction (same answers;
        ``ledgerlake.client.commits``). False: always the RPC.
    plan_endorsements:
        When a submit names no endorsing organisations and carries no transient data, name
        those the chaincode's definition requires, if it says so plainly (an AND of one
        peer per organisation; ``ledgerlake.client.endorsers``), so the peer's Gateway asks
        them all at once instead of planning. False: the Gateway always plans.
    """

    _asynchronous = False

    def __init__(self, identity: Identity, signer: Signer | None, channel,
                 timeouts: Mapping[str, float] | None = None,
                 max_in_flight: int | None = DEFAULT_MAX_IN_FLIGHT,
                 backoff: Backoff | None = Backoff(), commit_events: bool = True,
                 plan_endorsements: bool = True):
        unknown = set(timeouts or {}) - set(DEFAULT_TIMEOUTS)
        if unknown:
            raise ConfigError(f"unknown timeout {sorted(unknown)[0]!r}; known: "
                              f"{', '.join(DEFAULT_TIMEOUTS)}")
        self.identity = identity
        self.signer = signer
        self.channel = channel
        self.timeouts = {**DEFAULT_TIMEOUTS, **(timeouts or {})}
        self.backoff = backoff
        try:
            self.stubs = Stubs(channel, max_in_flight, asynchronous=self._asynchronous)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.commits = (CommitWatchers(self) if commit_events and self._asynchronous
                        else None)
        self.plan_endorsements = plan_endorsements
        self.endorser_plans: dict = {}  # (channel, chaincode): (organisations, valid until)

    def sign(self, message: bytes) -> bytes:
        if self.signer is None:
            raise ConfigError("this gateway has no signer; sign the object's bytes off-line "
                              "and use with_signature()")
        return self.signer(message)

    def run(self, flow: Flow):
        return run_sync(self.stubs, flow)

    def get_network(self, name: str) -> "Network":
        return Network(self, name)

    def close(self) -> None:
        """Stop the commit streams and forget the channel; the caller still owns (and
        closes) it."""
        if self.commits is not None:
            self.commits.close()
        self.stubs = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AsyncGateway(Gateway):
    """The same Gateway over ``grpc.aio``: I/O methods return awaitables."""

    _asynchronous = True

    def run(self, flow: Flow):
        return run_async(self.stubs, flow, self.commits)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()


def connect(identity: Identity, signer: Signer | None, channel: grpc.Channel,
            **options) -> Gateway:
    """A blocking Gateway over ``channel`` (see ``Endpoint.dial``)."""
    return Gateway(identity, signer, channel, **options)


def connect_async(identity: Identity, signer: Signer | None, channel: grpc.aio.Channel,
                  **options) -> AsyncGateway:
    """An asyncio Gateway over ``channel`` (see ``Endpoint.dial_async``)."""
    return AsyncGateway(identity, signer, channel, **options)


@dataclass(frozen=True)
class Network:
    """A channel seen through a gateway."""

    gateway: Gateway
    name: str

    def get_contract(self, chaincode: str) -> "Contract":
        return Contract(self, chaincode)

    def chaincode_events(self, chaincode: str, **options):
        """Chaincode events as an iterator (async iterator with an AsyncGateway).

        Options: ``start_block``, ``checkpointer``; see ``ledgerlake.client.events``."""
        from ledgerlake.client.events import ChaincodeEvents
        return ChaincodeEvents(self, chaincode, **options)

    def block_events(self, *, filtered: bool = False, **options):
        """Blocks from the gateway peer's Deliver service, decoded (``Block``), or
        ``FilteredBlock`` messages with ``filtered=True``. Options: ``start_block`` (default:
        the newest block), ``checkpointer`` (resumes at its block)."""
        from ledgerlake.client.events import BlockEvents
        return BlockEvents(self, filtered=filtered, **options)


@dataclass(frozen=True)
class Contract:
    """One chaincode on one channel. Arguments may be str or bytes; results are bytes."""

    network: Network
    name: str
    _gateway: Gateway = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "_gateway", self.network.gateway)

    def new_proposal(self, function: str, args: Iterable[str | bytes] = (), *,
                     transient: Mapping[str, bytes] | None = None,
                     endorsing_organizations: Sequence[str] = ()) -> Proposal:
        """A proposal to evaluate or endorse step by step (no I/O yet)."""
        tx_id, data = build.build_proposal(self._gateway.identity.creator, self.network.name,
                                           self.name, function, args, transient)
        return Proposal(self._gateway, self.network.name, tx_id, data,
                        tuple(endorsing_organizations), chaincode=self.name,
                        # the lookup is a signed query: a gateway that signs off-line skips it
                        plan=(self._gateway.plan_endorsements and not transient
                              and self._gateway.signer is not None))

    def evaluate(self, function: str, args: Iterable[str | bytes] = (), *,
                 transient: Mapping[str, bytes] | None = None,
                 target_organizations: Sequence[str] = ()):
        """Run ``function`` on a peer without recording anything; returns its result.

        Raises EndorseError (with the peer's message) when the chaincode fails."""
        proposal = self.new_proposal(function, args, transient=transient)
        return proposal.evaluate(target_organizations)

    def submit(self, function: str, args: Iterable[str | bytes] = (), *,
               transient: Mapping[str, bytes] | None = None,
               endorsing_organizations: Sequence[str] = ()):
        """Endorse, submit and wait for the commit; returns the chaincode's result.

        Raises EndorseError, SubmitError, CommitStatusError, or CommitError when the
        transaction is committed as invalid."""
        proposal = self.new_proposal(function, args, transient=transient,
                                     endorsing_organizations=endorsing_organizations)
        return self._gateway.run(submit_flow(proposal))

    def submit_async(self, function: str, args: Iterable[str | bytes] = (), *,
                     transient: Mapping[str, bytes] | None = None,
                     endorsing_organizations: Sequence[str] = ()):
        """Endorse and submit; returns a ``Commit`` (with ``.result``) once the orderers
        accept, whose ``status()`` waits for the commit. Raises EndorseError, SubmitError."""
        proposal = self.new_proposal(function, args, transient=transient,
                                     endorsing_organizations=endorsing_organizations)
        return self._gateway.run(submit_async_flow(proposal))
