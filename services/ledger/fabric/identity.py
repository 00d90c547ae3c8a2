"""The client identity: an X.509 certificate and its ECDSA P-256 key from an MSP folder.

Fabric checks ECDSA signatures with SHA-256 and refuses the high-S form of a signature
(``s > n/2``), so every signature is normalised to low S before it leaves this module.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)
from fabric_protos.msp import identities_pb2

from services.ledger.fabric.errors import FabricIdentityError

# Order of the NIST P-256 group.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P256_HALF_N = P256_N >> 1


def low_s(s: int, n: int = P256_N) -> int:
    """The canonical (low) form of an ECDSA ``s`` value: ``s`` if ``s <= n/2`` else ``n - s``."""
    return s if s <= (n >> 1) else n - s


def normalise_signature(der: bytes, n: int = P256_N) -> bytes:
    """Re-encode a DER ECDSA signature with its ``s`` in the low half of the group order."""
    r, s = decode_dss_signature(der)
    return encode_dss_signature(r, low_s(s, n))


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def serialize_identity(msp_id: str, cert_pem: bytes) -> bytes:
    """The ``msp.SerializedIdentity`` bytes Fabric uses as a transaction's creator."""
    return identities_pb2.SerializedIdentity(mspid=msp_id, id_bytes=cert_pem).SerializeToString()


@dataclass(frozen=True)
class SigningIdentity:
    """An MSP member able to sign Fabric messages."""

    msp_id: str
    cert_pem: bytes
    private_key: ec.EllipticCurvePrivateKey

    def __post_init__(self) -> None:
        if not isinstance(self.private_key.curve, ec.SECP256R1):
            raise FabricIdentityError(
                f"only ECDSA P-256 keys are supported, not {self.private_key.curve.name}"
            )

    @property
    def creator(self) -> bytes:
        return serialize_identity(self.msp_id, self.cert_pem)

    def sign_digest(self, digest: bytes) -> bytes:
        """DER signature of a SHA-256 digest, low-S normalised."""
        der = self.private_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        return normalise_signature(der)

    def sign(self, message: bytes) -> bytes:
        return self.sign_digest(sha256(message))

    @classmethod
    def from_msp_dir(cls, msp_id: str, msp_dir: str | Path) -> SigningIdentity:
        """Load ``signcerts/*.pem`` and ``keystore/*`` (cryptogen's ``priv_sk``) of an MSP."""
        root = Path(msp_dir)
        certs = sorted((root / "signcerts").glob("*.pem"))
        keys = sorted(p for p in (root / "keystore").glob("*") if p.is_file())
        if not certs:
            raise FabricIdentityError(f"no certificate in {root / 'signcerts'}")
        if not keys:
            raise FabricIdentityError(f"no private key in {root / 'keystore'}")
        cert_pem = certs[0].read_bytes()
        try:
            key = serialization.load_pem_private_key(keys[0].read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise FabricIdentityError(f"unreadable private key {keys[0]}: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise FabricIdentityError(f"{keys[0]} is not an ECDSA key")
        return cls(msp_id=msp_id, cert_pem=cert_pem, private_key=key)
