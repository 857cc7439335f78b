"""ECDSA P-256 signing the way Fabric verifies it: SHA-256, DER, low-S.

A signer is a plain callable ``signer(message: bytes) -> bytes`` so a caller can sign with
a key held elsewhere (an HSM, another process) by passing any function of that shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

Signer = Callable[[bytes], bytes]

#: Order of the P-256 group; a signature's s must be at most half of it (Fabric's BCCSP).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def to_low_s(der_signature: bytes) -> bytes:
    """Return the same signature with s replaced by n - s when s is in the upper half."""
    r, s = decode_dss_signature(der_signature)
    if s > P256_ORDER // 2:
        s = P256_ORDER - s
    return encode_dss_signature(r, s)


def signer_from_key(key: ec.EllipticCurvePrivateKey) -> Signer:
    """A signer over messages (hashed with SHA-256 here) that always yields low-S DER."""
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("Fabric signing needs an ECDSA P-256 private key")

    def sign(message: bytes) -> bytes:
        return to_low_s(key.sign(message, ec.ECDSA(hashes.SHA256())))

    return sign


def load_private_key(pem: bytes | str | Path) -> ec.EllipticCurvePrivateKey:
    """Load a PEM private key from bytes or a file path."""
    data = Path(pem).read_bytes() if isinstance(pem, (str, Path)) else pem
    return serialization.load_pem_private_key(data, password=None)


def new_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
