from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from fabric_protos.msp import identities_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ledger.fabric.errors import FabricIdentityError
from services.ledger.fabric.identity import (
    P256_HALF_N,
    P256_N,
    SigningIdentity,
    low_s,
    normalise_signature,
    serialize_identity,
)
from tests.unit.ledger_fabric.support import write_msp


def test_p256_order_matches_cryptography_curve() -> None:
    # n of P-256 (SEC 2, secp256r1); half order is floor(n/2)
    assert P256_N % 2 == 1
    assert P256_HALF_N == (P256_N - 1) // 2


@pytest.mark.parametrize(
    ("s", "expected"),
    [
        (1, 1),
        (P256_HALF_N, P256_HALF_N),  # the boundary stays
        (P256_HALF_N + 1, P256_N - P256_HALF_N - 1),
        (P256_N - 1, 1),
        (12345, 12345),
        (P256_N - 12345, 12345),
    ],
)
def test_low_s_table(s: int, expected: int) -> None:
    assert low_s(s) == expected


@settings(max_examples=300)
@given(st.integers(min_value=1, max_value=P256_N - 1))
def test_low_s_is_canonical_and_involutive(s: int) -> None:
    out = low_s(s)
    assert 1 <= out <= P256_HALF_N
    assert out in (s, P256_N - s)
    assert low_s(out) == out


def test_normalise_keeps_signature_valid_and_low() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    msg = b"hyperlora"
    seen_high = False
    for _ in range(40):
        der = key.sign(msg, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        # force the high form half of the time to exercise the flip
        high = encode_dss_signature(r, s if s > P256_HALF_N else P256_N - s)
        seen_high = True
        key.public_key().verify(high, msg, ec.ECDSA(hashes.SHA256()))  # both forms verify
        norm = normalise_signature(high)
        r2, s2 = decode_dss_signature(norm)
        assert r2 == r and s2 <= P256_HALF_N
        key.public_key().verify(norm, msg, ec.ECDSA(hashes.SHA256()))
    assert seen_high


def test_identity_from_cryptogen_msp_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    msp = write_msp(tmp_path / "msp")
    ident = SigningIdentity.from_msp_dir("OperatorMSP", msp)
    sid = identities_pb2.SerializedIdentity()
    sid.ParseFromString(ident.creator)
    assert sid.mspid == "OperatorMSP"
    assert sid.id_bytes == (next((msp / "signcerts").glob("*.pem"))).read_bytes()
    assert ident.creator == serialize_identity("OperatorMSP", ident.cert_pem)
    for _ in range(20):
        sig = ident.sign(b"payload")
        _, s = decode_dss_signature(sig)
        assert s <= P256_HALF_N
        ident.private_key.public_key().verify(sig, b"payload", ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("missing", ["signcerts", "keystore"])
def test_identity_missing_parts(tmp_path, missing: str) -> None:  # type: ignore[no-untyped-def]
    msp = write_msp(tmp_path / "msp")
    for f in (msp / missing).iterdir():
        f.unlink()
    with pytest.raises(FabricIdentityError):
        SigningIdentity.from_msp_dir("OperatorMSP", msp)


def test_identity_rejects_other_curves(tmp_path) -> None:  # type: ignore[no-untyped-def]
    msp = write_msp(tmp_path / "msp")
    ident = SigningIdentity.from_msp_dir("X", msp)
    with pytest.raises(FabricIdentityError):
        SigningIdentity("X", ident.cert_pem, ec.generate_private_key(ec.SECP384R1()))
