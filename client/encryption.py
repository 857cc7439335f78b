"""Encryption of record batches, kept apart from signing.

A stream's data key (AES-256) encrypts each batch with AES-GCM; the associated data binds
the ciphertext to its stream, source, sequence number and key epoch. Data keys reach reader
organisations wrapped for each org's X25519 public key (ephemeral ECDH → HKDF-SHA256 →
AES-GCM), so only that org's private key unwraps them.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ledgerlake.records import canonical

WRAP_INFO = b"ledgerlake key wrap v1"


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def associated_data(stream: str, source: str, seq: int, key_epoch: int) -> bytes:
    return canonical({"stream": stream, "source": source, "seq": seq, "key_epoch": key_epoch})


def encrypt(data_key: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    nonce = os.urandom(12)
    return nonce, AESGCM(data_key).encrypt(nonce, plaintext, aad)


def decrypt(data_key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    return AESGCM(data_key).decrypt(nonce, ciphertext, aad)


def new_org_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def public_pem(key: X25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _kek(shared: bytes, ephemeral: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=ephemeral, info=WRAP_INFO).derive(shared)


def wrap_key(data_key: bytes, org_public_pem: str | bytes) -> str:
    """The data key wrapped for one organisation's public key, as base64."""
    pem = org_public_pem.encode() if isinstance(org_public_pem, str) else org_public_pem
    public = serialization.load_pem_public_key(pem)
    if not isinstance(public, X25519PublicKey):
        raise ValueError("organisation keys are X25519 public keys")
    ephemeral = X25519PrivateKey.generate()
    eph_raw = ephemeral.public_key().public_bytes(serialization.Encoding.Raw,
                                                  serialization.PublicFormat.Raw)
    nonce = os.urandom(12)
    sealed = AESGCM(_kek(ephemeral.exchange(public), eph_raw)).encrypt(nonce, data_key, WRAP_INFO)
    return base64.b64encode(eph_raw + nonce + sealed).decode()


def unwrap_key(wrapped: str, org_key: X25519PrivateKey) -> bytes:
    raw = base64.b64decode(wrapped)
    eph_raw, nonce, sealed = raw[:32], raw[32:44], raw[44:]
    shared = org_key.exchange(X25519PublicKey.from_public_bytes(eph_raw))
    return AESGCM(_kek(shared, eph_raw)).decrypt(nonce, sealed, WRAP_INFO)
