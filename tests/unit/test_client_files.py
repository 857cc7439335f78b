"""What a local network writes for clients (connection profiles, wallet entries) is what
the client reads, port for port and key for key; old state directories are migrated."""

from __future__ import annotations

import datetime as dt
import json
import stat

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ledgerlake.client import Identity, load_local_profile, load_wallet
from ledgerlake.client.signing import private_key_pem
from ledgerlake.network import pki, profiles
from ledgerlake.network.layout import ORDERER_ORG, Layout
from ledgerlake.network.spec import NetworkSpec


def _pair(cn: str):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(3).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), key


def _layout(tmp_path) -> Layout:
    spec = NetworkSpec.from_mapping({"base_port": 9000, "orgs": [
        {"name": "Org1", "peers": 2}, {"name": "Org2", "peers": 1}]})
    layout = Layout(spec, tmp_path)
    for org in (ORDERER_ORG, *layout.orgs):
        path = layout.ca_cert(org)
        path.parent.mkdir(parents=True)
        path.write_bytes(_pair(f"ca.{org.domain}")[0])
    return layout


def test_the_written_profiles_read_back_as_the_layout(tmp_path):
    layout = _layout(tmp_path)
    written = profiles.write_profiles(layout, {"ca.org1": "ca-org1"})
    assert written == [layout.profile_file(o) for o in layout.orgs]
    for org in layout.orgs:
        profile = load_local_profile(tmp_path, org.name)
        assert profile.organization().msp_id == org.msp_id
        for other in layout.orgs:
            root = layout.ca_cert(other).read_bytes()
            peers = profile.peers(other.name)
            assert [(e.name, e.address, e.msp_id) for e in peers] == [
                (p.name, p.address, other.msp_id) for p in layout.peers_of(other)]
            assert all(e.tls_root.strip() == root.strip() for e in peers)
            ca = profile.ca(other.name)
            assert ca.url == f"https://127.0.0.1:{layout.ca_of(other).ports['api']}"
            assert ca.tls_root.strip() == root.strip()
        assert profile.ca("Org1").ca_name == "ca-org1" and profile.ca("Org2").ca_name == ""
    assert [p.name for p in layout.profiles_dir.iterdir()] == ["Org1.json", "Org2.json"]


def _user(layout, org, name):
    cert, key = _pair(name)
    msp = layout.user_dir(org, name) / "msp"
    (msp / "signcerts").mkdir(parents=True)
    (msp / "keystore").mkdir()
    (msp / "signcerts" / "cert.pem").write_bytes(cert)
    (msp / "keystore" / "priv_sk").write_bytes(private_key_pem(key))
    return cert


def test_wallets_are_written_from_the_users_msp_folders(tmp_path):
    layout = _layout(tmp_path)
    org1 = layout.org("Org1")
    certs = {("Orderer", "admin"): _user(layout, ORDERER_ORG, "admin"),
             ("Org1", "producer"): _user(layout, org1, "producer")}
    written = pki.write_wallets(layout)
    assert sorted((e.parent.name, e.name) for e in written) == sorted(certs)
    for (org, user), cert in certs.items():
        entry = layout.wallet_dir(layout.org(org), user)
        identity, signer = load_wallet(entry)
        assert identity == Identity(layout.org(org).msp_id, cert)
        identity.certificate.public_key().verify(signer(b"m"), b"m", ec.ECDSA(hashes.SHA256()))
        assert stat.S_IMODE((entry / "id.json").stat().st_mode) == 0o600
    assert [e["name"] for e in pki.wallet_identities(layout)] == ["admin", "producer"]


def test_an_old_wallet_entry_is_migrated(tmp_path):
    layout = _layout(tmp_path)
    org1 = layout.org("Org1")
    old = layout.wallet_dir(org1, "analyst")
    cert = _user(layout, org1, "analyst")
    # the old layout kept the network's MSP and TLS pair inside the wallet entry
    (layout.user_dir(org1, "analyst") / "msp").rename(tmp_path / "msp-old")
    old.mkdir(parents=True)
    (tmp_path / "msp-old").rename(old / "msp")
    (old / "tls").mkdir()
    (old / "tls" / "client.crt").write_text("tls")
    for name in ("cert.pem", "key.pem", "ca.pem"):
        (old / name).write_text("x")
    (old / "identity.json").write_text(json.dumps({"name": "analyst", "mspid": "Org1MSP"}))
    pki.migrate_legacy_wallet(layout)
    pki.write_wallets(layout)
    assert sorted(p.name for p in old.iterdir()) == ["id.json"]
    assert (layout.user_dir(org1, "analyst") / "tls" / "client.crt").read_text() == "tls"
    assert Identity.from_wallet(old) == Identity("Org1MSP", cert)
