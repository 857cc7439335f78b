"""The client's wallet format: what is written reads back, signs for its certificate, and
is never readable by others."""

from __future__ import annotations

import datetime as dt
import json
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ledgerlake.client import Identity, load_wallet, signer_from_wallet, wallet_entries, write_wallet
from ledgerlake.client.signing import private_key_pem
from ledgerlake.errors import ConfigError


def _pair(cn="producer"):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), key


def test_an_entry_round_trips_and_its_signer_signs_for_its_certificate(tmp_path):
    cert, key = _pair()
    entry = write_wallet(tmp_path / "wallet" / "Org1" / "producer", "Org1MSP", cert, key)
    identity, signer = load_wallet(entry)
    assert identity == Identity("Org1MSP", cert)
    signature = signer(b"a proposal")
    identity.certificate.public_key().verify(signature, b"a proposal", ec.ECDSA(hashes.SHA256()))
    assert Identity.from_wallet(entry) == identity
    document = json.loads((entry / "id.json").read_text())
    assert document == {"version": 1, "mspId": "Org1MSP", "type": "X.509",
                        "credentials": {"certificate": cert.decode(),
                                        "privateKey": private_key_pem(key).decode()}}


def test_the_entry_is_private_to_its_owner(tmp_path):
    cert, key = _pair()
    entry = write_wallet(tmp_path / "w" / "alice", "Org1MSP", cert, private_key_pem(key))
    assert stat.S_IMODE((entry / "id.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(entry.stat().st_mode) == 0o700
    assert [p.name for p in entry.iterdir()] == ["id.json"]  # no temporary file left


def test_rewriting_an_entry_replaces_it(tmp_path):
    first, second = _pair("a"), _pair("b")
    entry = write_wallet(tmp_path / "alice", "Org1MSP", *first)
    write_wallet(entry, "Org2MSP", *second)
    assert Identity.from_wallet(entry) == Identity("Org2MSP", second[0])
    assert stat.S_IMODE((entry / "id.json").stat().st_mode) == 0o600


def test_a_fabric_sdk_wallet_file_is_read_as_well(tmp_path):
    cert, key = _pair()
    (tmp_path / "appUser.id").write_text(json.dumps({
        "credentials": {"certificate": cert.decode(), "privateKey": private_key_pem(key).decode()},
        "mspId": "Org1MSP", "type": "X.509", "version": 1}))
    identity, signer = load_wallet(tmp_path / "appUser.id")
    assert identity.msp_id == "Org1MSP"
    identity.certificate.public_key().verify(signer(b"m"), b"m", ec.ECDSA(hashes.SHA256()))


def test_wallet_entries_lists_every_entry_below_a_root(tmp_path):
    cert, key = _pair()
    for org, user in (("Org1", "admin"), ("Org1", "producer"), ("Org2", "analyst")):
        write_wallet(tmp_path / org / user, f"{org}MSP", cert, key)
    (tmp_path / "Org2" / "stray").mkdir()
    assert [(e.parent.name, e.name) for e in wallet_entries(tmp_path)] == [
        ("Org1", "admin"), ("Org1", "producer"), ("Org2", "analyst")]


def test_a_certificate_that_cannot_be_read_back_is_not_stored(tmp_path):
    _, key = _pair()
    with pytest.raises(ValueError):
        write_wallet(tmp_path / "x", "Org1MSP", b"not a certificate", key)
    assert not (tmp_path / "x" / "id.json").exists()


def _entry(tmp_path, document):
    (tmp_path / "e").mkdir(exist_ok=True)
    (tmp_path / "e" / "id.json").write_text(document if isinstance(document, str)
                                            else json.dumps(document))
    return tmp_path / "e"


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("mspId"), "lacks mspId"),
    (lambda d: d["credentials"].pop("certificate"), "lacks credentials.certificate"),
    (lambda d: d["credentials"].update(privateKey=""), "lacks credentials.privateKey"),
    (lambda d: d.pop("credentials"), "lacks credentials.certificate"),
    (lambda d: d.update(version=2), "has version 2; this client reads version 1"),
    (lambda d: d.update(type="HSM-X.509"), "has type 'HSM-X.509'"),
    (lambda d: d["credentials"].update(certificate="garbage"),
     "credentials.certificate is not a PEM X.509 certificate"),
])
def test_a_broken_entry_is_refused_in_one_line(tmp_path, change, message):
    cert, key = _pair()
    document = {"version": 1, "mspId": "Org1MSP", "type": "X.509",
                "credentials": {"certificate": cert.decode(),
                                "privateKey": private_key_pem(key).decode()}}
    change(document)
    with pytest.raises(ConfigError) as err:
        load_wallet(_entry(tmp_path, document))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_unparsable_and_wrong_key_entries(tmp_path):
    with pytest.raises(ConfigError, match="no wallet entry at"):
        Identity.from_wallet(tmp_path / "nobody")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        Identity.from_wallet(_entry(tmp_path, "{"))
    cert, _ = _pair()
    rsa_like = {"version": 1, "mspId": "Org1MSP", "type": "X.509",
                "credentials": {"certificate": cert.decode(), "privateKey": "-----BEGIN nothing"}}
    with pytest.raises(ConfigError, match="credentials.privateKey is not an ECDSA P-256 PEM key"):
        signer_from_wallet(_entry(tmp_path, rsa_like))
