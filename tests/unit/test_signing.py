from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ledgerlake.client.signing import P256_ORDER, new_private_key, signer_from_key, to_low_s


def test_every_signature_is_low_s_and_verifies():
    key = new_private_key()
    sign = signer_from_key(key)
    for i in range(200):
        msg = f"message {i}".encode()
        sig = sign(msg)
        r, s = decode_dss_signature(sig)
        assert s <= P256_ORDER // 2
        key.public_key().verify(sig, msg, ec.ECDSA(hashes.SHA256()))


def test_high_s_is_flipped_and_low_s_kept():
    key = new_private_key()
    seen_high = False
    for i in range(64):
        raw = key.sign(b"m%d" % i, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(raw)
        fixed = decode_dss_signature(to_low_s(raw))
        if s > P256_ORDER // 2:
            seen_high = True
            assert fixed == (r, P256_ORDER - s)
        else:
            assert fixed == (r, s)
    assert seen_high
