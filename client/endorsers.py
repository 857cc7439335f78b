"""Which organisations must endorse, read from the chaincode's definition, so the client
can name them in ``EndorseRequest.endorsing_organizations``.

Why: without names, the peer's Gateway endorses on its own peer first, then builds a plan
from its discovery service and the chaincode's interest, then asks the others: about a
tenth of the gateway peer's CPU and a second endorsement round trip. When the chaincode's
policy says exactly which organisations sign, the client can name them and the Gateway
asks all of them at once.

The rule (``required_organizations``): the definition's endorsement policy is a signature
policy that is an AND of one principal per organisation (role peer or member; Fabric's
``AND('Org1MSP.peer','Org2MSP.peer')``), validated by the default ``vscc``, and the
definition has no private data collections. Then every valid transaction needs exactly
one endorsement from each of those organisations, and naming them is what the Gateway's
own plan would do. Anything else (OR, OutOf, a channel policy reference such as MAJORITY
Endorsement, collections, a custom validation plugin, a failed lookup): no names, the
Gateway plans. Calls with transient data are never planned here (the Gateway's own plan
protects it). A chaincode that sets key-level (state-based) endorsement policies needs
more than its definition says: switch planning off for it (``plan_endorsements=False``)
or name the organisations per call.

The answer is kept ``PLAN_TTL`` seconds per channel and chaincode, and dropped at once when
a planned transaction commits as ENDORSEMENT_POLICY_FAILURE (the definition changed).
"""

from __future__ import annotations

import time

from fabric_protos.msp import msp_principal_pb2
from fabric_protos.peer import policy_pb2
from fabric_protos.peer.lifecycle import lifecycle_pb2

from ledgerlake.errors import GatewayError

LIFECYCLE = "_lifecycle"
#: system chaincodes have no definition to read
SYSTEM = frozenset({"qscc", "cscc", "lscc", "escc", "vscc"})
PLAN_TTL = 30.0
_ROLES = (msp_principal_pb2.MSPRole.PEER, msp_principal_pb2.MSPRole.MEMBER)


def required_organizations(definition: bytes) -> tuple[str, ...]:
    """The MSP IDs that must each endorse, from a ``QueryChaincodeDefinitionResult``; ()
    when the definition does not say so plainly (see the module's rule)."""
    try:
        result = lifecycle_pb2.QueryChaincodeDefinitionResult.FromString(definition)
        if result.validation_plugin != "vscc" or result.collections.config:
            return ()
        policy = policy_pb2.ApplicationPolicy.FromString(result.validation_parameter)
        if policy.WhichOneof("Type") != "signature_policy":
            return ()
        envelope = policy.signature_policy
        rule = envelope.rule
        if rule.WhichOneof("Type") != "n_out_of":
            return ()
        rules = rule.n_out_of.rules
        if not rules or rule.n_out_of.n != len(rules):
            return ()
        orgs = []
        for leaf in rules:
            if leaf.WhichOneof("Type") != "signed_by":
                return ()
            principal = envelope.identities[leaf.signed_by]
            if principal.principal_classification != msp_principal_pb2.MSPPrincipal.ROLE:
                return ()
            role = msp_principal_pb2.MSPRole.FromString(principal.principal)
            if role.role not in _ROLES or role.msp_identifier in orgs:
                return ()
            orgs.append(role.msp_identifier)
        return tuple(orgs)
    except Exception:  # noqa: BLE001  (bytes that do not parse, an index out of range)
        return ()


def plannable(chaincode: str) -> bool:
    return not chaincode.startswith("_") and chaincode not in SYSTEM


def endorsers_flow(network, chaincode: str):
    """The organisations to name when endorsing ``chaincode`` on ``network`` (a flow;
    () means let the Gateway plan). Looked up once per ``PLAN_TTL``; while a lookup runs,
    other calls let the Gateway plan."""
    plans = network.gateway.endorser_plans
    key = (network.name, chaincode)
    now = time.monotonic()
    cached = plans.get(key)
    if cached is not None and cached[1] > now:
        return cached[0]
    plans[key] = ((), now + PLAN_TTL)  # concurrent callers: no names until we know
    args = lifecycle_pb2.QueryChaincodeDefinitionArgs(name=chaincode).SerializeToString()
    proposal = network.get_contract(LIFECYCLE).new_proposal("QueryChaincodeDefinition", [args])
    try:
        orgs = required_organizations((yield from proposal.evaluate_flow()))
    except GatewayError:  # not allowed to read it, no such chaincode, …: the Gateway plans
        orgs = ()
    plans[key] = (orgs, time.monotonic() + PLAN_TTL)
    return orgs


def forget(network, chaincode: str) -> None:
    """Drop the plan (a planned transaction failed the endorsement policy)."""
    network.gateway.endorser_plans.pop((network.name, chaincode), None)
