import pytest

from ledgerlake.errors import ConfigError
from ledgerlake.network.spec import NetworkSpec, OrgSpec


def test_defaults_give_three_raft_orderers_and_two_orgs():
    spec = NetworkSpec()
    assert spec.consensus == "raft" and spec.orderer_count == 3
    assert [o.name for o in spec.orgs] == ["Org1", "Org2"]
    assert spec.policy == "AND('Org1MSP.peer','Org2MSP.peer')"


def test_bft_defaults_to_four_orderers():
    assert NetworkSpec.from_mapping({"consensus": "bft"}).orderer_count == 4


def test_orgs_accept_names_or_mappings_with_more_peers():
    spec = NetworkSpec.from_mapping({"orgs": ["Org1", {"name": "Org2", "peers": 2}, "Org3"]})
    assert spec.orgs == (OrgSpec("Org1"), OrgSpec("Org2", 2), OrgSpec("Org3"))
    assert spec.policy == "AND('Org1MSP.peer','Org2MSP.peer','Org3MSP.peer')"


@pytest.mark.parametrize("data, field", [
    ({"consensus": "pow"}, "consensus"),
    ({"orderers": 2}, "orderers"),
    ({"consensus": "bft", "orderers": 3}, "orderers"),
    ({"orgs": []}, "orgs"),
    ({"orgs": [{"name": "Org1", "peers": 0}]}, "orgs[0].peers"),
    ({"orgs": [{"name": "Org1", "colour": "red"}]}, "orgs[0].colour"),
    ({"orgs": ["Org1", "org1"]}, "orgs"),
    ({"orgs": ["Orderer"]}, "orgs[0].name"),
    ({"base_port": 80}, "base_port"),
    ({"batch_timeout": "soon"}, "batch_timeout"),
    ({"channel": "Bad Name"}, "channel"),
    ({"endorsement_policy": "Org1 and Org2"}, "endorsement_policy"),
    ({"chanel": "typo"}, "chanel"),
])
def test_bad_spec_names_the_bad_field(data, field):
    with pytest.raises(ConfigError, match=rf"spec field '{__import__('re').escape(field)}'"):
        NetworkSpec.from_mapping(data)


def test_spec_round_trips_through_a_mapping():
    spec = NetworkSpec.from_mapping({"consensus": "bft", "orgs": [{"name": "A", "peers": 2}],
                                     "batch_timeout": "2s", "base_port": 30000})
    assert NetworkSpec.from_mapping(spec.to_mapping()) == spec


def test_spec_file_errors_are_one_line(tmp_path):
    bad = tmp_path / "spec.yaml"
    bad.write_text("consensus: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        NetworkSpec.from_file(bad)
    with pytest.raises(ConfigError, match="cannot read spec file"):
        NetworkSpec.from_file(tmp_path / "missing.yaml")
