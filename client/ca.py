"""A Fabric CA client over its REST API: enroll, register, reenroll, revoke.

No CA binary is needed at run time. Requests that need authority carry Fabric CA's token:
``b64(cert) + "." + b64(sig)`` where ``sig`` is a low-S ECDSA signature over
``METHOD.b64(uri).b64(body).b64(cert)``.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ledgerlake.client.signing import new_private_key, signer_from_key
from ledgerlake.errors import CAError
from ledgerlake.protocol import certificate_attributes  # noqa: F401  (re-exported)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class Enrollment:
    """A certificate, its private key and the CA chain that issued it."""

    cert_pem: bytes
    key: ec.EllipticCurvePrivateKey
    chain_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


class CAClient:
    """One Fabric CA server, reached over HTTPS.

    Parameters
    ----------
    url:
        ``https://host:port`` of the CA.
    tls_root:
        PEM bytes or path of the certificate that signed the CA's TLS certificate.
    caname:
        The CA name when the server hosts several; empty for the default CA.
    """

    def __init__(self, url: str, tls_root: bytes | str | Path, *, caname: str = "",
                 timeout: float = 15.0):
        self.url = url.rstrip("/")
        pem = Path(tls_root).read_bytes() if isinstance(tls_root, (str, Path)) else tls_root
        self._ssl = ssl.create_default_context(cadata=pem.decode())
        self.caname = caname
        self.timeout = timeout

    # -- transport -------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: Mapping | None = None,
                 auth: Enrollment | None = None, basic: tuple[str, str] | None = None) -> dict:
        uri = f"/api/v1/{path}"
        data = json.dumps(body).encode() if body is not None else b""
        headers = {"Content-Type": "application/json"}
        if basic:
            headers["Authorization"] = "Basic " + _b64(f"{basic[0]}:{basic[1]}".encode())
        if auth:
            cert_b64 = _b64(auth.cert_pem)
            payload = f"{method}.{_b64(uri.encode())}.{_b64(data)}.{cert_b64}".encode()
            headers["Authorization"] = cert_b64 + "." + _b64(signer_from_key(auth.key)(payload))
        req = urllib.request.Request(self.url + uri, data=data if body is not None else None,
                                     headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, context=self._ssl, timeout=self.timeout) as resp:
                reply = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                reply = json.loads(exc.read())
            except ValueError:
                raise CAError(f"CA {self.url} answered HTTP {exc.code} to {path}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CAError(f"cannot reach the CA at {self.url}: {reason}") from None
        if not reply.get("success"):
            errors = reply.get("errors") or [{"message": "unknown error", "code": None}]
            first = errors[0]
            raise CAError(f"CA {self.url} refused {path}: {first.get('message')}",
                          first.get("code"))
        return reply["result"]

    # -- API -------------------------------------------------------------------------------
    def cainfo(self) -> dict:
        """The CA's name, version and chain (no authentication needed)."""
        return self._request("GET", "cainfo" + (f"?ca={self.caname}" if self.caname else ""))

    def enroll(self, enrollment_id: str, secret: str, *, hosts: Iterable[str] = (),
               profile: str = "", attrs: Iterable[str] | None = None,
               key: ec.EllipticCurvePrivateKey | None = None) -> Enrollment:
        """Enroll an identity; ``profile="tls"`` asks for a TLS certificate for ``hosts``.

        ``attrs`` lists the attribute names to put in the certificate; ``None`` means the
        attributes registered with ``ecert: true``. Raises CAError.
        """
        key = key or new_private_key()
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, enrollment_id)]))
               .sign(key, hashes.SHA256()))
        body: dict = {
            "certificate_request": csr.public_bytes(serialization.Encoding.PEM).decode(),
            "hosts": list(hosts), "profile": profile, "caname": self.caname,
        }
        if attrs is not None:
            body["attr_reqs"] = [{"name": a, "optional": False} for a in attrs]
        result = self._request("POST", "enroll", body, basic=(enrollment_id, secret))
        return Enrollment(base64.b64decode(result["Cert"]), key,
                          base64.b64decode(result["ServerInfo"]["CAChain"]))

    def reenroll(self, current: Enrollment, *, hosts: Iterable[str] = (),
                 profile: str = "") -> Enrollment:
        """A fresh certificate (and key) for an enrolled identity. Raises CAError."""
        key = new_private_key()
        cn = current.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
               .sign(key, hashes.SHA256()))
        body = {"certificate_request": csr.public_bytes(serialization.Encoding.PEM).decode(),
                "hosts": list(hosts), "profile": profile, "caname": self.caname}
        result = self._request("POST", "reenroll", body, auth=current)
        return Enrollment(base64.b64decode(result["Cert"]), key,
                          base64.b64decode(result["ServerInfo"]["CAChain"]))

    def register(self, registrar: Enrollment, enrollment_id: str, *, type: str = "client",
                 secret: str = "", attrs: Mapping[str, str] | None = None,
                 affiliation: str = "", max_enrollments: int = -1) -> str:
        """Register an identity and return its enrollment secret. Raises CAError."""
        body = {
            "id": enrollment_id, "type": type, "secret": secret, "affiliation": affiliation,
            "max_enrollments": max_enrollments, "caname": self.caname,
            "attrs": [{"name": k, "value": v, "ecert": True} for k, v in (attrs or {}).items()],
        }
        return self._request("POST", "register", body, auth=registrar)["secret"]

    def revoke(self, registrar: Enrollment, enrollment_id: str, *, reason: str = "") -> dict:
        """Revoke every certificate of an identity. Raises CAError."""
        body = {"id": enrollment_id, "reason": reason, "caname": self.caname}
        return self._request("POST", "revoke", body, auth=registrar)
