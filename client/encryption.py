"""Encryption of record batches, kept apart from signing.

A stream's data key (AES-256) encrypts each batch with AES-GCM; the associated data binds
the ciphertext to its stream, source, sequence number and key epoch. Data keys reach reader
organisations wrapped for each org's X25519 public key (ephemeral ECDH → HKDF-SHA256 →
AES-GCM), so only that org's private key unwraps them. A wrapped key is bound to its stream,
key epoch and organisation (HKDF info and AES-GCM associated data), so one copied to another
stream, epoch or organisation does not unwrap.

Every failure to decrypt raises ``DecryptionError`` naming what did not decrypt, never the
crypto library's own exception.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ledgerlake.errors import ConfigError, DecryptionError, RecordError
from ledgerlake.records import canonical, check_identifier

#: Version label of the key wrap; v2 binds stream, epoch and organisation.
WRAP_INFO = b"ledgerlake key wrap v2"
NONCE_BYTES = 12
KEY_BYTES = 32
TAG_BYTES = 16


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def associated_data(stream: str, source: str, seq: int, key_epoch: int) -> bytes:
    return canonical({"stream": stream, "source": source, "seq": seq, "key_epoch": key_epoch})


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64decode(text: object, what: str) -> bytes:
    """Strict base64 (no stray characters); DecryptionError naming ``what`` otherwise."""
    try:
        if not isinstance(text, (str, bytes)):
            raise TypeError
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise DecryptionError(what, "it is not base64") from None


def encrypt(data_key: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    nonce = os.urandom(NONCE_BYTES)
    return nonce, AESGCM(data_key).encrypt(nonce, plaintext, aad)


def decrypt(data_key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes,
            what: str = "ciphertext") -> bytes:
    """AES-GCM decryption; raises DecryptionError naming ``what`` on a wrong key, tampered
    data, another context (``aad``) or a wrong key or nonce length."""
    if len(data_key) != KEY_BYTES:
        raise DecryptionError(what, f"the data key has {len(data_key)} bytes, not {KEY_BYTES}")
    if len(nonce) != NONCE_BYTES:
        raise DecryptionError(what, f"the nonce has {len(nonce)} bytes, not {NONCE_BYTES}")
    try:
        return AESGCM(data_key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise DecryptionError(what, "wrong key, tampered data, or data moved to another "
                                    "context") from None


def new_org_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def public_pem(key: X25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def save_org_key(path: str | Path, key: X25519PrivateKey) -> Path:
    """Write an organisation's X25519 private key as PKCS#8 PEM, mode 0600 from the start
    (never readable by others, not even for a moment); atomic, so a crash leaves the old
    key or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return path


def load_org_key(path: str | Path) -> X25519PrivateKey:
    """An organisation's X25519 private key from a PEM file; ConfigError naming the file when
    it is missing or holds something else."""
    path = Path(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise ConfigError(f"no organisation encryption key at {path}; on a local network "
                          f"'network up' creates it") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} does not hold a PEM private key ({exc})") from None
    if not isinstance(key, X25519PrivateKey):
        raise ConfigError(f"{path} holds a {type(key).__name__}, not an X25519 key")
    return key


def _wrap_context(stream: str, epoch: int, msp_id: str) -> bytes:
    check_identifier(stream, "stream")
    check_identifier(msp_id, "msp_id")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        raise RecordError(f"key epoch must be a positive integer, not {epoch!r:.40}")
    return canonical({"stream": stream, "epoch": epoch, "msp_id": msp_id})


def _kek(shared: bytes, ephemeral: bytes, context: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=ephemeral,
                info=WRAP_INFO + b"\0" + context).derive(shared)


def wrap_key(data_key: bytes, org_public_pem: str | bytes, *, stream: str, epoch: int,
             msp_id: str) -> str:
    """The data key of ``stream``'s key ``epoch`` wrapped for organisation ``msp_id``'s
    X25519 public key, as base64 (ephemeral public key ‖ nonce ‖ AES-GCM ciphertext).
    Raises RecordError when the key is not an X25519 public key in PEM."""
    context = _wrap_context(stream, epoch, msp_id)
    pem = org_public_pem.encode() if isinstance(org_public_pem, str) else org_public_pem
    try:
        public = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        public = None
    if not isinstance(public, X25519PublicKey):
        raise RecordError(f"the key of {msp_id} must be an X25519 public key in PEM")
    ephemeral = X25519PrivateKey.generate()
    eph_raw = ephemeral.public_key().public_bytes(serialization.Encoding.Raw,
                                                  serialization.PublicFormat.Raw)
    nonce = os.urandom(NONCE_BYTES)
    kek = _kek(ephemeral.exchange(public), eph_raw, context)
    return b64encode(eph_raw + nonce + AESGCM(kek).encrypt(nonce, data_key, context))


def unwrap_key(wrapped: str, org_key: X25519PrivateKey, *, stream: str, epoch: int,
               msp_id: str) -> bytes:
    """The data key from a key wrapped for ``msp_id`` and ``stream``'s ``epoch``. Raises
    DecryptionError when it was wrapped for another key, stream, epoch or organisation,
    or is not a wrapped key at all."""
    context = _wrap_context(stream, epoch, msp_id)
    what = f"the wrapped key of {stream!r} epoch {epoch} for {msp_id}"
    raw = b64decode(wrapped, what)
    if len(raw) != 32 + NONCE_BYTES + KEY_BYTES + TAG_BYTES:
        raise DecryptionError(what, f"it has {len(raw)} bytes, not "
                                    f"{32 + NONCE_BYTES + KEY_BYTES + TAG_BYTES}")
    eph_raw, nonce, sealed = raw[:32], raw[32:32 + NONCE_BYTES], raw[32 + NONCE_BYTES:]
    try:
        shared = org_key.exchange(X25519PublicKey.from_public_bytes(eph_raw))
    except ValueError:  # an all-zero (low-order) point gives no shared secret
        raise DecryptionError(what, "its ephemeral key is not a usable X25519 key") from None
    return decrypt(_kek(shared, eph_raw, context), nonce, sealed, context, what=what)
