"""Naming the endorsing organisations from a chaincode definition (pure logic)."""

import asyncio

import grpc
import pytest
from fabric_protos.common import policies_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.msp import msp_principal_pb2
from fabric_protos.peer import collection_pb2, policy_pb2, proposal_response_pb2
from fabric_protos.peer.lifecycle import lifecycle_pb2

from ledgerlake.client import Identity, connect, connect_async
from ledgerlake.client.endorsers import required_organizations
from ledgerlake.errors import EndorseError
from memory_gateway import GatewayRpcError

ROLE = msp_principal_pb2.MSPRole


def _principal(msp, role=ROLE.PEER):
    return msp_principal_pb2.MSPPrincipal(
        principal_classification=msp_principal_pb2.MSPPrincipal.ROLE,
        principal=ROLE(msp_identifier=msp, role=role).SerializeToString())


def _definition(n, principals, plugin="vscc", collections=False, reference=""):
    if reference:
        policy = policy_pb2.ApplicationPolicy(channel_config_policy_reference=reference)
    else:
        rules = [policies_pb2.SignaturePolicy(signed_by=i) for i in range(len(principals))]
        policy = policy_pb2.ApplicationPolicy(signature_policy=policies_pb2.SignaturePolicyEnvelope(
            version=0, rule=policies_pb2.SignaturePolicy(
                n_out_of=policies_pb2.SignaturePolicy.NOutOf(n=n, rules=rules)),
            identities=principals))
    result = lifecycle_pb2.QueryChaincodeDefinitionResult(
        sequence=1, version="1", endorsement_plugin="escc", validation_plugin=plugin,
        validation_parameter=policy.SerializeToString())
    if collections:
        result.collections.config.append(collection_pb2.CollectionConfig())
    return result.SerializeToString()


def test_an_and_of_one_peer_per_organisation_names_them():
    assert required_organizations(_definition(2, [_principal("Org1MSP"), _principal("Org2MSP")])
                                  ) == ("Org1MSP", "Org2MSP")
    assert required_organizations(_definition(1, [_principal("Org1MSP", ROLE.MEMBER)])
                                  ) == ("Org1MSP",)


@pytest.mark.parametrize("definition", [
    _definition(1, [_principal("Org1MSP"), _principal("Org2MSP")]),          # OR
    _definition(2, [_principal("Org1MSP"), _principal("Org1MSP")]),          # 2 peers of Org1
    _definition(2, [_principal("Org1MSP"), _principal("Org2MSP", ROLE.ADMIN)]),
    _definition(2, [_principal("Org1MSP"), _principal("Org2MSP")], plugin="custom"),
    _definition(2, [_principal("Org1MSP"), _principal("Org2MSP")], collections=True),
    _definition(0, [], reference="/Channel/Application/Endorsement"),        # MAJORITY
    b"\xff\x00not a definition",
])
def test_anything_less_plain_lets_the_gateway_plan(definition):
    assert required_organizations(definition) == ()


class _Channel:
    """A Gateway that answers the definition lookup and records each Endorse request."""

    def __init__(self, definition, asynchronous=False):
        self.definition = definition
        self.asynchronous = asynchronous
        self.endorse_orgs, self.lookups = [], 0

    def handle(self, method, request):
        if method == "Evaluate":
            self.lookups += 1
            return gateway_pb2.EvaluateResponse(result=proposal_response_pb2.Response(
                status=200, payload=self.definition))
        self.endorse_orgs.append(tuple(request.endorsing_organizations))
        raise _Stop()

    def unary_unary(self, path, request_serializer=None, response_deserializer=None):
        method = path.rsplit("/", 1)[-1]
        if self.asynchronous:
            async def call(request, timeout=None):
                return self.handle(method, request)
            return call
        return lambda request, timeout=None: self.handle(method, request)


class _Stop(Exception):
    pass


def _endorse(contract, **options):
    proposal = contract.new_proposal("put", ["k", "v"], **options)
    try:
        result = proposal.endorse()
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    except _Stop:
        pass


def test_the_client_names_the_required_organisations_once_looked_up():
    channel = _Channel(_definition(2, [_principal("Org1MSP"), _principal("Org2MSP")]))
    gateway = connect(Identity("Org1MSP", b"cert"), lambda m: b"sig", channel)
    contract = gateway.get_network("ch").get_contract("cc")
    _endorse(contract)
    _endorse(contract)
    _endorse(contract, transient={"k": b"secret"})           # transient: the Gateway plans
    _endorse(contract, endorsing_organizations=["Org2MSP"])  # the caller's names win
    assert channel.endorse_orgs == [("Org1MSP", "Org2MSP"), ("Org1MSP", "Org2MSP"), (),
                                    ("Org2MSP",)]
    assert channel.lookups == 1


def test_planning_can_be_switched_off_and_an_or_policy_is_left_to_the_gateway():
    channel = _Channel(_definition(2, [_principal("Org1MSP"), _principal("Org2MSP")]),
                       asynchronous=True)
    gateway = connect_async(Identity("Org1MSP", b"cert"), lambda m: b"sig", channel,
                            plan_endorsements=False)
    _endorse(gateway.get_network("ch").get_contract("cc"))
    channel_or = _Channel(_definition(1, [_principal("Org1MSP"), _principal("Org2MSP")]))
    gateway = connect(Identity("Org1MSP", b"cert"), lambda m: b"sig", channel_or)
    _endorse(gateway.get_network("ch").get_contract("cc"))
    assert (channel.endorse_orgs, channel.lookups) == ([()], 0)
    assert (channel_or.endorse_orgs, channel_or.lookups) == ([()], 1)


def test_a_failed_lookup_lets_the_gateway_plan():
    class Refusing(_Channel):
        def handle(self, method, request):
            if method == "Evaluate":
                self.lookups += 1
                raise GatewayRpcError(grpc.StatusCode.UNKNOWN, "access denied")
            return super().handle(method, request)

    channel = Refusing(b"")
    gateway = connect(Identity("Org1MSP", b"cert"), lambda m: b"sig", channel)
    _endorse(gateway.get_network("ch").get_contract("cc"))
    assert (channel.endorse_orgs, channel.lookups) == ([()], 1)


def test_named_organisations_the_gateway_cannot_reach_fall_back_to_its_own_plan():
    class NoOrg2Yet(_Channel):
        def handle(self, method, request):
            if method == "Endorse" and request.endorsing_organizations:
                self.endorse_orgs.append(tuple(request.endorsing_organizations))
                raise GatewayRpcError(grpc.StatusCode.UNAVAILABLE,
                                      "failed to find any endorsing peers for org(s): Org2MSP")
            return super().handle(method, request)

    channel = NoOrg2Yet(_definition(2, [_principal("Org1MSP"), _principal("Org2MSP")]))
    gateway = connect(Identity("Org1MSP", b"cert"), lambda m: b"sig", channel)
    _endorse(gateway.get_network("ch").get_contract("cc"))
    with pytest.raises(EndorseError, match="Org2MSP"):  # the caller's own names: no fallback
        _endorse(gateway.get_network("ch").get_contract("cc"),
                 endorsing_organizations=["Org2MSP"])
    assert channel.endorse_orgs == [("Org1MSP", "Org2MSP"), (), ("Org2MSP",)]


def test_a_gateway_that_signs_off_line_lets_the_gateway_plan():
    channel = _Channel(_definition(2, [_principal("Org1MSP"), _principal("Org2MSP")]))
    gateway = connect(Identity("Org1MSP", b"cert"), None, channel)
    proposal = gateway.get_network("ch").get_contract("cc").new_proposal("put", ["k"])
    try:
        proposal.with_signature(b"signed elsewhere").endorse()
    except _Stop:
        pass
    assert (channel.endorse_orgs, channel.lookups) == ([()], 0)
