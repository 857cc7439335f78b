"""Reading Fabric common connection profiles: what a valid one gives, and the one-line
error naming the field when one is not valid."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ledgerlake.client import (
    ConnectionProfile,
    from_profile,
    from_state_dir,
    load_local_profile,
    load_profile,
)
from ledgerlake.errors import ConfigError


def _root(cn: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


ROOT1, ROOT2 = _root("ca.org1"), _root("ca.org2")
PROFILE = {
    "name": "net-Org1", "version": "1.0.0",
    "client": {"organization": "Org1"},
    "organizations": {
        "Org1": {"mspid": "Org1MSP", "peers": ["peer0.org1", "peer1.org1"],
                 "certificateAuthorities": ["ca.org1"]},
        "Org2": {"mspid": "Org2MSP", "peers": ["peer0.org2"],
                 "certificateAuthorities": ["ca.org2"]},
    },
    "peers": {
        "peer0.org1": {"url": "grpcs://127.0.0.1:7200", "tlsCACerts": {"pem": ROOT1}},
        "peer1.org1": {"url": "grpcs://127.0.0.1:7210", "tlsCACerts": {"pem": ROOT1},
                       "grpcOptions": {"ssl-target-name-override": "peer1.org1.example.com"}},
        "peer0.org2": {"url": "grpcs://127.0.0.1:7220", "tlsCACerts": {"path": "org2-tls.pem"}},
    },
    "certificateAuthorities": {
        "ca.org1": {"url": "https://127.0.0.1:7010", "caName": "ca-org1",
                    "tlsCACerts": {"pem": [ROOT1]}},
        "ca.org2": {"url": "https://127.0.0.1:7020", "tlsCACerts": {"pem": [ROOT2]}},
    },
}


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "org2-tls.pem").write_text(ROOT2)
    return tmp_path


def _write(folder, document, name="profile.json"):
    path = folder / name
    path.write_text(json.dumps(document) if name.endswith(".json") else yaml.safe_dump(document))
    return path


@pytest.mark.parametrize("name", ["profile.json", "profile.yaml"])
def test_a_valid_profile_gives_every_peer_and_ca(folder, name):
    profile = load_profile(_write(folder, PROFILE, name))
    assert (profile.name, profile.client_organization) == ("net-Org1", "Org1")
    assert set(profile.organizations) == {"Org1", "Org2"}
    first = profile.endpoint()
    assert (first.address, first.msp_id, first.name) == ("127.0.0.1:7200", "Org1MSP", "peer0.org1")
    assert first.tls_root.decode().strip() == ROOT1.strip()
    assert first.server_name == ""
    second = profile.endpoint(1)
    assert (second.address, second.server_name) == ("127.0.0.1:7210", "peer1.org1.example.com")
    assert profile.endpoint("peer1.org1") == second
    assert [e.address for e in profile.peers("Org1")] == ["127.0.0.1:7200", "127.0.0.1:7210"]
    assert [e.name for e in profile.all_peers] == ["peer0.org1", "peer1.org1", "peer0.org2"]
    other = profile.endpoint(org="org2msp")  # by MSP ID, any case
    assert (other.address, other.msp_id) == ("127.0.0.1:7220", "Org2MSP")
    assert other.tls_root.decode() == ROOT2  # read from tlsCACerts.path, next to the profile
    ca = profile.ca()
    assert (ca.url, ca.ca_name, ca.tls_root.decode().strip()) == (
        "https://127.0.0.1:7010", "ca-org1", ROOT1.strip())
    assert profile.ca("Org2").ca_name == ""


def test_from_profile_is_one_peer_of_one_org(folder):
    path = _write(folder, PROFILE)
    assert from_profile(path).address == "127.0.0.1:7200"
    assert from_profile(path, "Org2").address == "127.0.0.1:7220"
    assert from_profile(path, "Org1", peer=1).address == "127.0.0.1:7210"


def test_a_pem_list_holds_several_roots(folder):
    document = copy.deepcopy(PROFILE)
    document["peers"]["peer0.org1"]["tlsCACerts"] = {"pem": [ROOT1, ROOT2]}
    root = load_profile(_write(folder, document)).endpoint().tls_root.decode()
    assert ROOT1.strip() in root and ROOT2.strip() in root


def _broken(mutate):
    document = copy.deepcopy(PROFILE)
    mutate(document)
    return document


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.pop("organizations"), "organizations is missing"),
    (lambda d: d["organizations"]["Org2"].pop("mspid"), "organizations.Org2.mspid is missing"),
    (lambda d: d["organizations"]["Org1"].update(peers="peer0.org1"),
     "organizations.Org1.peers must be a list"),
    (lambda d: d["peers"].pop("peer0.org2"), "organizations.Org2.peers names 'peer0.org2'"),
    (lambda d: d["peers"]["peer0.org1"].pop("url"), "peers.peer0.org1.url is missing"),
    (lambda d: d["peers"]["peer0.org1"].update(url="grpc://127.0.0.1:7200"),
     "peers.peer0.org1.url 'grpc://127.0.0.1:7200' must start with grpcs://"),
    (lambda d: d["peers"]["peer0.org1"].update(url="grpcs://127.0.0.1"),
     "peers.peer0.org1.url 'grpcs://127.0.0.1' lacks host:port"),
    (lambda d: d["peers"]["peer0.org1"].pop("tlsCACerts"),
     "peers.peer0.org1.tlsCACerts is missing"),
    (lambda d: d["peers"]["peer0.org1"].update(tlsCACerts={"pem": "not a certificate"}),
     "peers.peer0.org1.tlsCACerts.pem must be a PEM certificate"),
    (lambda d: d["peers"]["peer0.org1"].update(tlsCACerts={"file": "x"}),
     "peers.peer0.org1.tlsCACerts needs pem or path"),
    (lambda d: d["peers"]["peer0.org2"].update(tlsCACerts={"path": "missing.pem"}),
     "peers.peer0.org2.tlsCACerts.path: cannot read"),
    (lambda d: d["certificateAuthorities"]["ca.org1"].update(url="http://127.0.0.1:7010"),
     "certificateAuthorities.ca.org1.url 'http://127.0.0.1:7010' must start with https://"),
    (lambda d: d["certificateAuthorities"].pop("ca.org2"),
     "organizations.Org2.certificateAuthorities names 'ca.org2'"),
    (lambda d: d["client"].update(organization="Org9"), "has no organisation 'Org9'"),
    (lambda d: d.update(peers=["peer0.org1"]), "peers must be a mapping, not list"),
])
def test_a_broken_profile_is_refused_in_one_line_naming_the_field(folder, mutate, field):
    path = _write(folder, _broken(mutate))
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    message = str(err.value)
    assert field in message and str(path) in message
    assert "\n" not in message


def test_unreadable_and_malformed_files_are_config_errors(folder):
    with pytest.raises(ConfigError, match="cannot read connection profile"):
        load_profile(folder / "nowhere.json")
    (folder / "bad.json").write_text("{\"name\": ")
    with pytest.raises(ConfigError, match="is not valid JSON") as err:
        load_profile(folder / "bad.json")
    assert "\n" not in str(err.value)
    (folder / "bad.yaml").write_text("name: [unclosed\n  peers: {")
    with pytest.raises(ConfigError, match="is not valid YAML") as err:
        load_profile(folder / "bad.yaml")
    assert "\n" not in str(err.value)
    (folder / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="the profile must be a mapping"):
        load_profile(folder / "list.yaml")


def test_choosing_a_peer_or_org_that_is_not_there(folder):
    profile = load_profile(_write(folder, PROFILE))
    with pytest.raises(ConfigError, match="Org1 has 2 peer\\(s\\); no peer 2"):
        profile.endpoint(2)
    with pytest.raises(ConfigError, match="has no peer 'peer9'"):
        profile.endpoint("peer9")
    with pytest.raises(ConfigError, match="has no organisation 'Org3'"):
        profile.peers("Org3")
    no_client = ConnectionProfile(_broken(lambda d: d.pop("client")), "inline", folder)
    with pytest.raises(ConfigError, match="has no client.organization"):
        no_client.endpoint()
    assert no_client.endpoint(org="Org2").msp_id == "Org2MSP"


def test_from_state_dir_reads_only_the_profiles_folder(tmp_path):
    with pytest.raises(ConfigError) as err:
        from_state_dir(tmp_path, "Org1")
    assert str(err.value) == (f"no connection profile for Org1 in {tmp_path / 'profiles'}; "
                              f"run 'ledgerlake network up' or pass a profile")
    (tmp_path / "profiles").mkdir()
    org2 = _broken(lambda d: d["client"].update(organization="Org2"))
    org2["peers"]["peer0.org2"]["tlsCACerts"] = {"pem": ROOT2}
    (tmp_path / "profiles" / "Org2.json").write_text(json.dumps(org2))
    assert from_state_dir(tmp_path, "Org2").address == "127.0.0.1:7220"
    assert from_state_dir(tmp_path, "org2msp").address == "127.0.0.1:7220"  # by MSP ID
    assert load_local_profile(tmp_path, "Org2").client_organization == "Org2"
    with pytest.raises(ConfigError, match="no connection profile for Org1"):
        from_state_dir(tmp_path, "Org1")
